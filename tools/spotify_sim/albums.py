"""Deterministic album objects in Spotify's JSON shape, derived from the album id."""

from __future__ import annotations

import csv
import hashlib
import random
from pathlib import Path
from typing import Any

from app.spotify.ids import SpotifyLinkError, parse_album_id

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


def album(
    album_id: str,
    *,
    base_url: str,
    image_base: str,
    extended: bool,
    catalog: dict[str, tuple[str, str, str]],
) -> dict[str, Any]:
    rng = _rng(album_id)
    artist, title, year = catalog.get(album_id, ("", "", ""))
    title = title or " ".join(rng.choice(WORDS) for _ in range(2)).title()
    artist = artist or f"Simulated Artist {rng.randint(1, 500)}"
    year = year or str(rng.randint(1955, 2025))
    data: dict[str, Any] = {
        "album_type": "album",
        "id": album_id,
        "name": title,
        "type": "album",
        "uri": f"spotify:album:{album_id}",
        "href": f"{base_url}v1/albums/{album_id}",
        "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
        "artists": [{"name": artist, "type": "artist", "id": album_id[::-1]}],
        "release_date": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "release_date_precision": "day",
        "total_tracks": track_count(album_id),
        "images": [
            {"url": f"{image_base}image/{album_id}/{size}", "width": size, "height": size}
            for size in (640, 300, 64)
        ],
        "tracks": tracks_page(album_id, 0, PAGE_LIMIT, base_url),
        "copyrights": [{"text": f"(C) {year} {artist}", "type": "C"}],
        # Development-mode apps always get an empty list (2026 restrictions).
        "genres": [],
    }
    if extended:
        data["genres"] = sorted({rng.choice(GENRES), rng.choice(GENRES)})
        data["label"] = f"{rng.choice(WORDS).title()} Records"
        data["popularity"] = rng.randint(0, 100)
    return data


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
