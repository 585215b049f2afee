"""What a tile or album page shows for a cover: from the database row when a page is
rendered, or from a cache lookup when the cover-art fragment is polled."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, cast

from app.cache.lookup import Lookup
from app.cache.states import row_state, usable_images
from app.catalog.polling import Messages, Polling, Waits, from_lookup, from_row
from app.models import Album
from app.spotify.images import pick_src

ENDPOINT = "catalog.cover_art"
# A tile's few words, in Messages' order. Every album is looked for everywhere, so
# "no link" ends in "no cover found" like any other album no source has.
COVER_MESSAGES = Messages(
    "No cover found", "No cover found", "Cover failing, retrying", "Looking for the cover"
)


HUES = 12  # the placeholder colours (CSS hue-0 … hue-11)


@dataclass(frozen=True, slots=True)
class CoverView(Waits):
    alt: str
    src: str | None = None
    srcset: str = ""
    waiting: Polling | None = None  # None: the image is ready
    # A cover not ready is drawn from its album: title, artist, a colour of its own.
    title: str = ""
    artist: str = ""
    hue: int = 0
    # On a grid page the page's one poller asks for it (`poll_key`), not the cover itself.
    album_id: int = 0
    sid: str | None = None

    @property
    def poll_key(self) -> str:
        """How the page poller names this cover: "id" or "id:sid" (`catalog.covers`)."""
        return f"{self.album_id}:{self.sid}" if self.sid else str(self.album_id)


def album_hue(album_id: int) -> int:
    return album_id % HUES


def ready_view(raw: list[dict[str, Any]] | None, fallback: str | None, alt: str) -> CoverView:
    images = usable_images(raw, fallback)
    if not images:
        return CoverView(alt, waiting=Polling("unavailable", "Cover unavailable"))
    srcset = ", ".join(f"{i.url} {i.width}w" for i in images if i.width)
    return CoverView(alt, pick_src(images).url, srcset)


def cover_view(album: Album, trigger: str = "intersect once") -> CoverView:
    """A tile's cover when the page is rendered: inline if cached, else a lazy skeleton."""
    row = row_state(album, "cover")
    if row.state == "ready":
        view = ready_view(album.cover_images, album.cover_url, album.cover_alt)
        return replace(view, album_id=album.id, sid=album.spotify_album_id)
    return CoverView(
        album.cover_alt,
        waiting=from_row(row, album.id, album.spotify_album_id, ENDPOINT, COVER_MESSAGES, trigger),
        title=album.title,
        artist=album.artist.name,
        hue=album_hue(album.id),
        album_id=album.id,
        sid=album.spotify_album_id,
    )


def cover_from_lookup(
    result: Lookup, attempt: int, alt: str, names: tuple[str, str] = ("", "")
) -> CoverView:
    """The cover-art fragment's view of a cache lookup (polling with backoff); `names`
    (title, artist) draw the placeholder of a cover not ready."""
    ids: dict[str, Any] = {"album_id": result.album_id, "sid": result.spotify_id}
    if result.status == "ready" and result.data:
        view = ready_view(result.data.get("images"), result.data.get("cover_url"), alt)
        return replace(view, **ids)
    waiting = from_lookup(result, attempt, ENDPOINT, COVER_MESSAGES)
    title, artist = names
    return CoverView(
        alt, waiting=waiting, title=title, artist=artist, hue=album_hue(result.album_id), **ids
    )


@dataclass(frozen=True, slots=True)
class Credit:
    """Where an album's cover came from, as its page says (attribution)."""

    source: str
    label: str
    url: str | None


_CREDITS = {
    "spotify": "Cover from Spotify",
    "spotify-search": "Cover from Spotify (found by search: the sheet has no usable link)",
    "deezer": "Cover from Deezer",
    "coverartarchive": "Cover from the Cover Art Archive (MusicBrainz)",
    "manual": "Cover chosen by the club's administrator",
}


def cover_credit(album: Album) -> Credit | None:
    """The credit line for a cached cover, with a link back to the source's album page."""
    if not album.cover_url:
        return None
    source = album.cover_source or "spotify"
    outcome: Any = (album.cover_outcomes or {}).get(source)
    url: Any = cast(dict[str, Any], outcome).get("url") if isinstance(outcome, dict) else None
    if source.startswith("spotify"):
        url = album.spotify_link
    return Credit(
        source, _CREDITS.get(source, f"Cover from {source}"), url if isinstance(url, str) else None
    )
