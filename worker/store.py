"""The worker's side of an album row: what it has cached, and where a result lands.

`cache_times` reads what a fetch needs to know; `store_answer` is the one place that
decides what an answer means for the cover ("no such album", "no usable image", or
a cover and metadata). The database is written first and is the durable truth; if
the process dies before Redis is written, the read path finds the row and backfills
Redis. The fetch lock is released by the caller (`app.cache.fetch_lock.Claim`), after
the entries are in place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from app.cache import versions as catalog_versions
from app.cache.entries import entries_from_row, write_entries
from app.config import setting
from app.extensions import db
from app.models import Album, FetchStatus
from app.spotify.images import allowed_images
from app.spotify.models import AlbumData


def _update(album_id: int, spotify_id: str, values: dict[str, Any]) -> Album | None:
    """Update the row unless its Spotify id changed meanwhile (a re-import won the race)."""
    result = db.session.execute(
        update(Album)
        .where(Album.id == album_id, Album.spotify_album_id == spotify_id)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if not getattr(result, "rowcount", 0):
        return None
    # The artist comes along: the Redis cover entry's alt text names it.
    return db.session.get(
        Album, album_id, options=[joinedload(Album.artist)], populate_existing=True
    )


def _publish(album: Album | None, album_id: int) -> None:
    if album is not None:
        write_entries(album_id, entries_from_row(album))
        catalog_versions.bump("covers")  # rendered grid pages now show it inline


def cache_times(album_ids: list[int]) -> dict[int, tuple[str, datetime | None]]:
    """Spotify id and cache time of these albums (those with a Spotify link)."""
    if not album_ids:
        return {}
    rows = db.session.execute(
        select(
            Album.id,
            Album.spotify_album_id,
            Album.spotify_cover_cached_at,
            Album.spotify_metadata_cached_at,
        ).where(Album.id.in_(album_ids), Album.spotify_album_id.is_not(None))
    ).all()
    db.session.rollback()  # release the connection while Spotify answers
    found: dict[int, tuple[str, datetime | None]] = {}
    for album_id, spotify_id, cover_at, metadata_at in rows:
        if spotify_id:
            found[album_id] = (spotify_id, cover_at or metadata_at)
    return found


def store_answer(
    album_id: int,
    spotify_id: str,
    data: AlbumData | None,
    reason: str = "Spotify has no album with this id",
) -> Album | None:
    """What Spotify answered for this album: its data, or None for "no such album".

    An answer without an image from an allowed host keeps its metadata and reads as
    "no cover" (`app.cache.entries.row_state`) until the next refresh.
    """
    if data is None:
        retry_at = datetime.now(UTC) + timedelta(seconds=int(setting("NOT_FOUND_TTL")))
        values: dict[str, Any] = {
            "spotify_fetch_status": FetchStatus.NOT_FOUND.value,
            "spotify_last_error": reason[:1000],
            "spotify_next_retry_at": retry_at,
        }
        album = _update(album_id, spotify_id, values)
        _publish(album, album_id)
        return album
    now = datetime.now(UTC)
    allowed: tuple[str, ...] = setting("SPOTIFY_IMAGE_HOSTS")
    images = [i.to_json() for i in allowed_images(data.images, allowed)]
    values = {
        "spotify_images": images or None,
        "spotify_cover_url": images[0]["url"] if images else None,
        "spotify_cover_cached_at": now if images else None,
        "spotify_metadata_json": data.metadata_json(),
        "spotify_metadata_cached_at": now,
        "spotify_fetch_status": FetchStatus.OK.value,
        "spotify_last_error": None if images else "no image from an allowed host",
        "spotify_next_retry_at": None,
    }
    album = _update(album_id, spotify_id, values)
    _publish(album, album_id)
    return album


def store_failure(album_id: int, spotify_id: str, reason: str, retry_in: float) -> None:
    """A temporary failure: nobody fetches this album again before `retry_in` seconds."""
    values = {
        "spotify_fetch_status": FetchStatus.ERROR.value,
        "spotify_last_error": reason[:1000],
        "spotify_next_retry_at": datetime.now(UTC) + timedelta(seconds=retry_in),
    }
    _publish(_update(album_id, spotify_id, values), album_id)
