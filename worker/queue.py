"""Queue a fetch for an album the read path found missing or stale (single flight).

The catalog's fragments and the commands call this after a lookup answered "miss";
the read path itself (`app.cache`) never imports the worker.
"""

from __future__ import annotations

import time

from app.cache.lookup import Lookup
from app.cache.queue import drop_queued_lock, mark_queued
from app.ops import counters
from worker.tasks import send_fetch_task


def enqueue_fetch(album_id: int, *, refresh: bool = False) -> bool:
    """Queue one fetch unless one is queued or under way; False when none was queued.

    The "queued" lock is short (FETCH_LOCK_SECONDS): if the task is lost, the lock
    lapses and the next poll queues another; a worker that starts the task holds
    the album with a lease it renews (see worker.claims).
    """
    if not mark_queued(album_id):
        return False
    requested_at = time.time() if refresh else None
    if not send_fetch_task(album_id, refresh=refresh, requested_at=requested_at):
        drop_queued_lock(album_id)
        return False
    counters.incr(counters.FETCH_QUEUED)
    return True


def fetch_if_needed(result: Lookup) -> None:
    """Queue what a lookup asked for: a first fetch, or a refresh of a stale copy."""
    if result.fetch is not None:
        enqueue_fetch(result.album_id, refresh=result.fetch == "refresh")
