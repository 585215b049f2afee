"""Celery tasks. They take album ids, never objects, and are safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Celery, Task, shared_task
from flask import current_app

from app.config import setting
from worker.fetch import fetch_album
from worker.job import FetchRequest, RequeueError

log = logging.getLogger(__name__)
# The name messages carry: stable, so tasks queued before a deploy still route.
FETCH_ALBUM_TASK = "worker.tasks.fetch_album"


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
        max_wait = float(setting("WORKER_MAX_WAIT"))
        outcome = fetch_album(request, max_wait=max_wait, send=send_refresh_task)
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


def send_fetch_task(
    album_id: int,
    *,
    refresh: bool = False,
    requested_at: float | None = None,
    countdown: float = 0.0,
) -> bool:
    """Put one fetch task on the queue; False (logged) when the broker refuses it."""
    kwargs: dict[str, Any] = {"refresh": refresh, "requested_at": requested_at}
    options: dict[str, Any] = {"countdown": countdown} if countdown else {}
    # The task as registered on this Flask app's Celery: `fetch_album_task` alone would
    # resolve to the process's default Celery app, the last one created.
    celery: Celery[Any] = current_app.extensions["celery"]
    task = celery.tasks[fetch_album_task.name]
    try:
        task.apply_async(
            (album_id,),
            kwargs,
            retry=False,  # a web request must not hang on a broken broker; the next poll retries
            **options,
        )
    except Exception:
        log.exception("could not queue a fetch for album %s", album_id)
        return False
    return True


def send_refresh_task(album_id: int, requested_at: float, countdown: float) -> bool:
    """An album a batch took but could not fetch: its own task, a refresh as of now."""
    return send_fetch_task(album_id, refresh=True, requested_at=requested_at, countdown=countdown)
