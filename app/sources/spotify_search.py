"""`spotify-search`: Spotify's album search, for an album without a usable link.

`GET /v1/search?type=album&q=album:"T" artist:"A"` (development-mode apps: at most 10
results). A UPC known from the sheet or an earlier answer is searched first (`upc:`).
The calls go through the app's Spotify client, so they take tokens of Spotify's one
limiter and count against Spotify's budget; a matched album is then looked up by id
for its track list (the resolver does that).
"""

from __future__ import annotations

import re
from typing import Any, cast

from app.sources.base import AlbumQuery, SourceUnavailableError
from app.sources.matching import Candidate
from app.spotify.client import SpotifyClient
from app.spotify.errors import AlbumNotFoundError, RateLimitedError, SpotifyError
from app.spotify.ids import album_url
from app.spotify.models import parse_images

_QUOTES = re.compile(r'["\u201c\u201d]')
_YEAR = re.compile(r"^(\d{4})")


def _field(name: str, value: str) -> str:
    # A quote inside the value would end the field filter early.
    return f'{name}:"{" ".join(_QUOTES.sub(" ", value).split())}"'


def search_query(query: AlbumQuery) -> str:
    return f"{_field('album', query.title)} {_field('artist', query.artist)}"


def _dict(value: Any) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def _candidate(item: dict[str, Any]) -> Candidate | None:
    spotify_id, title = item.get("id"), item.get("name")
    raw_artists: Any = item.get("artists")
    artists = cast(list[Any], raw_artists) if isinstance(raw_artists, list) else []
    names = [str(a.get("name")) for a in map(_dict, artists) if a.get("name")]
    artist = ", ".join(names)
    if not (isinstance(spotify_id, str) and isinstance(title, str) and title and artist):
        return None
    released = item.get("release_date")
    year_match = _YEAR.match(released) if isinstance(released, str) else None
    return Candidate(
        source="spotify-search",
        ref=spotify_id,
        title=title,
        artist=artist,
        year=int(year_match.group(1)) if year_match else None,
        images=parse_images(item.get("images")),
        url=album_url(spotify_id),
    )


class SpotifySearchSource:
    name = "spotify-search"

    def __init__(self, client: SpotifyClient) -> None:
        self.client = client

    def _search(self, q: str) -> list[Candidate]:
        try:
            items = self.client.search_albums(q)
        except RateLimitedError:
            raise  # the resolver pauses Spotify (or, for the daily quota, search alone)
        except AlbumNotFoundError:
            return []  # a 400 (a query Spotify cannot parse) finds nothing
        except SpotifyError as exc:
            raise SourceUnavailableError(str(exc), 10.0) from exc
        return [c for c in map(_candidate, items) if c is not None]

    def candidates(self, query: AlbumQuery) -> list[Candidate]:
        if query.upc:
            found = self._search(f"upc:{query.upc}")
            if found:
                return found
        return self._search(search_query(query))

    def confirm(self, candidate: Candidate) -> Candidate | None:
        return candidate  # the resolver looks the match up by id (cover and track list)
