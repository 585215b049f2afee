"""The Redis entries that mirror an album row, following its state (`app.cache.states`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from app.cache.keys import KINDS, Kind, encode, entry_key
from app.cache.states import as_datetime, row_state
from app.config import setting
from app.extensions import available_redis, mark_redis_down
from app.models import Album

log = logging.getLogger(__name__)
Entries = dict[Kind, tuple[dict[str, Any], int]]  # kind -> (entry, TTL in seconds)


def _ttl(kind: Kind) -> int:
    return int(setting("COVER_CACHE_TTL" if kind == "cover" else "METADATA_CACHE_TTL"))


def is_stale(cached_at: Any, kind: Kind) -> bool:
    when = as_datetime(cached_at)
    return when is None or datetime.now(UTC) - when > timedelta(seconds=_ttl(kind))


def _ready_entry(album: Album, kind: Kind) -> dict[str, Any]:
    if kind == "cover":
        return {
            "alt": album.cover_alt,
            "source": album.cover_source or "spotify",
            "cover_url": album.cover_url,
            "images": album.cover_images or [],
            "cached_at": album.cover_cached_at,
            "pinned": album.cover_pinned_at is not None,  # never stale: no refresh
        }
    return {
        "metadata": album.spotify_metadata_json,
        "cached_at": album.spotify_metadata_cached_at,
    }


def entries_from_row(album: Album) -> Entries:
    """The Redis entries (with their TTLs in seconds) that a database row implies."""
    entries: Entries = {}
    base = {"album_id": album.id, "spotify_id": album.spotify_album_id}
    for kind in KINDS:
        found = row_state(album, kind)
        if found.state == "ready":
            entries[kind] = (base | {"status": "ready"} | _ready_entry(album, kind), _ttl(kind))
        elif found.state in ("not_found", "error"):
            entry: dict[str, Any] = base | {"status": found.state}
            ttl = int(setting("NOT_FOUND_TTL"))
            if found.retry_at is not None:  # no longer than until the next fetch may run
                entry["retry_at"] = found.retry_at
                ttl = int((found.retry_at - datetime.now(UTC)).total_seconds()) + 1
            entries[kind] = (entry, max(1, ttl))
    return entries


def write_entries(album_id: int, entries: Entries) -> None:
    client = available_redis()
    if client is None or not entries:
        return
    try:
        pipe = client.pipeline(transaction=True)  # pyright: ignore[reportUnknownMemberType]
        for kind, (entry, ttl) in entries.items():
            pipe.set(entry_key(album_id, kind), encode(entry), ex=ttl)
        pipe.execute()
    except redis.RedisError:
        mark_redis_down()
        log.warning("could not write album %s to Redis; the database has it", album_id)


def forget(album_ids: list[int]) -> None:
    """Drop Redis entries (after a re-import changed these albums' Spotify ids)."""
    client = available_redis()
    if client is None or not album_ids:
        return
    keys = [entry_key(i, k) for i in album_ids for k in KINDS]
    try:
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    except redis.RedisError:
        mark_redis_down()
        log.warning("could not drop %d stale Redis entries", len(keys))
