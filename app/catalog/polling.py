"""What a not-yet-ready fragment shows: keep polling (with backoff), or stop and offer
a retry. Shared by the cover-art and metadata fragments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from app.cache import Lookup
from app.config import setting

POLL_GROWTH = 1.3
POLL_MAX_DELAY = 3.0
# Most covers arrive within a second or two: poll at the base rate that long, then back off.
POLL_STEADY = 8
POLL_GIVE_UP_AFTER = 30.0  # seconds of polling before showing "unavailable" + retry


def poll_delay(attempt: int, retry_after: float | None, base: float) -> float | None:
    """Seconds before poll number `attempt + 1` (the first after `base`), or None to stop."""
    delays = [
        min(base * POLL_GROWTH ** max(0, n - POLL_STEADY + 1), POLL_MAX_DELAY)
        for n in range(attempt + 1)
    ]
    if sum(delays) > POLL_GIVE_UP_AFTER:
        return None
    return max(delays[-1], min(retry_after or 0, POLL_MAX_DELAY * 3))


@dataclass(frozen=True, slots=True)
class Messages:
    no_spotify: str
    not_found: str
    failing: str
    slow: str


@dataclass(frozen=True, slots=True)
class NotReady:
    state: Literal["pending", "unavailable", "no-spotify"]
    message: str = ""
    poll_url: str | None = None
    poll_trigger: str = ""
    retry_url: str | None = None


def not_ready(
    result: Lookup, attempt: int, url: Callable[[int, int], str], messages: Messages
) -> NotReady:
    """The state of a fragment whose lookup is not `ready`; `url(album_id, attempt)`."""
    retry = url(result.album_id, 0)
    if result.status == "no_spotify":
        return NotReady("no-spotify", messages.no_spotify)
    if result.status == "unavailable":
        if result.reason == "not_found":
            return NotReady("unavailable", messages.not_found)
        return NotReady("unavailable", messages.failing, retry_url=retry)
    delay = poll_delay(attempt, result.retry_after, float(setting("COVER_POLL_SECONDS")))
    if delay is None:
        return NotReady("unavailable", messages.slow, retry_url=retry)
    return NotReady(
        "pending",
        poll_url=url(result.album_id, attempt + 1),
        poll_trigger=f"load delay:{round(delay * 1000)}ms",
    )
