"""Deterministic album objects in Spotify's JSON shape, derived from the album id."""

from __future__ import annotations

import csv
import hashlib
import random
import threading
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from app.spotify.ids import SpotifyLinkError, parse_album_id
from tools.source_catalog import (
    CatalogRow,
    KnownAlbums,
    SourceAlbum,
    album_key,
    base62_id,
    by_popularity_key,
    catalog_albums,
    parse_query,
    streaming_match,
)

PAGE_LIMIT = 50
GENRES = ["rock", "jazz", "soul", "hip hop", "electronic", "folk", "pop", "ambient"]
WORDS = ["blue", "night", "river", "glass", "echo", "summer", "paper", "gold", "wild", "slow"]


def _rng(album_id: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(album_id.encode()).digest()[:8], "big"))


def load_catalog(path: Path) -> dict[str, tuple[str, str, str]]:
    """id → (artist, title, year) from a CSV with a Spotify link column, for nicer demos."""
    known: dict[str, tuple[str, str, str]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                album_id = parse_album_id(row.get("Spotify URL", ""))
            except SpotifyLinkError:
                continue
            known[album_id] = (row.get("Artist", ""), row.get("Album", ""), row.get("Year", ""))
    return known


def track_count(album_id: str) -> int:
    rng = _rng(album_id)
    # One album in eight is long enough to need a second (and third) page of tracks.
    return rng.randint(60, 120) if rng.random() < 0.125 else rng.randint(6, 16)


def track(album_id: str, number: int, base_url: str) -> dict[str, Any]:
    rng = random.Random(f"{album_id}:{number}")
    name = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))).title()
    track_id = hashlib.sha1(f"{album_id}{number}".encode()).hexdigest()[:22]
    return {
        "id": track_id,
        "name": name,
        "track_number": number,
        "disc_number": 1,
        "duration_ms": rng.randint(90_000, 420_000),
        "explicit": False,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
        "href": f"{base_url}v1/tracks/{track_id}",
    }


def tracks_page(album_id: str, offset: int, limit: int, base_url: str) -> dict[str, Any]:
    total = track_count(album_id)
    limit = max(1, min(limit, PAGE_LIMIT))
    items = [track(album_id, n + 1, base_url) for n in range(offset, min(offset + limit, total))]
    href = f"{base_url}v1/albums/{album_id}/tracks"
    following = offset + limit
    return {
        "href": f"{href}?offset={offset}&limit={limit}",
        "items": items,
        "limit": limit,
        "offset": offset,
        "total": total,
        "next": f"{href}?offset={following}&limit={limit}" if following < total else None,
        "previous": f"{href}?offset={max(0, offset - limit)}&limit={limit}" if offset else None,
    }


def _header(
    album_id: str, rng: random.Random, artist: str, title: str, year: str
) -> tuple[str, str, str, str]:
    """(title, artist, year, release date): blanks filled from the album's rng, in order.

    Search results and the album endpoint both call this with a fresh rng, so a search
    hit and the album it resolves to agree on every drawn value.
    """
    title = title or " ".join(rng.choice(WORDS) for _ in range(2)).title()
    artist = artist or f"Simulated Artist {rng.randint(1, 500)}"
    year = year or str(rng.randint(1955, 2025))
    release_date = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return title, artist, year, release_date


def _artist(album_id: str, name: str, base_url: str) -> dict[str, Any]:
    """A simplified artist object; the id is the album id reversed, as it always was."""
    artist_id = album_id[::-1]
    return {
        "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist_id}"},
        "href": f"{base_url}v1/artists/{artist_id}",
        "id": artist_id,
        "name": name,
        "type": "artist",
        "uri": f"spotify:artist:{artist_id}",
    }


def album(
    album_id: str,
    *,
    base_url: str,
    image_base: str,
    extended: bool,
    catalog: Mapping[str, tuple[str, str, str]],
    known: SourceAlbum | None = None,
) -> dict[str, Any]:
    """The full album object; `known` is set for an album search can find (real or decoy)."""
    rng = _rng(album_id)
    if known is not None:
        artist, title, year = known.artist, known.title, known.year
    else:
        artist, title, year = catalog.get(album_id, ("", "", ""))
    title, artist, year, release_date = _header(album_id, rng, artist, title, year)
    data: dict[str, Any] = {
        "album_type": "album",
        "id": album_id,
        "name": title,
        "type": "album",
        "uri": f"spotify:album:{album_id}",
        "href": f"{base_url}v1/albums/{album_id}",
        "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
        "artists": [{"name": artist, "type": "artist", "id": album_id[::-1]}],
        "release_date": release_date,
        "release_date_precision": "day",
        "total_tracks": track_count(album_id),
        "images": _images(album_id, image_base),
        "tracks": tracks_page(album_id, 0, PAGE_LIMIT, base_url),
        "copyrights": [{"text": f"(C) {year} {artist}", "type": "C"}],
        # Development-mode apps always get an empty list (2026 restrictions).
        "genres": [],
    }
    if known is not None:
        # Albums found by search carry what search shows of them, plus their barcode.
        data["album_type"] = known.album_type
        data["artists"] = [_artist(album_id, artist, base_url)]
        data["external_ids"] = {"upc": known.upc}
    if extended:
        data["genres"] = sorted({rng.choice(GENRES), rng.choice(GENRES)})
        data["label"] = f"{rng.choice(WORDS).title()} Records"
        data["popularity"] = rng.randint(0, 100)
    return data


def _images(album_id: str, image_base: str) -> list[dict[str, Any]]:
    return [
        {"url": f"{image_base}image/{album_id}/{size}", "width": size, "height": size}
        for size in (640, 300, 64)
    ]


def simplified_album(album_id: str, known: SourceAlbum, base_url: str) -> dict[str, Any]:
    """A search result: the simplified album object, consistent with `album()`."""
    title, artist, _year, release_date = _header(
        album_id, _rng(album_id), known.artist, known.title, known.year
    )
    return {
        "album_type": known.album_type,
        "artists": [_artist(album_id, artist, base_url)],
        "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
        "href": f"{base_url}v1/albums/{album_id}",
        "id": album_id,
        "images": _images(album_id, base_url),
        "name": title,
        "release_date": release_date,
        "release_date_precision": "day",
        "total_tracks": track_count(album_id),
        "type": "album",
        "uri": f"spotify:album:{album_id}",
    }


class SearchIndex:
    """The albums Spotify's search finds: the known ones and their decoys, by id.

    Ids: a catalog row's own Spotify link when it has one, else the 22-character base62
    of sha256("<artist>|<title>") (the rule data/README.md describes; for the sample
    catalog both agree); decoys add their kind to what is hashed. An id once found
    stays resolvable after `/_sim/forget`: Spotify still has an album its search misses.
    """

    def __init__(
        self, known: KnownAlbums | None = None, linked: Mapping[str, str] | None = None
    ) -> None:
        self.known = known or KnownAlbums()
        self._linked = dict(linked or {})  # album key -> id from the catalog's link
        self._lock = threading.Lock()
        self._built: tuple[int, list[tuple[str, SourceAlbum]]] | None = None
        self._by_id: dict[str, SourceAlbum] = {}

    def album_id(self, album: SourceAlbum) -> str:
        if album.kind == "real":
            return self._linked.get(album.key) or base62_id(album.ident)
        return base62_id(album.ident)

    def entries(self) -> list[tuple[str, SourceAlbum]]:
        version = self.known.version
        with self._lock:
            if self._built is not None and self._built[0] == version:
                return self._built[1]
        built = [(self.album_id(a), a) for a in self.known.candidates("streaming")]
        with self._lock:
            self._built = (version, built)
            self._by_id.update(built)
        return built

    def resolve(self, album_id: str) -> SourceAlbum | None:
        self.entries()
        with self._lock:
            return self._by_id.get(album_id)

    def search(self, query: str, skip: Collection[str] = ()) -> list[tuple[str, SourceAlbum]]:
        """Matches, most popular first (so decoys sometimes rank above the real album)."""
        clauses = parse_query(query)
        found = [
            (album_id, a)
            for album_id, a in self.entries()
            if album_id not in skip and streaming_match(a, clauses)
        ]
        return sorted(found, key=lambda pair: by_popularity_key(pair[1]))


def search_index(rows: Iterable[CatalogRow]) -> SearchIndex:
    """The search index of a catalog: the rule's share of it, under the rows' own links."""
    rows = list(rows)
    linked: dict[str, str] = {}
    for row in rows:
        try:
            linked.setdefault(album_key(row.artist, row.title), parse_album_id(row.link))
        except SpotifyLinkError:
            continue
    return SearchIndex(KnownAlbums(catalog_albums(rows, "spotify")), linked)


def cover_svg(album_id: str, size: int) -> str:
    rng = _rng(album_id)
    hue = rng.randint(0, 359)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 100 100"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="hsl({hue},70%,55%)"/>'
        f'<stop offset="1" stop-color="hsl({(hue + 60) % 360},60%,25%)"/></linearGradient></defs>'
        f'<rect width="100" height="100" fill="url(#g)"/>'
        f'<circle cx="50" cy="50" r="{rng.randint(12, 30)}" fill="rgba(0,0,0,.35)"/>'
        f'<text x="6" y="94" font-family="sans-serif" font-size="7" fill="#fff">'
        f"{album_id[:8]}</text></svg>"
    )
