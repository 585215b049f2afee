"""Fetch one album from Spotify under the global limiter and store the result.

Used by the Celery task and by `flask refresh-cache`. Waiting is bounded: a caller
says how long it may wait for the limiter; a longer wait raises RequeueError (the
worker re-queues the task with that countdown) or, past REQUEUE_MAX_SECONDS,
records a temporary failure so the next view tries again.

Every fetch first takes the album (a renewed lease, see `app.fetch_claims`), so a
duplicate task, a killed worker or a lost message never costs a second Spotify call
nor leaves an album waiting for a long lock to expire. Transient Spotify errors are
retried by re-queueing with exponential backoff and jitter, never back to back.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import cast

from flask import current_app
from redis import Redis
from sqlalchemy import select
from tenacity import RetryCallState, Retrying, wait_exponential, wait_random

from app import stats
from app.cache import is_stale, send_fetch_task
from app.cache_keys import PENDING_KEY
from app.cache_store import store_album, store_failure, store_not_found
from app.config import setting
from app.extensions import db, get_redis
from app.fetch_claims import Claim
from app.models import Album, as_utc
from app.spotify.client import MAX_BATCH, SpotifyClient, SpotifySettings
from app.spotify.errors import (
    AlbumNotFoundError,
    BatchUnavailableError,
    RateLimitedError,
    SpotifyError,
    TransientError,
)
from app.spotify.limiter import Limiter, LimiterBusyError

log = logging.getLogger(__name__)
# A batch worker waits at most this long for 20 albums to be queued before it calls.
BATCH_FILL_SECONDS = 0.2
BATCH_QUIET_MS = 60  # ...or until no new album has been queued for this long


class Outcome(enum.StrEnum):
    REFRESHED = "refreshed"
    CACHED = "cached"  # already fresh: no call made
    NOT_FOUND = "not_found"
    FAILED = "failed"
    DEFERRED = "deferred"  # Spotify asked us to wait long; retried on a later view
    SKIPPED = "skipped"  # no such album, no Spotify link, or another worker has it


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One album to fetch, as a task carries it across re-queues."""

    album_id: int
    refresh: bool = False
    # When the refresh was asked for (epoch seconds): data cached after it is fresh
    # enough, so a duplicate refresh task makes no second call.
    requested_at: float | None = None
    failures: int = 0  # transient failures so far, across re-queues
    attempts: int | None = None  # tries for transient errors; None: SPOTIFY_RETRY_ATTEMPTS


class RequeueError(Exception):
    """Try this fetch again in `countdown` seconds, as `request` says."""

    def __init__(self, countdown: float, reason: str, request: FetchRequest) -> None:
        super().__init__(f"re-queue in {countdown:.1f} s ({reason})")
        self.countdown = countdown
        self.request = request


@dataclass(slots=True)
class _CallBudget:
    max_wait: float
    prepaid: int = 0  # calls already holding a limiter slot (see SpotifyService.reserved)


class SpotifyService:
    """The limiter and client of this process; each caller says how long it may wait.

    The wait budget lives in a context variable, so threads of one worker (the
    threads pool) never see each other's budget.
    """

    def __init__(self, limiter: Limiter, settings: SpotifySettings, redis_client: Redis) -> None:
        self.limiter = limiter
        self._budget: ContextVar[_CallBudget | None] = ContextVar("spotify_budget", default=None)
        self.client = SpotifyClient(
            settings,
            redis_client=redis_client,
            guard=self.guard,
            on_call=lambda outcome: stats.incr(f"spotify:{outcome}"),
        )

    @contextmanager
    def waiting_at_most(self, max_wait: float) -> Generator[None]:
        """Calls made inside wait at most `max_wait` seconds each for the limiter."""
        token = self._budget.set(_CallBudget(max_wait))
        try:
            yield
        finally:
            self._budget.reset(token)

    def _current(self) -> _CallBudget:
        budget = self._budget.get()
        if budget is None:
            raise RuntimeError("Spotify calls need a wait budget: use waiting_at_most()")
        return budget

    @contextmanager
    def guard(self) -> Generator[None]:
        """Wraps every HTTP call: a limiter slot, and the time spent waiting for it."""
        budget = self._current()
        if budget.prepaid:
            budget.prepaid -= 1
            yield
            return
        with self._slot(budget.max_wait):
            yield

    @contextmanager
    def reserved(self) -> Generator[None]:
        """Wait for the limiter first; the next call inside uses that slot.

        A batch worker waits, then picks the albums to fetch, so the batch fills up
        with everything that was queued while it waited.
        """
        budget = self._current()
        with self._slot(budget.max_wait):
            budget.prepaid = 1
            try:
                yield
            finally:
                budget.prepaid = 0

    @contextmanager
    def _slot(self, max_wait: float) -> Generator[None]:
        started = time.monotonic()
        with self.limiter.slot(max_wait):
            stats.add_seconds("limiter:wait_seconds", time.monotonic() - started)
            yield


def _service() -> SpotifyService:
    service: SpotifyService | None = current_app.extensions.get("spotify")
    if service is None:
        redis_client = get_redis()
        limiter = Limiter(
            redis_client,
            rate_per_sec=float(setting("SPOTIFY_RATE_PER_SEC")),
            burst=int(setting("SPOTIFY_BURST")),
            max_in_flight=int(setting("SPOTIFY_MAX_CONCURRENT")),
            lease_seconds=float(setting("SPOTIFY_TIMEOUT")) + 5,
        )
        settings = SpotifySettings(
            client_id=setting("SPOTIFY_CLIENT_ID"),
            client_secret=setting("SPOTIFY_CLIENT_SECRET"),
            api_base=setting("SPOTIFY_API_BASE"),
            token_url=setting("SPOTIFY_TOKEN_URL"),
            timeout=float(setting("SPOTIFY_TIMEOUT")),
            batch=setting("SPOTIFY_BATCH"),
        )
        service = SpotifyService(limiter, settings, redis_client)
        current_app.extensions["spotify"] = service
    return service


def transient_backoff(failures: int) -> float:
    """Seconds before the next try after `failures` transient failures in a row.

    Exponential from SPOTIFY_RETRY_BASE_SECONDS up to SPOTIFY_RETRY_MAX_SECONDS, plus
    up to one base of jitter so albums that failed together do not retry together.
    """
    base = float(setting("SPOTIFY_RETRY_BASE_SECONDS"))
    strategy = wait_exponential(multiplier=base, max=float(setting("SPOTIFY_RETRY_MAX_SECONDS")))
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = max(1, failures)
    return (strategy + wait_random(0, base))(state)


def _settle(exc: Exception, request: FetchRequest, spotify_id: str) -> Outcome | RequeueError:
    """What a failed call means for one album: an outcome (stored) or a re-queue."""
    album_id = request.album_id
    wait: float | None = None
    if isinstance(exc, LimiterBusyError):
        wait, reason = exc.retry_in, f"limiter: {exc.reason}"
    elif isinstance(exc, RateLimitedError):
        wait, reason = exc.retry_after, str(exc)
    elif isinstance(exc, AlbumNotFoundError):
        store_not_found(album_id, spotify_id, str(exc))
        return Outcome.NOT_FOUND
    elif isinstance(exc, TransientError):
        failures = request.failures + 1
        stats.incr("fetch:transient_failures")
        attempts = request.attempts or int(setting("SPOTIFY_RETRY_ATTEMPTS"))
        if failures < max(1, attempts):
            countdown = transient_backoff(failures)
            log.info("album %s: %s; try %d again in %.1f s", album_id, exc, failures, countdown)
            return RequeueError(countdown, str(exc), replace(request, failures=failures))
        reason = f"{exc} ({failures} tries)"
    else:
        reason = str(exc)
    if wait is not None:
        if wait <= float(setting("REQUEUE_MAX_SECONDS")):
            return RequeueError(wait, reason, request)
        store_failure(album_id, spotify_id, reason, wait)
        return Outcome.DEFERRED
    log.warning("album %s: %s", album_id, reason)
    store_failure(album_id, spotify_id, reason, float(setting("ERROR_RETRY_SECONDS")))
    return Outcome.FAILED


def _note_rate_limit(service: SpotifyService, exc: Exception) -> None:
    if isinstance(exc, RateLimitedError):
        service.limiter.set_cooldown(exc.retry_after)
        stats.incr("spotify:429")
        log.warning("Spotify 429: all workers pause for %.0f s", exc.retry_after)


# Pop the oldest ARGV[1] queued albums once that many are queued, or once the oldest
# has waited ARGV[2] ms and no album arrived for ARGV[3] ms (tiles still scrolling in
# join the batch), or at the latest after ARGV[4] ms. false = not yet.
_POP_BATCH = """
local n = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #oldest == 0 then return {} end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local waited = now - tonumber(oldest[2])
local quiet = now - tonumber(newest[2])
if redis.call('ZCARD', KEYS[1]) >= n
   or (waited >= tonumber(ARGV[2]) and quiet >= tonumber(ARGV[3]))
   or waited >= tonumber(ARGV[4]) then
  return redis.call('ZPOPMIN', KEYS[1], n)
end
return false
"""


def _pop_batch(limit: int) -> list[int]:
    """Up to `limit` other queued albums to fetch along (waits briefly for a full batch).

    They are only candidates: the caller takes them (`Claim.take`) before fetching,
    and hands back to a new task whatever it does not fetch.
    """
    pop = get_redis().register_script(_POP_BATCH)
    wait_ms = int(BATCH_FILL_SECONDS * 1000)
    give_up = time.monotonic() + 10 * BATCH_FILL_SECONDS
    while True:
        args = [limit, wait_ms, BATCH_QUIET_MS, wait_ms * 4]
        popped = cast(list[bytes] | None, pop(keys=[PENDING_KEY], args=args))
        if popped is not None:
            return [int(member) for member in popped[::2]]  # member, score, member, …
        if time.monotonic() > give_up:
            wait_ms = 0  # a clock oddity must not keep a worker here
        time.sleep(0.02)


def _needing_fetch(album_ids: list[int]) -> dict[int, str]:
    """Spotify ids of these albums that have a link and no fresh cache."""
    if not album_ids:
        return {}
    rows = db.session.execute(
        select(
            Album.id,
            Album.spotify_album_id,
            Album.spotify_cover_cached_at,
            Album.spotify_metadata_cached_at,
        ).where(Album.id.in_(album_ids))
    ).all()
    db.session.rollback()  # release the connection while Spotify answers
    return {
        album_id: spotify_id
        for album_id, spotify_id, cover_at, metadata_at in rows
        if spotify_id and is_stale(cover_at or metadata_at, "cover")
    }


def _hand_back(claim: Claim, albums: dict[int, str], countdown: float) -> None:
    """Albums taken from the batch queue but not fetched: each gets a task of its own."""
    requested_at = time.time()
    for album_id in albums:
        sent = send_fetch_task(
            album_id, refresh=True, requested_at=requested_at, countdown=countdown
        )
        if sent:
            claim.requeued([album_id], countdown)
        else:
            claim.release([album_id])  # the next poll queues it again


def _fetch_batch(
    service: SpotifyService, claim: Claim, request: FetchRequest, spotify_id: str
) -> Outcome | None:
    """One several-albums call for this album and up to 19 other queued albums.

    None means the batch endpoint is unavailable: fetch this album on its own.
    """
    others: dict[int, str] = {}
    try:
        with service.reserved():  # wait for the limiter first, then fill the batch
            taken = claim.take(_pop_batch(MAX_BATCH - 1))
            others = _needing_fetch([i for i in taken if i != request.album_id])
            claim.release(set(taken) - set(others))
            wanted = {request.album_id: spotify_id} | others
            found = service.client.albums(list(wanted.values()))
    except BatchUnavailableError:
        _hand_back(claim, others, 0)
        return None
    except (SpotifyError, LimiterBusyError) as exc:
        _note_rate_limit(service, exc)
        for other_id, other_spotify_id in others.items():
            settled = _settle(exc, FetchRequest(other_id), other_spotify_id)
            if isinstance(settled, RequeueError):
                _hand_back(claim, {other_id: other_spotify_id}, settled.countdown)
        settled = _settle(exc, request, spotify_id)
        if isinstance(settled, RequeueError):
            raise settled from exc
        return settled
    for each_id, each_spotify_id in ({request.album_id: spotify_id} | others).items():
        data = found.get(each_spotify_id)
        if data is None:
            store_not_found(each_id, each_spotify_id, "Spotify has no album with this id")
        else:
            store_album(each_id, each_spotify_id, data)
        claim.release([each_id])
    return Outcome.REFRESHED if found.get(spotify_id) is not None else Outcome.NOT_FOUND


def _fresh(album: Album, request: FetchRequest) -> bool:
    cached_at = album.spotify_cover_cached_at or album.spotify_metadata_cached_at
    if not request.refresh:
        return not is_stale(cached_at, "cover")
    if request.requested_at is None or cached_at is None:
        return False
    # A refresh asked for at T is done by any fetch that finished after T.
    return as_utc(cached_at).timestamp() >= request.requested_at


def _fetch_taken(service: SpotifyService, claim: Claim, request: FetchRequest) -> Outcome:
    album = db.session.get(Album, request.album_id, populate_existing=True)
    if album is None or not album.spotify_album_id:
        return Outcome.SKIPPED
    if _fresh(album, request):
        return Outcome.CACHED
    spotify_id = album.spotify_album_id
    db.session.rollback()  # release the database connection while we wait on Spotify
    if service.client.batch_available():
        outcome = _fetch_batch(service, claim, request, spotify_id)
        if outcome is not None:
            return outcome
    try:
        data = service.client.album(spotify_id)
    except (SpotifyError, LimiterBusyError) as exc:
        _note_rate_limit(service, exc)
        settled = _settle(exc, request, spotify_id)
        if isinstance(settled, RequeueError):
            raise settled from exc
        return settled
    store_album(request.album_id, spotify_id, data)
    return Outcome.REFRESHED


def fetch_album(request: FetchRequest, *, max_wait: float = 2.0) -> Outcome:
    """Fetch and store one album; idempotent (a fresh cache means no call).

    With batch lookups available (extended-quota apps), one call also fetches up
    to 19 other queued albums; their own tasks then find them cached.
    Raises RequeueError when the fetch should run again later; the album's lock
    then says "queued" until then.
    """
    service = _service()
    lease, grace = float(setting("FETCH_LEASE_SECONDS")), float(setting("FETCH_LOCK_SECONDS"))
    with Claim(get_redis(), lease, grace) as claim, service.waiting_at_most(max_wait):
        if not claim.take([request.album_id]):
            return Outcome.SKIPPED  # another worker is fetching it right now
        try:
            return _fetch_taken(service, claim, request)
        except RequeueError as exc:
            claim.requeued([request.album_id], exc.countdown)
            raise
