"""An album's cache state: the one definition, in Python and in SQL.

`row_state` decides, for one album row and one kind of data, what a viewer is shown:
"ready"; "not_found" (for the cover: no source has one, remembered until
`cover_retry_at`; for the track list: Spotify has no such album); "error" (a fetch
failed; nobody fetches it again before `retry_at`); "missing" (not looked for yet, or
its failure expired: a fetch is queued); "no_spotify" (track list only: the album was
looked for and has no Spotify album). Every album is looked for, with or without a
link: a cover never ends at "no link". `state_sql` is the same
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
# cover_status values: no source has a cover; a source failed (retry at cover_retry_at).
COVER_NONE = "none"
COVER_ERROR = "error"


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


def _live(retry_at: datetime | None) -> datetime | None:
    """A retry time still ahead, else None (an expired one is over)."""
    return retry_at if retry_at is not None and retry_at > datetime.now(UTC) else None


def _cover_state(album: Album) -> RowState:
    if album.cover_url and album.cover_cached_at:
        return RowState("ready")
    retry_at = _live(as_datetime(album.cover_retry_at))
    if album.cover_status == COVER_NONE and (retry_at or album.cover_retry_at is None):
        return RowState("not_found", retry_at)  # no source has one, until retry_at
    if album.cover_status == COVER_ERROR and retry_at is not None:
        return RowState("error", retry_at)
    return RowState("missing")


def _metadata_state(album: Album) -> RowState:
    # The timestamp, not the JSON (a CHECK keeps them together): grid pages do not load
    # the track lists of their tiles.
    if album.spotify_metadata_cached_at is not None:
        return RowState("ready")
    if not album.spotify_id:
        # Without a link the album is looked for first; once looked for, it has none.
        looked = album.cover_status is not None or album.cover_cached_at is not None
        return RowState("no_spotify") if looked else RowState("missing")
    status = album.spotify_fetch_status
    retry_at = _live(as_datetime(album.spotify_next_retry_at))
    if status == FetchStatus.NOT_FOUND:
        return RowState("not_found", retry_at)
    if status == FetchStatus.ERROR and retry_at is not None:
        return RowState("error", retry_at)
    return RowState("missing")


def row_state(album: Album, kind: Kind) -> RowState:
    return _cover_state(album) if kind == "cover" else _metadata_state(album)


def _has(column: Any) -> ColumnElement[bool]:
    return and_(column.is_not(None), column != "")


def has_spotify_id() -> ColumnElement[bool]:
    """Albums with a Spotify id: the sheet's link, or a search match (`Album.spotify_id`)."""
    return or_(_has(Album.spotify_album_id), _has(Album.spotify_match_id))


def state_sql(kind: Kind, now: datetime | None = None) -> ColumnElement[str]:
    """`row_state(album, kind).state` as a SQL expression over the albums table."""
    at = now or datetime.now(UTC)
    if kind == "cover":
        retry = Album.cover_retry_at
        return case(
            (and_(_has(Album.cover_url), Album.cover_cached_at.is_not(None)), literal("ready")),
            (
                and_(Album.cover_status == COVER_NONE, or_(retry.is_(None), retry > at)),
                literal("not_found"),
            ),
            (and_(Album.cover_status == COVER_ERROR, retry > at), literal("error")),
            else_=literal("missing"),
        )
    linked = has_spotify_id()
    looked = or_(Album.cover_status.is_not(None), Album.cover_cached_at.is_not(None))
    status = Album.spotify_fetch_status
    return case(
        (Album.spotify_metadata_cached_at.is_not(None), literal("ready")),
        (and_(~linked, looked), literal("no_spotify")),
        (~linked, literal("missing")),
        (status == FetchStatus.NOT_FOUND.value, literal("not_found")),
        (
            and_(status == FetchStatus.ERROR.value, Album.spotify_next_retry_at > at),
            literal("error"),
        ),
        else_=literal("missing"),
    )


def missing_cover() -> ColumnElement[bool]:
    """Albums without a cached cover: what `--missing` asks every source for again."""
    return state_sql("cover") != "ready"


def usable_images(raw: list[dict[str, Any]] | None, fallback_url: str | None) -> list[Image]:
    """The images a page may show as the cover (allowed hosts, widest first).

    The one answer to "which URL is the cover", for stored rows and Redis entries alike.
    """
    allowed: tuple[str, ...] = setting("IMAGE_HOSTS")
    return allowed_images(images_from_json(raw, fallback_url), allowed)
