"""HTTP answers as the cover sources read them.

A network error, a throttling status or an answer that is not a JSON object becomes
`SourceUnavailableError` with how long to wait; each source keeps its own statuses,
waits and messages.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from typing import Any, cast

import requests

from app.sources.base import SourceUnavailableError


def get(
    session: requests.Session,
    url: str,
    params: Mapping[str, str | int] | None,
    label: str,
    wait: float,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    allow_redirects: bool = True,
) -> requests.Response:
    """`session.get`; a timeout or connection error is unavailable for `wait` seconds.

    `label` names the source in the error's message.
    """
    try:
        return session.get(
            url, params=params, headers=headers, timeout=timeout, allow_redirects=allow_redirects
        )
    except requests.RequestException as exc:  # timeouts and connection errors
        raise SourceUnavailableError(f"{label}: {exc}", wait) from exc


def raise_if_throttled(
    response: requests.Response, message: str, default_wait: float, statuses: Container[int]
) -> None:
    """A throttled SourceUnavailableError when the status is one of `statuses`.

    The wait is the answer's Retry-After, or `default_wait` without a usable one.
    """
    if response.status_code in statuses:
        wait = retry_after(response, default_wait)
        raise SourceUnavailableError(message, wait, throttled=True)


def json_object(response: requests.Response, label: str, wait: float) -> dict[str, Any]:
    """The body of a 200 answer; any other status, invalid JSON or a JSON value other
    than an object is unavailable for `wait` seconds."""
    if response.status_code != 200:
        raise SourceUnavailableError(f"{label}: HTTP {response.status_code}", wait)
    try:
        raw: Any = response.json()
    except ValueError as exc:
        raise SourceUnavailableError(f"{label}: invalid JSON", wait) from exc
    if not isinstance(raw, dict):
        raise SourceUnavailableError(f"{label}: unexpected answer", wait)
    return cast(dict[str, Any], raw)


def retry_after(response: requests.Response, default: float) -> float:
    """The answer's Retry-After in seconds, or `default`."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:  # absent, or an HTTP date: the default is close enough
        return default
    return seconds if math.isfinite(seconds) and seconds >= 0 else default
