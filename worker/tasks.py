"""Celery tasks. They take album ids, never objects, and are safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from app.celery_setup import FETCH_ALBUM_TASK
from app.config import setting
from app.fetch import RequeueError, fetch_album


@shared_task(
    bind=True,
    name=FETCH_ALBUM_TASK,
    acks_late=True,  # a worker killed mid-fetch leaves the task to be redelivered
    reject_on_worker_lost=True,
    max_retries=None,  # re-queues wait for the limiter; they are not failures
    ignore_result=True,
)
def fetch_album_task(self: Task[Any, Any], album_id: int, refresh: bool = False) -> str:
    """Fetch one album's cover and metadata from Spotify (one GET /albums/{id})."""
    try:
        outcome = fetch_album(album_id, refresh=refresh, max_wait=float(setting("WORKER_MAX_WAIT")))
    except RequeueError as exc:
        raise self.retry(countdown=exc.countdown) from exc
    return outcome.value
