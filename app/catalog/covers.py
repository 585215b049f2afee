"""What a tile or album page shows for a cover: from the database row when a page is
rendered, or from a cache lookup when the cover-art fragment is polled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from flask import url_for

from app.cache import Lookup
from app.cache_keys import image_allowed
from app.catalog.polling import Messages, not_ready
from app.config import setting
from app.models import Album, FetchStatus, as_utc

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
    poll_url: str | None = None  # pending: the fragment to ask for next
    poll_trigger: str = ""  # htmx trigger for that request
    retry_url: str | None = None  # unavailable for now: a "try again" control
    message: str = ""


def images_of(raw: list[dict[str, Any]] | None, fallback_url: str | None) -> list[Image]:
    """Images widest first, from allowed hosts; every Spotify field is optional."""
    allowed: tuple[str, ...] = setting("SPOTIFY_IMAGE_HOSTS")
    images: list[Image] = []
    for item in raw or []:
        url = item.get("url")
        if isinstance(url, str) and url and image_allowed(url, allowed):
            width, height = item.get("width"), item.get("height")
            images.append(
                Image(
                    url,
                    width if isinstance(width, int) else None,
                    height if isinstance(height, int) else None,
                )
            )
    if not images and fallback_url and image_allowed(fallback_url, allowed):
        images.append(Image(fallback_url, None, None))
    return sorted(images, key=lambda i: i.width or 0, reverse=True)


def pick_src(images: list[Image], width: int = TILE_WIDTH) -> Image:
    """The smallest image at least `width` wide, else the widest there is."""
    wide_enough = [i for i in images if (i.width or 0) >= width]
    return wide_enough[-1] if wide_enough else images[0]


def ready_view(raw: list[dict[str, Any]] | None, fallback: str | None, alt: str) -> CoverView:
    images = images_of(raw, fallback)
    if not images:
        return CoverView("unavailable", alt=alt, message="Cover unavailable")
    srcset = ", ".join(f"{i.url} {i.width}w" for i in images if i.width)
    return CoverView("ready", pick_src(images).url, srcset, alt)


def _fragment_url(album_id: int, attempt: int) -> str:
    args: dict[str, Any] = {"album_id": album_id}
    if attempt:
        args["attempt"] = attempt
    return url_for("catalog.cover_art", **args)


def cover_view(album: Album, trigger: str = "intersect once") -> CoverView:
    """A tile's cover when the page is rendered: inline if cached, else a lazy skeleton."""
    alt = album.cover_alt
    if album.spotify_cover_url:
        return ready_view(album.spotify_images, album.spotify_cover_url, alt)
    if not album.spotify_album_id:
        return CoverView("no-spotify", alt=alt, message="No Spotify link")
    status = album.spotify_fetch_status
    retry_at = album.spotify_next_retry_at
    waiting = retry_at is not None and as_utc(retry_at) > datetime.now(UTC)
    if status == FetchStatus.NOT_FOUND or (
        status == FetchStatus.OK and album.spotify_metadata_json
    ):
        return CoverView("unavailable", alt=alt, message="No cover on Spotify")
    if status == FetchStatus.ERROR and waiting:
        return CoverView(
            "unavailable",
            alt=alt,
            message="Cover unavailable right now",
            retry_url=_fragment_url(album.id, 0),
        )
    return CoverView("pending", alt=alt, poll_url=_fragment_url(album.id, 0), poll_trigger=trigger)


COVER_MESSAGES = Messages(
    no_spotify="No Spotify link",
    not_found="No cover on Spotify",
    failing="Cover unavailable right now",
    slow="Cover is taking long",
)


def cover_from_lookup(result: Lookup, attempt: int, alt: str) -> CoverView:
    """The cover-art fragment's view of a cache lookup (polling with backoff)."""
    if result.status == "ready" and result.data:
        return ready_view(result.data.get("images"), result.data.get("cover_url"), alt)
    view = not_ready(result, attempt, _fragment_url, COVER_MESSAGES)
    return CoverView(
        view.state,
        alt=alt,
        message=view.message,
        poll_url=view.poll_url,
        poll_trigger=view.poll_trigger,
        retry_url=view.retry_url,
    )
