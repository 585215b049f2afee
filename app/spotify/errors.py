"""How a Spotify call can fail, classified by what the caller should do next."""

from __future__ import annotations

import re

MAX_MESSAGE = 300
# Anything credential-like an error body may echo back: auth headers, tokens, secrets.
_SECRETS = re.compile(
    r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"
    r"|(access_token|refresh_token|client_secret|client_id|authorization|token)"
    r"([\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic)\s+)?[^\s\"',&}]+"
)


def _redact(match: re.Match[str]) -> str:
    scheme, name, separator = match.group(1), match.group(2), match.group(3)
    return f"{scheme} [redacted]" if scheme else f"{name}{separator}[redacted]"


def scrub(text: str) -> str:
    """An error text safe to store, log or print: secrets masked, length bounded."""
    masked = _SECRETS.sub(_redact, text)
    return masked if len(masked) <= MAX_MESSAGE else masked[: MAX_MESSAGE - 1] + "…"


class SpotifyError(Exception):
    """Base class: every failure of a Spotify call. Its message is always scrubbed."""

    # The quota bucket of the call that failed (album lookups, track pages, search).
    bucket: str = "albums"

    def __init__(self, message: str = "") -> None:
        super().__init__(scrub(message))


class AlbumNotFoundError(SpotifyError):
    """Permanent: Spotify has no album with this id (404, or 400 for a malformed id)."""


class RateLimitedError(SpotifyError):
    """429: nobody may call Spotify for `retry_after` seconds."""

    def __init__(self, retry_after: float, *, quota_exhausted: bool = False) -> None:
        kind = "daily quota exhausted" if quota_exhausted else "rate limited"
        super().__init__(f"Spotify {kind}; retry after {retry_after:.0f} s")
        self.retry_after = retry_after
        self.quota_exhausted = quota_exhausted


class TransientError(SpotifyError):
    """Worth retrying soon: 5xx, timeouts, connection errors, malformed answers."""


class BatchUnavailableError(SpotifyError):
    """The several-albums endpoint is refused (403): a development-mode app."""


class AuthError(SpotifyError):
    """The client id/secret were refused; retrying will not help until config changes."""
