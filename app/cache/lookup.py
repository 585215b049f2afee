"""Two-tier cache read path: Redis, then the database row (which backfills Redis).

Web requests call only this package; it never calls Spotify. A lookup that finds
nothing usable says so (`Lookup.fetch`), and the caller asks the worker package to
queue a fetch (`worker.queue.fetch_if_needed`), so the read path never imports the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

import redis
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.cache.entries import entries_from_row, is_stale, write_entries
from app.cache.fetch_lock import fetch_scheduled
from app.cache.keys import Kind, decode, encode, entry_key
from app.cache.states import as_datetime, row_state, usable_images
from app.config import setting
from app.extensions import available_redis, db, mark_redis_down, redis_key
from app.models import Album
from app.ops import counters
from app.spotify.limiter import cooldown_remaining, limiter_key
from app.spotify.quota import lock_key as quota_lock_key

Status = Literal["ready", "pending", "unavailable", "no_spotify"]
Reason = Literal["not_found", "error"]
Fetch = Literal["miss", "refresh"]


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the cover or metadata route answers for one album."""

    album_id: int
    status: Status
    data: dict[str, Any] | None = None
    reason: Reason | None = None
    retry_after: float | None = None
    # Set when a fetch should be queued: nothing cached ("miss"), or a stale copy
    # served while it is refreshed behind the scenes ("refresh").
    fetch: Fetch | None = None
    spotify_id: str | None = None  # the album's Spotify id this answer is for


def _unavailable_error(album_id: int, retry_after: float, spotify_id: str | None) -> Lookup:
    return Lookup(
        album_id, "unavailable", reason="error", retry_after=retry_after, spotify_id=spotify_id
    )


def _from_entry(album_id: int, kind: Kind, entry: dict[str, Any]) -> Lookup | None:
    """A Lookup from a Redis entry, or None when the entry cannot be used."""
    status = entry.get("status")
    spotify_id = entry.get("spotify_id")
    sid = spotify_id if isinstance(spotify_id, str) else None
    if status == "ready":
        if kind == "cover" and not usable_images(entry.get("images"), entry.get("cover_url")):
            return None  # no image a page may show (the allow-list changed since)
        return Lookup(album_id, "ready", entry, spotify_id=sid)
    if status == "not_found":
        return Lookup(album_id, "unavailable", reason="not_found", spotify_id=sid)
    if status == "error":
        retry_at = as_datetime(entry.get("retry_at"))
        now = datetime.now(UTC)
        if retry_at is not None and retry_at > now:
            return _unavailable_error(album_id, (retry_at - now).total_seconds(), sid)
    return None


def _cooldown_remaining(client: redis.Redis | None, linked: bool) -> float:
    """Seconds until Spotify may be called for this album: the shared 429 cooldown, and
    for an album with a link, a daily-quota lock of the album lookups."""
    if client is None:
        return 0.0
    namespace = redis_key("")
    try:
        wait = cooldown_remaining(client, limiter_key(namespace, "cooldown"))
        if linked:
            wait = max(wait, cooldown_remaining(client, quota_lock_key(namespace, "albums")))
    except redis.RedisError:
        mark_redis_down()
        return 0.0
    return wait


# GET an entry and count a hit in one command (a pipeline costs more client time).
_GET_COUNTING = """
local value = redis.call('GET', KEYS[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return value
"""


_NO_ROW = object()  # the album does not exist (its Spotify link may be None)


def _row_spotify_id(album_id: int) -> object:
    """The row's Spotify link (None without one), or _NO_ROW."""
    row = db.session.execute(
        select(Album.spotify_album_id).where(Album.id == album_id)
    ).one_or_none()
    return _NO_ROW if row is None else row[0]


def _from_redis(
    client: redis.Redis, album_id: int, kind: Kind, spotify_id: str | None
) -> Lookup | None:
    """The Redis entry, if it is for the row's Spotify id.

    An entry for another Spotify id is another catalog's (a database recreated under
    the same REDIS_PREFIX) or an old link's: never served. Pages pass the id they were
    rendered with; without one, the row is asked (one primary-key read).
    """
    # One round trip: the entry, and the hit counted in advance, since nearly every
    # entry asked for is served; the rare unusable one takes its count back.
    hit = counters.hit_name("redis", kind)
    raw = cast(
        bytes | None,
        client.eval(_GET_COUNTING, 2, entry_key(album_id, kind), counters.stats_key(), hit),  # pyright: ignore[reportUnknownMemberType]
    )
    entry = decode(raw)
    found: Lookup | None = None
    if entry:
        expected = spotify_id or _row_spotify_id(album_id)
        if expected is not _NO_ROW and entry.get("spotify_id") == expected:
            found = _from_entry(album_id, kind, entry)
    if found is None:
        counters.incr(hit, -1)
    return found


def lookup(album_id: int, kind: Kind, spotify_id: str | None = None) -> Lookup | None:
    """Cover or metadata of an album; None when there is no such album.

    `spotify_id`: the Spotify id the caller's page shows for this album, if it knows it.
    A failing album whose fetch is queued or running again (a "Try again", its retry
    time come) is pending: the fragment keeps polling for the answer.
    """
    found = _lookup(album_id, kind, spotify_id)
    failing = found is not None and found.status == "unavailable" and found.reason == "error"
    if found is not None and failing and fetch_scheduled(album_id):
        poll = float(setting("COVER_POLL_SECONDS"))
        return Lookup(album_id, "pending", retry_after=poll, spotify_id=found.spotify_id)
    return found


def _lookup(album_id: int, kind: Kind, spotify_id: str | None) -> Lookup | None:
    client = available_redis()
    if client is not None:
        try:
            found = _from_redis(client, album_id, kind, spotify_id)
        except redis.RedisError:
            mark_redis_down()  # Redis is down: answer from the database
            found, client = None, None
        if found is not None:
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
    sid = album.spotify_album_id
    if row_state(album, kind).state == "no_spotify":
        return Lookup(album_id, "no_spotify", spotify_id=sid)  # looked for: not on Spotify
    entries = entries_from_row(album)
    if kind in entries:
        entry = entries[kind][0]
        write_entries(album_id, entries)  # backfill the hot cache
        result = _from_entry(album_id, kind, decode(encode(entry)) or {})
        if result is not None:
            counters.count_hit("db", kind)
            stale = is_stale(entry.get("cached_at"), kind) and not entry.get("pinned")
            if result.status == "ready" and stale:
                # Stale-while-revalidate: serve what we have, refresh behind the scenes.
                return Lookup(album_id, "ready", result.data, fetch="refresh", spotify_id=sid)
            return result

    counters.count_miss(kind)
    cooldown = _cooldown_remaining(client, bool(album.spotify_id))
    if cooldown > float(setting("REQUEUE_MAX_SECONDS")):
        # Spotify asked us to stay away for long (e.g. the daily quota): say so now.
        return _unavailable_error(album_id, cooldown, sid)
    poll = float(setting("COVER_POLL_SECONDS"))
    wait = max(poll, cooldown)
    return Lookup(album_id, "pending", retry_after=wait, fetch="miss", spotify_id=sid)
