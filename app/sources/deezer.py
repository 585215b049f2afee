"""Deezer's public album search as a cover source (no key, no account).

Deezer signals its quota with HTTP 200 and `{"error": {"code": 4}}`, so the body decides
throttling as much as the status does. Search results already carry the cover URLs and
no year; `confirm` needs no second call.
"""

from __future__ import annotations

from typing import Any, cast

import requests

from app.sources import http
from app.sources.base import AlbumQuery, SourceUnavailableError
from app.sources.matching import Candidate
from app.spotify.models import Image

SEARCH_LIMIT = 10
THROTTLED_RETRY_AFTER = 5.0
UNAVAILABLE_RETRY_AFTER = 10.0
QUOTA_EXCEEDED = 4  # Deezer's error code for "Quota limit exceeded"
SERVICE_BUSY = 700  # transient on Deezer's side: try again, but not a quota
# Widest first, as the rest of the app expects images. Deezer's covers are square.
COVER_SIZES = (("cover_xl", 1000), ("cover_big", 500), ("cover_medium", 250), ("cover_small", 56))


class DeezerSource:
    """Albums from `GET /search/album`."""

    name = "deezer"

    def __init__(
        self,
        api_base: str = "https://api.deezer.com/",
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.api_base = api_base if api_base.endswith("/") else api_base + "/"
        self.timeout = timeout
        self.session = session or requests.Session()

    def candidates(self, query: AlbumQuery) -> list[Candidate]:
        """Up to ten albums Deezer finds for the artist and title, as Deezer ranks them."""
        artist, title = _phrase(query.artist), _phrase(query.title)
        if not artist or not title:
            return []  # an empty field would match anything: nothing to look for
        params: dict[str, str | int] = {
            "q": f'artist:"{artist}" album:"{title}"',
            "limit": SEARCH_LIMIT,
        }
        body = self._get(f"{self.api_base}search/album", params)
        return [c for item in _dicts(body.get("data")) if (c := _candidate(item))]

    def confirm(self, candidate: Candidate) -> Candidate | None:
        """The candidate as found: its search result already names the covers."""
        return candidate if candidate.images else None

    def _get(self, url: str, params: dict[str, str | int]) -> dict[str, Any]:
        response = http.get(
            self.session, url, params, "Deezer", UNAVAILABLE_RETRY_AFTER, timeout=self.timeout
        )
        http.raise_if_throttled(response, "Deezer: HTTP 429", THROTTLED_RETRY_AFTER, (429,))
        # 5xx, or a status Deezer does not document: not an answer about the album.
        body = http.json_object(response, "Deezer", UNAVAILABLE_RETRY_AFTER)
        error: Any = body.get("error")
        if isinstance(error, dict):
            _raise_for_error(cast(dict[str, Any], error))
            return {}  # "no data" and the like: Deezer has nothing for this query
        return body


def _raise_for_error(error: dict[str, Any]) -> None:
    code, message = error.get("code"), _str(error.get("message")) or "error"
    if code == QUOTA_EXCEEDED:
        raise SourceUnavailableError(f"Deezer: {message}", THROTTLED_RETRY_AFTER, throttled=True)
    if code == SERVICE_BUSY:
        raise SourceUnavailableError(f"Deezer: {message}", UNAVAILABLE_RETRY_AFTER)


def _candidate(item: dict[str, Any]) -> Candidate | None:
    ident, title = item.get("id"), _str(item.get("title"))
    artist_raw: Any = item.get("artist")
    artist = (
        _str(cast(dict[str, Any], artist_raw).get("name")) if isinstance(artist_raw, dict) else None
    )
    if not isinstance(ident, int | str) or isinstance(ident, bool) or not str(ident):
        return None
    if not title or not artist:
        return None
    images = tuple(
        Image(url, size, size) for key, size in COVER_SIZES if (url := _http_url(item.get(key)))
    )
    return Candidate("deezer", str(ident), title, artist, None, images, _http_url(item.get("link")))


def _phrase(text: str) -> str:
    """A name fit for a quoted Deezer field: Deezer has no escape for a quote in one."""
    return " ".join(text.replace('"', " ").replace("\\", " ").split())


def _http_url(value: Any) -> str | None:
    url = _str(value)
    return url if url and url.startswith(("https://", "http://")) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    items = cast(list[Any], value) if isinstance(value, list) else []
    return [cast(dict[str, Any], item) for item in items if isinstance(item, dict)]
