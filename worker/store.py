"""The worker's side of an album row: what it has cached, and where a result lands.

`cache_times` and `load_album` read what a fetch needs to know. `store_answer` decides
what Spotify's album lookup means for the row ("no such album", an answer without a
usable image, or a cover and metadata); `store_cover`, `store_no_cover` and
`store_cover_failure` record what the other sources found (`worker.resolve`). The
database is written first and is the durable truth; if the process dies before Redis
is written, the read path finds the row and backfills Redis. The fetch lock is
released by the caller (`app.cache.fetch_lock.Claim`), after the entries are in place.

Every write is guarded by the sheet's Spotify link as the fetch read it: a re-import
that changed the link meanwhile wins, and the stale result is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from app.cache import versions as catalog_versions
from app.cache.entries import entries_from_row, write_entries
from app.cache.states import COVER_ERROR, COVER_NONE
from app.config import setting
from app.extensions import db
from app.models import COVER_COLUMNS, Album, Artist, FetchStatus
from app.sources.matching import Candidate
from app.spotify.images import allowed_images
from app.spotify.models import AlbumData


def _update(album_id: int, sheet_id: str | None, values: dict[str, Any]) -> Album | None:
    """Update the row unless its Spotify link changed meanwhile (a re-import won the race).

    The cover columns are written only while the album is not pinned: an
    administrator's cover outranks every job (its track list may still refresh)."""
    linked = (
        Album.spotify_album_id.is_(None) if sheet_id is None else Album.spotify_album_id == sheet_id
    )
    cover = {k: v for k, v in values.items() if k in COVER_COLUMNS}
    rest = {k: v for k, v in values.items() if k not in COVER_COLUMNS}
    written = 0
    for part, guards in ((rest, [linked]), (cover, [linked, Album.cover_pinned_at.is_(None)])):
        if not part:
            continue
        result = db.session.execute(
            update(Album)
            .where(Album.id == album_id, *guards)
            .values(part)
            .execution_options(synchronize_session=False)
        )
        written = written or int(getattr(result, "rowcount", 0) or 0)
    db.session.commit()
    if not written:
        return None
    # The artist comes along: the Redis cover entry's alt text names it.
    return db.session.get(
        Album, album_id, options=[joinedload(Album.artist)], populate_existing=True
    )


def _publish(album: Album | None, album_id: int) -> Album | None:
    if album is not None:
        write_entries(album_id, entries_from_row(album))
        catalog_versions.bump("covers")  # rendered grid pages now show it inline
    return album


def cache_times(album_ids: list[int]) -> dict[int, tuple[str, datetime | None]]:
    """Spotify link and Spotify-data cache time of these albums (those with a link)."""
    if not album_ids:
        return {}
    rows = db.session.execute(
        select(
            Album.id,
            Album.spotify_album_id,
            Album.cover_cached_at,
            Album.spotify_metadata_cached_at,
        ).where(Album.id.in_(album_ids), Album.spotify_album_id.is_not(None))
    ).all()
    db.session.rollback()  # release the connection while Spotify answers
    found: dict[int, tuple[str, datetime | None]] = {}
    for album_id, spotify_id, cover_at, metadata_at in rows:
        if spotify_id:
            found[album_id] = (spotify_id, metadata_at or cover_at)
    return found


@dataclass(frozen=True, slots=True)
class FetchRow:
    """What one fetch needs to know of an album, read once before any call."""

    album_id: int
    title: str
    artist: str
    year: int | None
    sheet_id: str | None  # the sheet's link (guards every write)
    match_id: str | None  # a Spotify search match
    cover_source: str | None
    cover_cached_at: datetime | None
    metadata_cached_at: datetime | None
    spotify_status: str | None
    spotify_retry_at: datetime | None
    outcomes: dict[str, Any]
    upc: str | None
    pinned: bool = False  # an administrator's cover: no source is asked for one
    rejected: dict[str, list[str]] = field(default_factory=lambda: dict[str, list[str]]())

    @property
    def spotify_id(self) -> str | None:
        return self.sheet_id or self.match_id


def load_album(album_id: int) -> FetchRow | None:
    row = db.session.execute(
        select(
            Album.id,
            Album.title,
            Artist.name,
            Album.year,
            Album.spotify_album_id,
            Album.spotify_match_id,
            Album.cover_source,
            Album.cover_cached_at,
            Album.spotify_metadata_cached_at,
            Album.spotify_fetch_status,
            Album.spotify_next_retry_at,
            Album.cover_outcomes,
            Album.spotify_metadata_json,
            Album.cover_pinned_at,
            Album.cover_rejected,
        )
        .join(Album.artist)
        .where(Album.id == album_id)
    ).one_or_none()
    db.session.rollback()  # release the connection while the sources answer
    if row is None:
        return None
    (album_id, title, artist, year, sheet_id, match_id, source, cover_at, metadata_at) = row[:9]
    status, retry_at, outcomes, metadata, pinned_at, rejected = row[9:]
    upc: Any = cast(dict[str, Any], metadata).get("upc") if isinstance(metadata, dict) else None
    return FetchRow(
        album_id=album_id,
        title=title,
        artist=artist,
        year=year,
        sheet_id=sheet_id,
        match_id=match_id,
        cover_source=source,
        cover_cached_at=cover_at,
        metadata_cached_at=metadata_at,
        spotify_status=status,
        spotify_retry_at=retry_at,
        outcomes=dict(cast(dict[str, Any], outcomes)) if isinstance(outcomes, dict) else {},
        upc=upc if isinstance(upc, str) else None,
        pinned=pinned_at is not None,
        rejected=_rejected(rejected),
    )


def _rejected(raw: Any) -> dict[str, list[str]]:
    """`cover_rejected` as stored (JSON: source -> refs), tolerant of odd shapes."""
    if not isinstance(raw, dict):
        return {}
    found: dict[str, list[str]] = {}
    for source, refs in cast(dict[Any, Any], raw).items():
        if isinstance(refs, list):
            found[str(source)] = [str(r) for r in cast(list[Any], refs)]
    return found


def _outcome(outcome: str, **extra: Any) -> dict[str, Any]:
    return {"outcome": outcome, "at": datetime.now(UTC).isoformat()} | {
        k: v for k, v in extra.items() if v is not None
    }


def store_answer(
    album_id: int,
    sheet_id: str | None,
    data: AlbumData | None,
    reason: str = "Spotify has no album with this id",
    *,
    source: str = "spotify",
    match_id: str | None = None,
) -> Album | None:
    """What Spotify's album lookup answered: its data, or None for "no such album".

    An answer with an image from an allowed host is the cover (from `source`: the link,
    or a search match, then kept as `match_id`); one without keeps its metadata, and
    the other sources are asked for the cover.
    """
    now = datetime.now(UTC)
    if data is None:
        retry_at = now + timedelta(seconds=int(setting("NOT_FOUND_TTL")))
        values: dict[str, Any] = {
            "spotify_fetch_status": FetchStatus.NOT_FOUND.value,
            "spotify_last_error": reason[:1000],
            "spotify_next_retry_at": retry_at,
        }
        return _publish(_update(album_id, sheet_id, values), album_id)
    allowed: tuple[str, ...] = setting("IMAGE_HOSTS")
    images = [i.to_json() for i in allowed_images(data.images, allowed)]
    values = {
        "spotify_metadata_json": data.metadata_json(),
        "spotify_metadata_cached_at": now,
        "spotify_fetch_status": FetchStatus.OK.value,
        "spotify_last_error": None if images else "no image from an allowed host",
        "spotify_next_retry_at": None,
    }
    if match_id is not None:
        values["spotify_match_id"] = match_id
    if images:
        values |= {
            "cover_source": source,
            "cover_images": images,
            "cover_url": images[0]["url"],
            "cover_cached_at": now,
            "cover_status": None,
            "cover_retry_at": None,
        }
    return _publish(_update(album_id, sheet_id, values), album_id)


def store_failure(album_id: int, sheet_id: str | None, reason: str, retry_in: float) -> None:
    """A temporary Spotify failure: nobody fetches this album again before `retry_in` s."""
    retry_at = datetime.now(UTC) + timedelta(seconds=retry_in)
    values: dict[str, Any] = {
        "spotify_fetch_status": FetchStatus.ERROR.value,
        "spotify_last_error": reason[:1000],
        "spotify_next_retry_at": retry_at,
    }
    album = _update(album_id, sheet_id, values)
    if album is not None and album.cover_cached_at is None:
        # No cover yet either: the tile says "failing, retrying" until then.
        album = _update(
            album_id, sheet_id, {"cover_status": COVER_ERROR, "cover_retry_at": retry_at}
        )
    _publish(album, album_id)


def store_cover(
    row: FetchRow, source: str, found: Candidate, outcomes: dict[str, Any]
) -> Album | None:
    """A cover another source found (its images from allowed hosts only)."""
    allowed: tuple[str, ...] = setting("IMAGE_HOSTS")
    kept = [i.to_json() for i in allowed_images(found.images, allowed)]
    if not kept:
        return None
    # Where it came from, for the album page's credit line.
    outcomes = outcomes | {source: _outcome("found", ref=found.ref, url=found.url)}
    values = {
        "cover_source": source,
        "cover_images": kept,
        "cover_url": kept[0]["url"],
        "cover_cached_at": datetime.now(UTC),
        "cover_status": None,
        "cover_retry_at": None,
        "cover_outcomes": outcomes,
    }
    return _publish(_update(row.album_id, row.sheet_id, values), row.album_id)


def store_no_cover(row: FetchRow, outcomes: dict[str, Any]) -> None:
    """No source has a cover: remembered for COVER_NOT_FOUND_TTL, then asked again."""
    retry_at = datetime.now(UTC) + timedelta(seconds=int(setting("COVER_NOT_FOUND_TTL")))
    values = {"cover_status": COVER_NONE, "cover_retry_at": retry_at, "cover_outcomes": outcomes}
    _publish(_update(row.album_id, row.sheet_id, values), row.album_id)


def store_cover_failure(row: FetchRow, outcomes: dict[str, Any], retry_in: float) -> None:
    """Sources failed (throttled, down): the cover is looked for again in `retry_in` s."""
    retry_at = datetime.now(UTC) + timedelta(seconds=retry_in)
    values = {"cover_status": COVER_ERROR, "cover_retry_at": retry_at, "cover_outcomes": outcomes}
    _publish(_update(row.album_id, row.sheet_id, values), row.album_id)


def save_outcomes(row: FetchRow, outcomes: dict[str, Any]) -> None:
    """Per-source outcomes so far (a re-queued resolution goes on from them)."""
    _update(row.album_id, row.sheet_id, {"cover_outcomes": outcomes})


def source_outcome(outcome: str, **extra: Any) -> dict[str, Any]:
    """One source's outcome as `cover_outcomes` keeps it."""
    return _outcome(outcome, **extra)
