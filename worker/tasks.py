"""Celery tasks. They take album ids, never objects, and are safe to run twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, cast

import redis
from celery import Celery, Task, shared_task
from flask import current_app

from app.cache.fetch_lock import (
    asked_again,
    defer_first_try,
    drop_queued,
    is_wanted,
    take_newest,
)
from app.config import setting
from app.extensions import get_redis, redis_key
from app.ops import counters
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
BUDGET_RECHECK_SECONDS = 300.0
# A sparing first try that found no token to spare waits this long for the viewer's
# first poll, which sends the fetch at once (tiles poll after 0.25 s, JSON clients after
# their Retry-After of 1 s); without a poll by then it is dropped.
FIRST_ASK_GRACE = 1.2  # a paused run looks at the day's budget this often


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
    wanted_only: bool = False,
    waited: bool = False,
    newest: bool = False,
) -> str:
    """Fetch one album's cover and metadata (one GET /albums/{id}, then other sources).

    A visitor's fetch (the interactive lane, or a miss moved to background because its
    client asked for too much) is made only while someone still waits for the album: a
    poll or a view within FETCH_WANTED_SECONDS. Otherwise it is dropped, costing
    nothing, and the album's next view queues it again. Until the album is asked for a
    second time (a tile polls within a quarter second; a script asking once never does)
    its fetch is sparing: it takes a token only from a full bucket, else it waits
    FIRST_ASK_GRACE for the poll, and without one it is dropped.

    A visitor's first try (`newest`) fetches the album queued last, not its own: the
    queue runs oldest first, and what a visitor has on screen now was asked for last.
    Its own album waits in the same set for a later first try."""
    if newest and lane == "interactive" and not refresh:
        album_id = take_newest(get_redis(), album_id, redis_key(""))
        if not album_id:
            return Outcome.SKIPPED.value  # its album is another task's (fetched or re-queued)
    options = TaskOptions(lane, in_run, wanted_only, waited)
    visitor = not refresh and (lane == "interactive" or wanted_only)
    sparing = visitor and lane == "interactive" and not _asked_again(album_id)
    if visitor and (not _wanted(album_id) or (sparing and waited)):
        drop_queued(album_id, redis_key(""), get_redis())
        counters.incr(counters.FETCH_DROPPED)
        return Outcome.DROPPED.value
    if in_run and not lanes.in_lane(get_redis(), album_id):
        # The run was cancelled while this task waited (a retry countdown, a prefetch).
        return Outcome.SKIPPED.value
    request = FetchRequest(album_id, refresh, requested_at, failures)
    background = lane == "background"
    max_wait = BACKGROUND_MAX_WAIT if background or sparing else float(setting("WORKER_MAX_WAIT"))
    try:
        outcome = fetch_album(
            request, max_wait=max_wait, send=send_refresh_task, lane=lane, sparing=sparing
        )
    except redis.RedisError as exc:
        # Locks, limiter and queue live in Redis: with it gone there is nothing to hold
        # or re-queue. The album's next view queues it again once Redis is back.
        log.warning("album %s: Redis unavailable (%s); left for the next view", album_id, exc)
        return Outcome.SKIPPED.value
    except RequeueError as exc:
        countdown = exc.countdown
        if sparing:  # no token to spare: the viewer's poll promotes it, else it is dropped
            if defer_first_try(get_redis(), album_id, FIRST_ASK_GRACE, redis_key("")):
                options, countdown = replace(options, waited=True), FIRST_ASK_GRACE
            else:
                countdown = 0.0  # polled meanwhile: a visitor's fetch like any other
        kwargs = _task_kwargs(exc.request, options)
        # The album fetched (a first try may have taken another than its message named).
        args = (exc.request.album_id,)
        raise self.retry(args=args, countdown=countdown, kwargs=kwargs, queue=lane) from exc
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


def _wanted(album_id: int) -> bool:
    window = float(setting("FETCH_WANTED_SECONDS"))
    return is_wanted(get_redis(), album_id, window, redis_key(""))


def _asked_again(album_id: int) -> bool:
    return asked_again(get_redis(), album_id, redis_key(""))


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """How a fetch task runs, as its messages carry it (besides the FetchRequest)."""

    lane: Lane = "interactive"
    in_run: bool = False  # part of a background run (worker.lanes)
    wanted_only: bool = False  # a visitor's miss moved to background: only while wanted
    waited: bool = False  # a sparing first try already waited for the viewer's poll
    newest: bool = False  # a visitor's first try: fetch the newest queued album instead


def _task_kwargs(request: FetchRequest, options: TaskOptions) -> dict[str, Any]:
    """`fetch_album_task`'s keyword arguments for `request` (what its messages carry)."""
    kwargs: dict[str, Any] = {"refresh": request.refresh, "requested_at": request.requested_at}
    if request.failures:
        kwargs["failures"] = request.failures
    kwargs["lane"] = options.lane
    defaults = TaskOptions()
    for name in ("in_run", "wanted_only", "waited", "newest"):
        if getattr(options, name) != getattr(defaults, name):
            kwargs[name] = getattr(options, name)
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
    wanted_only: bool = False,
    newest: bool = False,
) -> bool:
    """Put one fetch task on its lane's queue; False (logged) when the broker refuses it."""
    album_id = request.album_id
    kwargs = _task_kwargs(request, TaskOptions(lane, in_run, wanted_only, newest=newest))
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
