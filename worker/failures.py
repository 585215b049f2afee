"""What a failed Spotify call means for an album: record an outcome, or try again later.

The policy in one place: a 429 pauses every worker; "no such album" is recorded;
transient errors are re-queued with exponential backoff and jitter until their tries
are spent; waits too long to re-queue are recorded as "retry at".
"""

from __future__ import annotations

import logging
from dataclasses import replace

from tenacity import RetryCallState, Retrying, wait_exponential, wait_random

from app.config import setting
from app.ops import counters
from app.spotify.errors import AlbumNotFoundError, RateLimitedError, TransientError
from app.spotify.limiter import LimiterBusyError
from app.spotify.quota import BUCKETS
from worker.job import FetchRequest, Outcome, RequeueError
from worker.service import SpotifyService
from worker.store import store_answer, store_failure

log = logging.getLogger(__name__)


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


def wait_of(exc: LimiterBusyError | RateLimitedError) -> float:
    """How long the limiter or Spotify asked us to wait."""
    return exc.retry_in if isinstance(exc, LimiterBusyError) else exc.retry_after


def note_rate_limit(service: SpotifyService, exc: Exception) -> None:
    """A 429 pauses every worker (the shared cooldown), whatever call it came from; a
    daily-quota 429 (QUOTA_EXCEEDED) locks only its own bucket, and the others go on."""
    if not isinstance(exc, RateLimitedError):
        return
    counters.incr(counters.RATE_LIMITED)
    if exc.quota_exhausted and exc.bucket in BUCKETS:
        service.quota.lock(exc.bucket, exc.retry_after)
        log.warning("Spotify quota: %s calls stop for %.0f s", exc.bucket, exc.retry_after)
        return
    service.limiter.set_cooldown(exc.retry_after)
    log.warning("Spotify 429: all workers pause for %.0f s", exc.retry_after)


def budget_spent(exc: Exception, service: SpotifyService) -> bool:
    """Background work refused by the day's budget (its share is spent): put it off
    until the window frees, recording nothing, so a visitor can still have the album."""
    return (
        isinstance(exc, LimiterBusyError)
        and exc.reason == "quota"
        and service.lane() == "background"
        and exc.retry_in > float(setting("REQUEUE_MAX_SECONDS"))
    )


def _retry_transient(exc: Exception, request: FetchRequest) -> RequeueError | str:
    """Another try after a backoff, or the reason to give up (tries spent)."""
    failures = request.failures + 1
    counters.incr(counters.TRANSIENT_FAILURES)
    attempts = request.attempts or int(setting("SPOTIFY_RETRY_ATTEMPTS"))
    if failures < max(1, attempts):
        countdown = transient_backoff(failures)
        log.info("album %s: %s; try %d again in %.1f s", request.album_id, exc, failures, countdown)
        return RequeueError(countdown, str(exc), replace(request, failures=failures))
    return f"{exc} ({failures} tries)"


def failure_outcome(
    exc: Exception, request: FetchRequest, sheet_id: str | None
) -> Outcome | RequeueError:
    """Record what a failed call means for one album, or say when to try it again.

    `sheet_id`: the album's Spotify link as the fetch read it (guards the write)."""
    album_id = request.album_id
    if isinstance(exc, AlbumNotFoundError):
        store_answer(album_id, sheet_id, None, str(exc))
        return Outcome.NOT_FOUND
    if isinstance(exc, LimiterBusyError | RateLimitedError):
        wait, reason = wait_of(exc), str(exc)
        if isinstance(exc, LimiterBusyError):
            reason = f"limiter: {exc.reason}"
        if wait <= float(setting("REQUEUE_MAX_SECONDS")):
            return RequeueError(wait, reason, request)
        store_failure(album_id, sheet_id, reason, wait)
        return Outcome.DEFERRED
    if isinstance(exc, TransientError):
        retry = _retry_transient(exc, request)
        if isinstance(retry, RequeueError):
            return retry
        reason = retry
    else:
        reason = str(exc)
    log.warning("album %s: %s", album_id, reason)
    store_failure(album_id, sheet_id, reason, float(setting("ERROR_RETRY_SECONDS")))
    return Outcome.FAILED
