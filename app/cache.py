"""Two-tier cache read path: Redis, then the database row, then one queued fetch.

Web requests call only this module; it never calls Spotify. A miss takes a
single-flight lock (`SET NX EX`) and queues one Celery task, so any number of
viewers of one album cause one Spotify call.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import redis
from celery import Celery
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app import stats
from app.cache_keys import (
    KINDS,
    PENDING_KEY,
    QUEUE_SCRIPT,
    Kind,
    decode,
    encode,
    entry_key,
    image_allowed,
    lock_key,
)
from app.celery_setup import FETCH_ALBUM_TASK
from app.config import setting
from app.extensions import available_redis, db, mark_redis_down
from app.models import Album, FetchStatus, as_utc
from app.spotify.limiter import cooldown_remaining

log = logging.getLogger(__name__)
Status = Literal["ready", "pending", "unavailable", "no_spotify"]
Reason = Literal["not_found", "error"]


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the cover or metadata route answers for one album."""

    album_id: int
    status: Status
    data: dict[str, Any] | None = None
    reason: Reason | None = None
    retry_after: float | None = None


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str):
        try:
            return _as_datetime(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _ttl(kind: Kind) -> int:
    return int(setting("COVER_CACHE_TTL" if kind == "cover" else "METADATA_CACHE_TTL"))


def is_stale(cached_at: Any, kind: Kind) -> bool:
    when = _as_datetime(cached_at)
    return when is None or datetime.now(UTC) - when > timedelta(seconds=_ttl(kind))


def _unavailable_error(album_id: int, retry_after: float) -> Lookup:
    return Lookup(album_id, "unavailable", reason="error", retry_after=retry_after)


def _from_entry(album_id: int, kind: Kind, entry: dict[str, Any]) -> Lookup | None:
    """A Lookup from a Redis entry, or None when the entry cannot be used."""
    status = entry.get("status")
    if status == "ready":
        if kind == "cover":
            allowed: tuple[str, ...] = setting("SPOTIFY_IMAGE_HOSTS")
            if not image_allowed(str(entry.get("cover_url", "")), allowed):
                return None
        return Lookup(album_id, "ready", entry)
    if status == "not_found":
        return Lookup(album_id, "unavailable", reason="not_found")
    if status == "error":
        retry_at = _as_datetime(entry.get("retry_at"))
        now = datetime.now(UTC)
        if retry_at is not None and retry_at > now:
            wait = (retry_at - now).total_seconds()
            return _unavailable_error(album_id, wait)
    return None


def entries_from_row(album: Album) -> dict[Kind, tuple[dict[str, Any], int]]:
    """The Redis entries (with their TTLs in seconds) that a database row implies."""
    entries: dict[Kind, tuple[dict[str, Any], int]] = {}
    base = {"album_id": album.id, "spotify_id": album.spotify_album_id}
    if album.spotify_cover_url and album.spotify_cover_cached_at:
        entries["cover"] = (
            base
            | {
                "status": "ready",
                "alt": album.cover_alt,
                "cover_url": album.spotify_cover_url,
                "images": album.spotify_images or [],
                "cached_at": album.spotify_cover_cached_at,
            },
            _ttl("cover"),
        )
    if album.spotify_metadata_json is not None and album.spotify_metadata_cached_at:
        entries["metadata"] = (
            base
            | {
                "status": "ready",
                "metadata": album.spotify_metadata_json,
                "cached_at": album.spotify_metadata_cached_at,
            },
            _ttl("metadata"),
        )
    now = datetime.now(UTC)
    retry_at = _as_datetime(album.spotify_next_retry_at)
    negative: dict[str, Any] | None = None
    if album.spotify_fetch_status == FetchStatus.NOT_FOUND:
        negative = base | {"status": "not_found"}
    elif album.spotify_fetch_status == FetchStatus.ERROR and retry_at and retry_at > now:
        negative = base | {"status": "error", "retry_at": retry_at}
    elif album.spotify_fetch_status == FetchStatus.OK and "metadata" in entries:
        # Spotify answered but had no usable image: the cover does not exist.
        negative = base | {"status": "not_found"}
    if negative is not None:
        ttl = (
            int((retry_at - now).total_seconds()) + 1
            if retry_at and retry_at > now
            else int(setting("NOT_FOUND_TTL"))
        )
        for kind in KINDS:
            entries.setdefault(kind, (negative, max(1, ttl)))
    return entries


def write_entries(album_id: int, entries: dict[Kind, tuple[dict[str, Any], int]]) -> None:
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


def send_fetch_task(
    album_id: int,
    *,
    refresh: bool = False,
    requested_at: float | None = None,
    countdown: float = 0.0,
) -> bool:
    """Put one fetch task on the queue; False (logged) when the broker refuses it."""
    celery: Celery[Any] = current_app.extensions["celery"]
    kwargs: dict[str, Any] = {"refresh": refresh, "requested_at": requested_at}
    try:
        celery.send_task(
            FETCH_ALBUM_TASK,
            args=[album_id],
            kwargs=kwargs,
            countdown=countdown or None,
            retry=False,  # a web request must not hang on a broken broker; the next poll retries
        )
    except Exception:
        log.exception("could not queue a fetch for album %s", album_id)
        return False
    return True


# Delete the lock only while it still says "queued": a worker may have taken the album
# meanwhile, and its lease must stay.
_DROP_QUEUED = """
if redis.call('GET', KEYS[1]) == 'queued' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


def drop_queued_lock(album_id: int) -> None:
    """The task for this album could not be sent: let the next poll queue one."""
    client = available_redis()
    if client is None:
        return
    with contextlib.suppress(redis.RedisError):
        client.eval(_DROP_QUEUED, 2, lock_key(album_id), PENDING_KEY, album_id)


def enqueue_fetch(album_id: int, *, refresh: bool = False) -> bool:
    """Queue one fetch unless one is queued or under way (single flight).

    The "queued" lock is short (FETCH_LOCK_SECONDS): if the task is lost, the lock
    lapses and the next poll queues another; a worker that starts the task holds
    the album with a lease it renews (see app.fetch_claims).
    """
    client = available_redis()
    if client is None:
        return False
    try:
        if not client.set(lock_key(album_id), "queued", nx=True, ex=setting("FETCH_LOCK_SECONDS")):
            return False
        client.eval(QUEUE_SCRIPT, 1, PENDING_KEY, album_id)
    except redis.RedisError:
        mark_redis_down()
        return False  # no Redis means no broker either; the next poll tries again
    requested_at = time.time() if refresh else None
    if not send_fetch_task(album_id, refresh=refresh, requested_at=requested_at):
        drop_queued_lock(album_id)
        return False
    stats.incr("fetch:queued")
    return True


def _cooldown_remaining(client: redis.Redis | None) -> float:
    if client is None:
        return 0.0
    try:
        return cooldown_remaining(client)
    except redis.RedisError:
        mark_redis_down()
        return 0.0


def lookup(album_id: int, kind: Kind) -> Lookup | None:
    """Cover or metadata of an album; None when there is no such album."""
    client = available_redis()
    if client is not None:
        try:
            entry = decode(client.get(entry_key(album_id, kind)))  # pyright: ignore[reportArgumentType]
        except redis.RedisError:
            mark_redis_down()  # Redis is down: answer from the database
            entry, client = None, None
        found = _from_entry(album_id, kind, entry) if entry else None
        if found is not None:
            stats.incr(f"hit:redis:{kind}")
            return found

    # populate_existing: always the row as it is now, never a stale copy in the session.
    album = db.session.execute(
        select(Album)
        .where(Album.id == album_id)
        .options(joinedload(Album.artist))  # the cover entry's alt text names the artist
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if album is None:
        return None
    if not album.spotify_album_id:
        return Lookup(album_id, "no_spotify")
    entries = entries_from_row(album)
    if kind in entries:
        entry = entries[kind][0]
        write_entries(album_id, entries)  # backfill the hot cache
        result = _from_entry(album_id, kind, decode(encode(entry)) or {})
        if result is not None:
            stats.incr(f"hit:db:{kind}")
            if result.status == "ready" and is_stale(entry.get("cached_at"), kind):
                # Stale-while-revalidate: serve what we have, refresh behind the scenes.
                enqueue_fetch(album_id, refresh=True)
            return result

    stats.incr(f"miss:{kind}")
    cooldown = _cooldown_remaining(client)
    if cooldown > float(setting("REQUEUE_MAX_SECONDS")):
        # Spotify asked us to stay away for long (e.g. the daily quota): say so now.
        return _unavailable_error(album_id, cooldown)
    enqueue_fetch(album_id)
    poll = float(setting("COVER_POLL_SECONDS"))
    return Lookup(album_id, "pending", retry_after=max(poll, cooldown))
