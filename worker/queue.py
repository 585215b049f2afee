"""Queue fetches: one album a visitor is waiting for, or a background run.

The catalog's fragments and the commands call this after a lookup answered "miss";
the read path itself (`app.cache`) never imports the worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import redis
from celery import Celery
from flask import current_app

from app.cache.fetch_lock import (
    PROMOTE,
    TAKEN,
    client_misses,
    drop_queued,
    mark_queued,
    queue_first_try,
)
from app.cache.lookup import Lookup
from app.config import setting
from app.extensions import get_redis, redis_key
from app.ops import counters
from worker import lanes
from worker.job import FetchRequest
from worker.lanes import Lane
from worker.tasks import schedule_feeder, send_fetch_task


def _visitor_lane(album_id: int, client: str | None) -> tuple[Lane, bool]:
    """A visitor's miss: interactive, unless its client asked for too much lately or the
    interactive queue is full; then background, fetched only while still wanted."""
    window = float(setting("FETCH_CLIENT_WINDOW_SECONDS"))
    if client and client_misses(client, album_id, window) > int(setting("FETCH_CLIENT_CAP")):
        counters.incr(counters.FETCH_CAPPED)
        return "background", True
    try:
        depth = int(get_redis().llen(redis_key("interactive")))  # pyright: ignore[reportArgumentType]
    except redis.RedisError:
        depth = 0
    if depth >= int(setting("FETCH_QUEUE_MAX")):
        counters.incr(counters.FETCH_DEMOTED)
        return "background", True
    return "interactive", False


def enqueue_fetch(
    album_id: int, *, refresh: bool = False, lane: Lane = "interactive", client: str | None = None
) -> bool:
    """Queue one fetch unless one is queued or under way; False when none was queued.

    The "queued" lock is short (FETCH_LOCK_SECONDS): if the task is lost, the lock
    lapses and the next poll queues another; a worker that starts the task holds
    the album with a lease it renews (`app.cache.fetch_lock`). `client` (the visitor's
    address) has a cap on outstanding misses (FETCH_CLIENT_CAP), counted in Redis.
    """
    marked = mark_queued(album_id)
    if marked == PROMOTE:  # a viewer polls an album whose first try waits: now
        counters.incr(counters.FETCH_PROMOTED)
        return send_fetch_task(FetchRequest(album_id), lane="interactive")
    if marked != TAKEN:
        return False
    requested_at = time.time() if refresh else None
    wanted_only = False
    if lane == "interactive" and not refresh:
        lane, wanted_only = _visitor_lane(album_id, client)
    request = FetchRequest(album_id, refresh, requested_at)
    newest = lane == "interactive" and not refresh
    if newest:
        queue_first_try(album_id)  # before the task: it may start at once
    if not send_fetch_task(request, lane=lane, wanted_only=wanted_only, newest=newest):
        drop_queued(album_id)
        return False
    counters.incr(counters.FETCH_QUEUED)
    return True


def fetch_if_needed(result: Lookup, client: str | None = None) -> None:
    """Queue what a lookup asked for: a first fetch now, or a refresh of a stale copy
    (served meanwhile) in the background lane."""
    if result.fetch == "miss":
        enqueue_fetch(result.album_id, client=client)
    elif result.fetch == "refresh":
        enqueue_fetch(result.album_id, refresh=True, lane="background")


def start_background_run(album_ids: Iterable[int]) -> int:
    """Refresh these albums in the background lane, a few at a time; returns how many.

    No lock is taken: a visitor who views one of them meanwhile queues it in the
    interactive lane at once, and its background task then finds it fresh.
    """
    added = lanes.add_to_run(get_redis(), album_ids)
    schedule_feeder()
    return added


def cancel_background_run() -> int:
    """Stop the background run: drop what waits, purge the lane. Interactive work stays."""
    dropped = lanes.cancel(get_redis())
    celery: Celery[Any] = current_app.extensions["celery"]
    with celery.connection_for_write() as connection:
        channel: Any = connection.default_channel
        dropped += int(channel.queue_purge("background") or 0)
    return dropped


def keep_feeding() -> None:
    """A run whose feeder was lost with its worker gets a new one (heartbeat calls this)."""
    if lanes.active(get_redis()):
        schedule_feeder()
