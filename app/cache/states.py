"""An album's cache state: the one definition, in Python and in SQL.

`row_state` decides, for one album row and one kind of data, what a viewer is shown:
"ready", "not_found" (no such album, or an answer without a usable image), "error"
(a fetch failed; nobody fetches it again before `retry_at`), "missing" (not fetched
yet, or its failure expired) or "no_spotify" (no link). `state_sql` is the same
decision as a SQL expression, for counting and selecting albums in the database
(`flask cache-stats`, `/metrics`, `refresh-cache --missing`, the importer's
prefetch); `tests/integration/test_cache_states.py` holds the two to agreeing on every state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, literal, or_

from app.cache.keys import Kind
from app.config import setting
from app.models import Album, FetchStatus, as_utc
from app.spotify.images import allowed_images, images_from_json
from app.spotify.models import Image

State = Literal["ready", "not_found", "error", "missing", "no_spotify"]
STATES: tuple[State, ...] = ("ready", "not_found", "error", "missing", "no_spotify")


@dataclass(frozen=True, slots=True)
class RowState:
    """One kind of an album's data, as its row has it (see the module docstring)."""

    state: State
    retry_at: datetime | None = None


def as_datetime(value: Any) -> datetime | None:
    """A UTC datetime from a datetime or an ISO string (Redis entries hold strings)."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def row_state(album: Album, kind: Kind) -> RowState:
    if not album.spotify_album_id:
        return RowState("no_spotify")
    if kind == "cover" and album.spotify_cover_url and album.spotify_cover_cached_at:
        return RowState("ready")
    # The timestamps, not the JSON (a CHECK keeps them together): grid pages do not
    # load the track lists of their tiles.
    metadata_stored = album.spotify_metadata_cached_at is not None
    if kind == "metadata" and metadata_stored:
        return RowState("ready")
    status = album.spotify_fetch_status
    retry_at = as_datetime(album.spotify_next_retry_at)
    if retry_at is not None and retry_at <= datetime.now(UTC):
        retry_at = None
    if status == FetchStatus.NOT_FOUND:
        return RowState("not_found", retry_at)
    if status == FetchStatus.OK and kind == "cover" and metadata_stored:
        return RowState("not_found")  # Spotify answered, but with no usable image
    if status == FetchStatus.ERROR and retry_at is not None:
        return RowState("error", retry_at)
    return RowState("missing")


def state_sql(kind: Kind, now: datetime | None = None) -> ColumnElement[str]:
    """`row_state(album, kind).state` as a SQL expression over the albums table."""
    at = now or datetime.now(UTC)
    linked = and_(Album.spotify_album_id.is_not(None), Album.spotify_album_id != "")
    metadata_stored = Album.spotify_metadata_cached_at.is_not(None)
    if kind == "cover":
        ready = and_(
            Album.spotify_cover_url.is_not(None),
            Album.spotify_cover_url != "",
            Album.spotify_cover_cached_at.is_not(None),
        )
    else:
        ready = metadata_stored
    status = Album.spotify_fetch_status
    not_found = status == FetchStatus.NOT_FOUND.value
    if kind == "cover":
        not_found = or_(not_found, and_(status == FetchStatus.OK.value, metadata_stored))
    failing = and_(status == FetchStatus.ERROR.value, Album.spotify_next_retry_at > at)
    return case(
        (~linked, literal("no_spotify")),
        (ready, literal("ready")),
        (not_found, literal("not_found")),
        (failing, literal("error")),
        else_=literal("missing"),
    )


def missing_cover() -> ColumnElement[bool]:
    """Albums with a link whose cover is not cached: what `--missing` refreshes."""
    return state_sql("cover").not_in(("ready", "no_spotify"))


def cover_images(raw: list[dict[str, Any]] | None, fallback_url: str | None) -> list[Image]:
    """The images a page may show as the cover (allowed hosts, widest first).

    The one answer to "which URL is the cover", for stored rows and Redis entries alike.
    """
    allowed: tuple[str, ...] = setting("SPOTIFY_IMAGE_HOSTS")
    return allowed_images(images_from_json(raw, fallback_url), allowed)
