"""What a tile or album page shows for a cover, from the album's database row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from app.models import Album, FetchStatus

CoverState = Literal["ready", "pending", "unavailable", "no-spotify"]
TILE_WIDTH = 300  # px: the Spotify image size a tile should download


@dataclass(frozen=True, slots=True)
class Image:
    url: str
    width: int | None
    height: int | None


@dataclass(frozen=True, slots=True)
class CoverView:
    state: CoverState
    src: str | None = None
    srcset: str = ""
    alt: str = ""


def images_of(raw: list[dict[str, Any]] | None, fallback_url: str | None) -> list[Image]:
    """Images widest first; tolerates missing sizes, as every Spotify field is optional."""
    images: list[Image] = []
    for item in raw or []:
        url = item.get("url")
        if isinstance(url, str) and url:
            width, height = item.get("width"), item.get("height")
            images.append(
                Image(
                    url,
                    width if isinstance(width, int) else None,
                    height if isinstance(height, int) else None,
                )
            )
    if not images and fallback_url:
        images.append(Image(fallback_url, None, None))
    return sorted(images, key=lambda i: i.width or 0, reverse=True)


def pick_src(images: list[Image], width: int = TILE_WIDTH) -> Image:
    """The smallest image at least `width` wide, else the widest there is."""
    wide_enough = [i for i in images if (i.width or 0) >= width]
    return wide_enough[-1] if wide_enough else images[0]


def cover_view(album: Album) -> CoverView:
    alt = f"Cover of {album.title} by {album.artist.name}"
    if album.spotify_cover_url:
        images = images_of(album.spotify_images, album.spotify_cover_url)
        srcset = ", ".join(f"{i.url} {i.width}w" for i in images if i.width)
        return CoverView("ready", pick_src(images).url, srcset, alt)
    if not album.spotify_album_id:
        return CoverView("no-spotify", alt=alt)
    if album.spotify_fetch_status == FetchStatus.NOT_FOUND:
        return CoverView("unavailable", alt=alt)
    return CoverView("pending", alt=alt)
