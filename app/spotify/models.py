"""Typed album data as this app uses it; every Spotify field is read as optional."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.spotify.ids import album_url


@dataclass(frozen=True, slots=True)
class Image:
    url: str
    width: int | None
    height: int | None

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "width": self.width, "height": self.height}


@dataclass(frozen=True, slots=True)
class Track:
    number: int
    name: str
    duration_ms: int | None
    disc_number: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "duration_ms": self.duration_ms,
            "disc_number": self.disc_number,
        }


@dataclass(frozen=True, slots=True)
class AlbumData:
    """One `GET /albums/{id}` (plus track pages): fills both cover and metadata caches."""

    spotify_id: str
    name: str
    images: tuple[Image, ...]
    release_date: str | None
    total_tracks: int | None
    tracks: tuple[Track, ...]
    genres: tuple[str, ...] = ()
    label: str | None = None
    popularity: int | None = None
    artists: tuple[str, ...] = field(default=())
    upc: str | None = None  # external_ids.upc: lets a search find this album again

    @property
    def spotify_url(self) -> str:
        return album_url(self.spotify_id)

    def metadata_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "artists": list(self.artists),
            "release_date": self.release_date,
            "total_tracks": self.total_tracks,
            "tracks": [t.to_json() for t in self.tracks],
            "genres": list(self.genres),
            "spotify_url": self.spotify_url,
        }
        # Gone for development-mode apps: present only when Spotify sent them.
        if self.label is not None:
            data["label"] = self.label
        if self.popularity is not None:
            data["popularity"] = self.popularity
        if self.upc is not None:
            data["upc"] = self.upc
        return data


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []  # pyright: ignore[reportUnknownArgumentType]


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}  # pyright: ignore[reportUnknownArgumentType]


def parse_images(raw: Any) -> tuple[Image, ...]:
    images = [
        Image(url, _int(item.get("width")), _int(item.get("height")))
        for item in map(_dict, _list(raw))
        if (url := _str(item.get("url")))
    ]
    return tuple(sorted(images, key=lambda i: i.width or 0, reverse=True))


def parse_tracks(items: list[Any]) -> list[Track]:
    tracks: list[Track] = []
    for position, item in enumerate(map(_dict, items), start=1):
        tracks.append(
            Track(
                number=_int(item.get("track_number")) or position,
                name=_str(item.get("name")) or "Untitled",
                duration_ms=_int(item.get("duration_ms")),
                disc_number=_int(item.get("disc_number")) or 1,
            )
        )
    return tracks


def parse_album(raw: Any, spotify_id: str, extra_tracks: list[Any]) -> AlbumData:
    """An album object (plus the track items of later pages) as AlbumData."""
    album = _dict(raw)
    tracks_page = _dict(album.get("tracks"))
    items = _list(tracks_page.get("items")) + extra_tracks
    return AlbumData(
        spotify_id=_str(album.get("id")) or spotify_id,
        name=_str(album.get("name")) or "",
        images=parse_images(album.get("images")),
        release_date=_str(album.get("release_date")),
        total_tracks=_int(album.get("total_tracks")) or _int(tracks_page.get("total")),
        tracks=tuple(parse_tracks(items)),
        genres=tuple(g for g in _list(album.get("genres")) if isinstance(g, str)),
        label=_str(album.get("label")),
        popularity=_int(album.get("popularity")),
        artists=tuple(
            name for a in map(_dict, _list(album.get("artists"))) if (name := _str(a.get("name")))
        ),
        upc=_str(_dict(album.get("external_ids")).get("upc")),
    )
