"""Write path: a fetch result lands in the database row, then in Redis.

The database is written first and is the durable truth; if the process dies before
Redis is written, the read path finds the row and backfills Redis. The fetch lock is
released by the caller (worker.claims), after the entries are in place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
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


def store_album(album_id: int, spotify_id: str, data: AlbumData) -> Album | None:
    """Cover and metadata from one album lookup, in one database write."""
    now = datetime.now(UTC)
    allowed: tuple[str, ...] = setting("SPOTIFY_IMAGE_HOSTS")
    images = [i.to_json() for i in allowed_images(data.images, allowed)]
    values: dict[str, Any] = {
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


def store_not_found(album_id: int, spotify_id: str, reason: str) -> None:
    retry_at = datetime.now(UTC) + timedelta(seconds=int(setting("NOT_FOUND_TTL")))
    values = {
        "spotify_fetch_status": FetchStatus.NOT_FOUND.value,
        "spotify_last_error": reason[:1000],
        "spotify_next_retry_at": retry_at,
    }
    _publish(_update(album_id, spotify_id, values), album_id)


def store_failure(album_id: int, spotify_id: str, reason: str, retry_in: float) -> None:
    """A temporary failure: nobody fetches this album again before `retry_in` seconds."""
    values = {
        "spotify_fetch_status": FetchStatus.ERROR.value,
        "spotify_last_error": reason[:1000],
        "spotify_next_retry_at": datetime.now(UTC) + timedelta(seconds=retry_in),
    }
    _publish(_update(album_id, spotify_id, values), album_id)
