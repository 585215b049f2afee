"""Celery tasks. They take album ids, never objects, and are safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Task, shared_task

from app.celery_setup import FETCH_ALBUM_TASK
from app.config import setting
from app.fetch import FetchRequest, RequeueError, fetch_album

log = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name=FETCH_ALBUM_TASK,
    acks_late=True,  # a worker killed mid-fetch leaves the task to be redelivered
    reject_on_worker_lost=True,
    max_retries=None,  # re-queues wait for the limiter or back off; fetch_album counts tries
    ignore_result=True,
)
def fetch_album_task(
    self: Task[Any, Any],
    album_id: int,
    refresh: bool = False,
    requested_at: float | None = None,
    failures: int = 0,
) -> str:
    """Fetch one album's cover and metadata from Spotify (one GET /albums/{id})."""
    request = FetchRequest(album_id, refresh, requested_at, failures)
    try:
        outcome = fetch_album(request, max_wait=float(setting("WORKER_MAX_WAIT")))
    except redis.RedisError as exc:
        # Locks, limiter and queue live in Redis: with it gone there is nothing to hold
        # or re-queue. The album's next view queues it again once Redis is back.
        log.warning("album %s: Redis unavailable (%s); left for the next view", album_id, exc)
        return "skipped"
    except RequeueError as exc:
        again = exc.request
        kwargs = {
            "refresh": again.refresh,
            "requested_at": again.requested_at,
            "failures": again.failures,
        }
        raise self.retry(countdown=exc.countdown, kwargs=kwargs) from exc
    return outcome.value
