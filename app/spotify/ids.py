"""Parse the many ways people paste a Spotify album into a sheet."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_ID_RE = re.compile(r"[0-9A-Za-z]{22}")
_ALBUM_HOSTS = frozenset({"open.spotify.com", "play.spotify.com"})
# open.spotify.com/intl-de/album/ID — the localised form Spotify's share menu produces.
_INTL_RE = re.compile(r"intl-[a-z]{2}(?:[-_][a-z]{2,4})?", re.IGNORECASE)
_KINDS = frozenset(
    {"track", "artist", "playlist", "show", "episode", "user", "audiobook", "chapter"}
)


class SpotifyLinkError(ValueError):
    """The text is not a Spotify album link; the message says why."""


def album_url(album_id: str) -> str:
    """The canonical open.spotify.com link of an album id."""
    return f"https://open.spotify.com/album/{album_id}"


def _check_id(candidate: str) -> str:
    if _ID_RE.fullmatch(candidate):
        return candidate
    if not re.fullmatch(r"[0-9A-Za-z]*", candidate):
        raise SpotifyLinkError(f"album id {candidate!r} has characters other than letters/digits")
    raise SpotifyLinkError(
        f"album id {candidate!r} has {len(candidate)} characters, a Spotify id has 22"
    )


def _from_uri(text: str) -> str:
    parts = text.split(":")
    if len(parts) != 3 or parts[0].lower() != "spotify":
        raise SpotifyLinkError(f"{text!r} is not a spotify:album:<id> URI")
    kind = parts[1].lower()
    if kind != "album":
        raise SpotifyLinkError(f"a Spotify {kind} URI, not an album")
    return _check_id(parts[2])


def _from_url(text: str) -> str:
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError as exc:  # e.g. a malformed [IPv6] host
        raise SpotifyLinkError(f"not a valid link: {exc}") from exc
    if parts.scheme.lower() not in {"http", "https"}:
        raise SpotifyLinkError(f"unsupported link scheme {parts.scheme!r}")
    if host not in _ALBUM_HOSTS:
        raise SpotifyLinkError(f"link points to {host or 'no host'}, not open.spotify.com")
    segments = [s for s in parts.path.split("/") if s]
    if segments and _INTL_RE.fullmatch(segments[0]):
        segments = segments[1:]
    if not segments:
        raise SpotifyLinkError("link has no album in it")
    kind = segments[0].lower()
    if kind in _KINDS:
        raise SpotifyLinkError(f"a Spotify {kind} link, not an album")
    if kind != "album" or len(segments) != 2:
        raise SpotifyLinkError("link is not of the form open.spotify.com/album/<id>")
    return _check_id(segments[1])


def parse_album_id(value: str) -> str:
    """Return the 22-character album id in `value` or raise SpotifyLinkError.

    Accepts a bare id, `spotify:album:ID`, and `https://open.spotify.com/album/ID`
    with an optional `intl-xx/` segment, `?si=…` query, `#…` fragment or trailing slash.
    """
    text = value.strip()
    if not text:
        raise SpotifyLinkError("empty Spotify link")
    if text.lower().startswith("spotify:"):
        return _from_uri(text)
    if "/" in text or "." in text:
        return _from_url(text)
    return _check_id(text)
