"""Celery tasks. They take album ids, never objects, and are safe to run twice."""

from __future__ import annotations

import logging
from typing import Any, cast

import redis
from celery import Celery, Task, shared_task
from flask import current_app

from app.config import setting
from app.extensions import get_redis
from worker import lanes
from worker.fetch import fetch_album
from worker.job import FetchRequest, Outcome, RequeueError
from worker.lanes import Lane
from worker.service import spotify_service

log = logging.getLogger(__name__)
# The names messages carry: stable, so tasks queued before a deploy still route.
FETCH_ALBUM_TASK = "worker.tasks.fetch_album"
FEED_BACKGROUND_TASK = "worker.tasks.feed_background"
FEED_INTERVAL_SECONDS = 0.5
# A background task waits this little for a token: the lane only spends what
# visitors leave, and a waiting task would hold a worker thread a visitor may need.
BACKGROUND_MAX_WAIT = 0.2
BUDGET_RECHECK_SECONDS = 300.0  # a paused run looks at the day's budget this often


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
    lane: Lane = "interactive",
    in_run: bool = False,
) -> str:
    """Fetch one album's cover and metadata from Spotify (one GET /albums/{id})."""
    if in_run and not lanes.in_lane(get_redis(), album_id):
        # The run was cancelled while this task waited (a retry countdown, a prefetch).
        return Outcome.SKIPPED.value
    request = FetchRequest(album_id, refresh, requested_at, failures)
    background = lane == "background"
    max_wait = BACKGROUND_MAX_WAIT if background else float(setting("WORKER_MAX_WAIT"))
    try:
        outcome = fetch_album(request, max_wait=max_wait, send=send_refresh_task, lane=lane)
    except redis.RedisError as exc:
        # Locks, limiter and queue live in Redis: with it gone there is nothing to hold
        # or re-queue. The album's next view queues it again once Redis is back.
        log.warning("album %s: Redis unavailable (%s); left for the next view", album_id, exc)
        return Outcome.SKIPPED.value
    except RequeueError as exc:
        kwargs = _task_kwargs(exc.request, lane, in_run)
        raise self.retry(countdown=exc.countdown, kwargs=kwargs, queue=lane) from exc
    if in_run and outcome == Outcome.POSTPONED:
        lanes.postpone(get_redis(), album_id)  # fed again once the day's budget allows
    elif in_run:
        lanes.finished(get_redis(), album_id)
    return outcome.value


@shared_task(name=FEED_BACKGROUND_TASK, ignore_result=True)
def feed_background_task() -> int:
    """Move the next few albums of the background run into the background lane.

    Runs every FEED_INTERVAL_SECONDS while the run lasts; the lane never holds more
    than BACKGROUND_WINDOW albums, so interactive work never waits behind a long queue.
    """
    client = get_redis()
    paused = _budget_pause()
    if paused:
        # Today's background share is spent: feed nothing until the oldest calls leave the
        # window (visitors keep the rest of the budget); the run goes on then.
        lanes.renew_feeder(client, paused + lanes.FEEDER_TTL_SECONDS)
        _task(feed_background_task).apply_async(countdown=paused)
        return 0
    lanes.renew_feeder(client)
    requested_at = lanes.started_at(client)
    fed = lanes.take_for_lane(client, int(setting("BACKGROUND_WINDOW")))
    for album_id in fed:
        request = FetchRequest(album_id, refresh=True, requested_at=requested_at)
        send_fetch_task(request, lane="background", in_run=True)
    if lanes.active(client):
        _task(feed_background_task).apply_async(countdown=FEED_INTERVAL_SECONDS)
    else:
        lanes.end_run(client)
    return len(fed)


def _budget_pause() -> float:
    """Seconds the background run waits for the album lookups' daily budget (0: none)."""
    albums = spotify_service().quota.bucket_usage("albums")
    if albums.background_left > 0:
        return 0.0
    return min(BUDGET_RECHECK_SECONDS, max(1.0, albums.oldest_leaves_in or 1.0))


def _task_kwargs(request: FetchRequest, lane: Lane, in_run: bool) -> dict[str, Any]:
    """`fetch_album_task`'s keyword arguments for `request` (what its messages carry)."""
    kwargs: dict[str, Any] = {"refresh": request.refresh, "requested_at": request.requested_at}
    if request.failures:
        kwargs["failures"] = request.failures
    kwargs["lane"] = lane
    if in_run:
        kwargs["in_run"] = True
    return kwargs


def _task(task: Any) -> Task[Any, Any]:
    """A task as registered on this Flask app's Celery: the decorated function alone
    would resolve to the process's default Celery app, the last one created."""
    celery: Celery[Any] = current_app.extensions["celery"]
    return celery.tasks[cast(Task[Any, Any], task).name]


def send_fetch_task(
    request: FetchRequest,
    *,
    countdown: float = 0.0,
    lane: Lane = "interactive",
    in_run: bool = False,
) -> bool:
    """Put one fetch task on its lane's queue; False (logged) when the broker refuses it."""
    album_id = request.album_id
    kwargs = _task_kwargs(request, lane, in_run)
    options: dict[str, Any] = {"countdown": countdown} if countdown else {}
    try:
        _task(fetch_album_task).apply_async(
            (album_id,),
            kwargs,
            queue=lane,
            retry=False,  # a web request must not hang on a broken broker; the next poll retries
            **options,
        )
    except Exception:
        log.exception("could not queue a fetch for album %s", album_id)
        return False
    return True


def send_refresh_task(album_id: int, requested_at: float, countdown: float) -> bool:
    """An album a batch took but could not fetch: its own task, a refresh as of now."""
    return send_fetch_task(FetchRequest(album_id, True, requested_at), countdown=countdown)


def schedule_feeder() -> bool:
    """Start a feeder unless one is scheduled (a run started, or its feeder was lost)."""
    client = get_redis()
    if not lanes.claim_feeder(client):
        return False
    try:
        _task(feed_background_task).apply_async()
    except Exception:
        client.delete(lanes.feeder_key())
        log.exception("could not schedule the background feeder")
        return False
    return True
