"""The fetch job's vocabulary: what is asked, how it ends, and what a failure means.

Shared by the single and the batch fetch (`worker.fetch`, `worker.batch`).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from tenacity import RetryCallState, Retrying, wait_exponential, wait_random

from app.cache.entries import is_stale
from app.config import setting
from app.extensions import db
from app.models import Album, as_utc
from app.ops import counters
from app.spotify.errors import AlbumNotFoundError, RateLimitedError, TransientError
from app.spotify.limiter import LimiterBusyError
from worker.store import store_failure, store_not_found

log = logging.getLogger(__name__)


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


def settle(exc: Exception, request: FetchRequest, spotify_id: str) -> Outcome | RequeueError:
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
        counters.incr(counters.TRANSIENT_FAILURES)
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


def wait_of(exc: LimiterBusyError | RateLimitedError) -> float:
    return exc.retry_in if isinstance(exc, LimiterBusyError) else exc.retry_after


def cache_times(album_ids: list[int]) -> dict[int, tuple[str, datetime | None]]:
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


def is_fresh(cached_at: datetime | None, request: FetchRequest) -> bool:
    if not request.refresh:
        return not is_stale(cached_at, "cover")
    if request.requested_at is None or cached_at is None:
        return False
    # A refresh asked for at T is done by any fetch that finished after T.
    return as_utc(cached_at).timestamp() >= request.requested_at
