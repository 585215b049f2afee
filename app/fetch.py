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
import threading
import time
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime

from flask import current_app
from redis import Redis
from sqlalchemy import select
from tenacity import RetryCallState, Retrying, wait_exponential, wait_random

from app import stats
from app.cache import drop_queued_lock, is_stale, send_fetch_task
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


_SERVICE_LOCK = threading.Lock()


def _service() -> SpotifyService:
    service: SpotifyService | None = current_app.extensions.get("spotify")
    if service is not None:
        return service
    with _SERVICE_LOCK:  # the threads pool: one service (one client, one token) per process
        service = current_app.extensions.get("spotify")
        if service is not None:
            return service
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


def _take_batch(claim: Claim, limit: int) -> list[int]:
    """The oldest queued albums, up to `limit`, taken (waits briefly for a full batch).

    Popping and taking are one Lua call, so no other task can slip in between and
    fetch one of them twice. Whatever is taken but not fetched is handed back.
    """
    wait_ms = int(BATCH_FILL_SECONDS * 1000)
    give_up = time.monotonic() + 10 * BATCH_FILL_SECONDS
    while True:
        taken = claim.take_oldest(limit, wait_ms, BATCH_QUIET_MS, wait_ms * 4)
        if taken is not None:
            return taken
        if time.monotonic() > give_up:
            wait_ms = 0  # a clock oddity must not keep a worker here
        time.sleep(0.02)


def _cached_at(album_ids: list[int]) -> dict[int, tuple[str, datetime | None]]:
    """Spotify id and cache time of these albums (those with a Spotify link)."""
    if not album_ids:
        return {}
    rows = db.session.execute(
        select(
            Album.id,
            Album.spotify_album_id,
            Album.spotify_cover_cached_at,
            Album.spotify_metadata_cached_at,
        ).where(Album.id.in_(album_ids), Album.spotify_album_id.is_not(None))
    ).all()
    db.session.rollback()  # release the connection while Spotify answers
    found: dict[int, tuple[str, datetime | None]] = {}
    for album_id, spotify_id, cover_at, metadata_at in rows:
        if spotify_id:
            found[album_id] = (spotify_id, cover_at or metadata_at)
    return found


def _fresh(cached_at: datetime | None, request: FetchRequest) -> bool:
    if not request.refresh:
        return not is_stale(cached_at, "cover")
    if request.requested_at is None or cached_at is None:
        return False
    # A refresh asked for at T is done by any fetch that finished after T.
    return as_utc(cached_at).timestamp() >= request.requested_at


def _hand_back(claim: Claim, albums: dict[int, str], countdown: float) -> None:
    """Albums taken from the batch queue but not fetched: each gets a task of its own."""
    requested_at = time.time()
    for album_id in albums:
        # "queued" before the task exists: a task sent first could start, find this
        # worker's lease, end, and leave the album locked with nobody coming.
        claim.requeued([album_id], countdown)
        if not send_fetch_task(
            album_id, refresh=True, requested_at=requested_at, countdown=countdown
        ):
            drop_queued_lock(album_id)  # the next poll queues it again


def _settle_batch_failure(
    service: SpotifyService,
    claim: Claim,
    exc: Exception,
    request: FetchRequest,
    wanted: dict[int, str],
) -> Outcome:
    """A failed several-albums call: hand the others back, settle (or re-queue) ours."""
    _note_rate_limit(service, exc)
    own_id = request.album_id
    for other_id, other_spotify_id in wanted.items():
        if other_id == own_id:
            continue
        settled = _settle(exc, FetchRequest(other_id), other_spotify_id)
        if isinstance(settled, RequeueError):
            _hand_back(claim, {other_id: other_spotify_id}, settled.countdown)
    if own_id not in wanted:
        # Ours was not in this call, but Spotify (or the limiter) says "not now" for all.
        wait = (
            _wait_of(exc)
            if isinstance(exc, LimiterBusyError | RateLimitedError)
            else transient_backoff(1)
        )
        raise RequeueError(wait, str(exc), request) from exc
    settled = _settle(exc, request, wanted[own_id])
    if isinstance(settled, RequeueError):
        raise settled from exc
    return settled


def _wait_of(exc: LimiterBusyError | RateLimitedError) -> float:
    return exc.retry_in if isinstance(exc, LimiterBusyError) else exc.retry_after


def _batch_round(
    service: SpotifyService, claim: Claim, request: FetchRequest
) -> tuple[Outcome | None, bool]:
    """One several-albums call for the oldest 20 queued albums, ours among them or not.

    The albums are picked only once the limiter grants the call, so the batch fills up
    with everything queued meanwhile; an album another worker holds is left to it.
    Returns (outcome, whether our album was in the batch); outcome None means the
    batch endpoint is unavailable.
    """
    own_id = request.album_id
    wanted: dict[int, str] = {}
    try:
        with service.reserved():
            taken = _take_batch(claim, MAX_BATCH)
            rows = _cached_at(taken)
            wanted = {
                album_id: spotify_id
                for album_id, (spotify_id, cached_at) in rows.items()
                if not _fresh(cached_at, request if album_id == own_id else FetchRequest(album_id))
            }
            claim.release(set(taken) - set(wanted))
            if not wanted:  # fetched meanwhile
                return (Outcome.CACHED, own_id in taken)
            found = service.client.albums(list(wanted.values()))
    except BatchUnavailableError:
        _hand_back(claim, {i: s for i, s in wanted.items() if i != own_id}, 0)
        return (None, own_id in wanted)
    except (SpotifyError, LimiterBusyError) as exc:
        return (_settle_batch_failure(service, claim, exc, request, wanted), own_id in wanted)
    for each_id, each_spotify_id in wanted.items():
        data = found.get(each_spotify_id)
        if data is None:
            store_not_found(each_id, each_spotify_id, "Spotify has no album with this id")
        else:
            store_album(each_id, each_spotify_id, data)
        claim.release([each_id])
    if own_id not in wanted:
        return (Outcome.REFRESHED, own_id in taken)
    return (Outcome.REFRESHED if found.get(wanted[own_id]) else Outcome.NOT_FOUND, True)


def _fetch_batch(service: SpotifyService, claim: Claim, request: FetchRequest) -> Outcome | None:
    """Several-albums calls until one of them has fetched this album.

    Calls take the oldest queued albums first, so this album's turn comes within a few
    calls, each of them full and useful; the task ends early only when this album is
    fresh or another worker holds it (and renews its lease). None: batch is refused.
    """
    own_id = request.album_id
    while True:
        known = _cached_at([own_id])
        if own_id not in known:
            return Outcome.SKIPPED  # no such album, or no Spotify link
        if _fresh(known[own_id][1], request):
            return Outcome.CACHED
        # A re-queued or handed-back task's album may not be in the batch queue yet.
        if not claim.queue_unless_held(own_id):
            return Outcome.SKIPPED  # another worker holds it and will store or hand it back
        outcome, ours = _batch_round(service, claim, request)
        if outcome is None or ours:
            return outcome


def _fetch_single(service: SpotifyService, claim: Claim, request: FetchRequest) -> Outcome:
    """One `GET /albums/{id}` for this album, which the claim holds."""
    known = _cached_at([request.album_id])
    if request.album_id not in known:
        return Outcome.SKIPPED  # no such album, or no Spotify link
    spotify_id, cached_at = known[request.album_id]
    if _fresh(cached_at, request):
        return Outcome.CACHED
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
    own_id = request.album_id
    lease, grace = float(setting("FETCH_LEASE_SECONDS")), float(setting("FETCH_LOCK_SECONDS"))
    with Claim(get_redis(), lease, grace) as claim, service.waiting_at_most(max_wait):
        try:
            if service.client.batch_available():
                outcome = _fetch_batch(service, claim, request)
                if outcome is not None:
                    return outcome
            if own_id not in claim.held and not claim.take([own_id]):
                return Outcome.SKIPPED  # another worker is fetching it right now
            return _fetch_single(service, claim, request)
        except RequeueError as exc:
            if own_id in claim.held or claim.take([own_id]):
                claim.requeued([own_id], exc.countdown)
            raise
