"""How a Spotify call can fail, classified by what the caller should do next."""

from __future__ import annotations


class SpotifyError(Exception):
    """Base class: every failure of a Spotify call."""


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
