"""Fetch one album from Spotify under the global limiter and store the result.

Used by the Celery task and by `flask refresh-cache`. Waiting is bounded: a caller
says how long it may wait for the limiter; a longer wait raises RequeueError (the
worker re-queues the task with that countdown) or, past REQUEUE_MAX_SECONDS,
records a temporary failure so the next view tries again.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Generator
from contextlib import contextmanager
from typing import cast

from flask import current_app
from redis import Redis
from sqlalchemy import select
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from app import stats
from app.cache import is_stale
from app.cache_keys import PENDING_KEY
from app.cache_store import release_lock, store_album, store_failure, store_not_found
from app.config import setting
from app.extensions import db, get_redis
from app.models import Album
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
    SKIPPED = "skipped"  # no such album, or no Spotify link


class RequeueError(Exception):
    """Try this fetch again in `countdown` seconds (the limiter said wait)."""

    def __init__(self, countdown: float, reason: str) -> None:
        super().__init__(f"re-queue in {countdown:.1f} s ({reason})")
        self.countdown = countdown


class SpotifyService:
    """Per-process limiter and client; each caller sets how long it may wait."""

    def __init__(self, limiter: Limiter, settings: SpotifySettings, redis_client: Redis) -> None:
        self.limiter = limiter
        self.max_wait = 2.0
        self._prepaid = 0  # calls already holding a limiter slot (see reserved())
        self.client = SpotifyClient(
            settings,
            redis_client=redis_client,
            guard=self.guard,
            on_call=lambda outcome: stats.incr(f"spotify:{outcome}"),
        )

    @contextmanager
    def guard(self) -> Generator[None]:
        """Wraps every HTTP call: a limiter slot, and the time spent waiting for it."""
        if self._prepaid:
            self._prepaid -= 1
            yield
            return
        started = time.monotonic()
        with self.limiter.slot(self.max_wait):
            stats.add_seconds("limiter:wait_seconds", time.monotonic() - started)
            yield

    @contextmanager
    def reserved(self) -> Generator[None]:
        """Wait for the limiter first; the next call inside uses that slot.

        A batch worker waits, then picks the albums to fetch, so the batch fills up
        with everything that was queued while it waited.
        """
        started = time.monotonic()
        with self.limiter.slot(self.max_wait):
            stats.add_seconds("limiter:wait_seconds", time.monotonic() - started)
            self._prepaid = 1
            try:
                yield
            finally:
                self._prepaid = 0


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


def _defer_or_requeue(album_id: int, spotify_id: str, wait: float, reason: str) -> Outcome:
    if wait > float(setting("REQUEUE_MAX_SECONDS")):
        store_failure(album_id, spotify_id, reason, wait)
        return Outcome.DEFERRED
    raise RequeueError(wait, reason)


def _retrying() -> Retrying:
    """Transient errors are retried here, with exponential backoff and jitter."""
    return Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(max(1, int(setting("SPOTIFY_RETRY_ATTEMPTS")))),
        wait=wait_random_exponential(multiplier=0.25, max=4),
        reraise=True,
    )


def _failed(service: SpotifyService, exc: Exception, album_id: int, spotify_id: str) -> Outcome:
    """Record what a failed call means for this album (or raise RequeueError)."""
    if isinstance(exc, LimiterBusyError):
        return _defer_or_requeue(album_id, spotify_id, exc.retry_in, f"limiter: {exc.reason}")
    if isinstance(exc, RateLimitedError):
        service.limiter.set_cooldown(exc.retry_after)
        stats.incr("spotify:429")
        log.warning("Spotify 429: all workers pause for %.0f s", exc.retry_after)
        return _defer_or_requeue(album_id, spotify_id, exc.retry_after, str(exc))
    if isinstance(exc, AlbumNotFoundError):
        store_not_found(album_id, spotify_id, str(exc))
        return Outcome.NOT_FOUND
    log.warning("album %s: %s", album_id, exc)
    store_failure(album_id, spotify_id, str(exc), float(setting("ERROR_RETRY_SECONDS")))
    return Outcome.FAILED


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


def _pop_batch() -> list[int]:
    """Queued album ids for one several-albums call (waits briefly for a full batch).

    Every queued album has a queued task, and every task pops before it ends, so
    an album never stays queued without somebody coming for it.
    """
    pop = get_redis().register_script(_POP_BATCH)
    wait_ms = int(BATCH_FILL_SECONDS * 1000)
    give_up = time.monotonic() + 10 * BATCH_FILL_SECONDS
    while True:
        args = [MAX_BATCH, wait_ms, BATCH_QUIET_MS, wait_ms * 4]
        popped = cast(list[bytes] | None, pop(keys=[PENDING_KEY], args=args))
        if popped is not None:
            return [int(member) for member in popped[::2]]  # member, score, member, …
        if time.monotonic() > give_up:
            wait_ms = 0  # a clock oddity must not keep a worker here
        time.sleep(0.02)


def _spotify_ids(album_ids: list[int]) -> dict[int, str]:
    rows = db.session.execute(
        select(Album.id, Album.spotify_album_id).where(
            Album.id.in_(album_ids), Album.spotify_album_id.is_not(None)
        )
    ).all()
    db.session.rollback()
    found: dict[int, str] = {}
    for album_id, spotify_id in rows:
        if spotify_id:
            found[album_id] = spotify_id
    return found


def _give_back(album_ids: list[int]) -> None:
    if album_ids:
        # Score 0: the oldest possible, so the next batch takes them at once.
        scores: dict[str, float] = {str(album_id): 0.0 for album_id in album_ids}
        get_redis().zadd(PENDING_KEY, scores)


def _fetch_batch(service: SpotifyService, album_id: int, spotify_id: str) -> Outcome | None:
    """One several-albums call for up to 20 queued albums, this one or others.

    None means the batch endpoint is unavailable: fall back to a single lookup.
    """
    popped: list[int] = []
    wanted: dict[int, str] = {}
    try:
        with service.reserved():  # wait for the limiter first, then fill the batch
            popped = _pop_batch()
            wanted = _spotify_ids(popped)
            if not wanted:
                return Outcome.SKIPPED  # other workers' batches took every album
            found = _retrying()(service.client.albums, list(wanted.values()))
    except BatchUnavailableError:
        _give_back(popped)
        return None
    except (LimiterBusyError, RateLimitedError) as exc:
        _give_back(popped)  # this task, re-queued, comes back for them
        return _failed(service, exc, album_id, spotify_id)
    except SpotifyError as exc:
        outcomes = {i: _failed(service, exc, i, s) for i, s in wanted.items()}
        return outcomes.get(album_id, Outcome.SKIPPED)
    outcome = Outcome.SKIPPED
    for each_id, each_spotify_id in wanted.items():
        data = found.get(each_spotify_id)
        if data is None:
            store_not_found(each_id, each_spotify_id, "Spotify has no album with this id")
        else:
            store_album(each_id, each_spotify_id, data)
        if each_id == album_id:
            outcome = Outcome.REFRESHED if data is not None else Outcome.NOT_FOUND
    return outcome


def fetch_album(album_id: int, *, refresh: bool = False, max_wait: float = 2.0) -> Outcome:
    """Fetch and store one album; idempotent (a fresh cache means no call).

    With batch lookups available (extended-quota apps), one call also fetches up
    to 19 other queued albums; their own tasks then find them cached.
    """
    album = db.session.get(Album, album_id, populate_existing=True)
    if album is None or not album.spotify_album_id:
        release_lock(album_id)
        return Outcome.SKIPPED
    spotify_id = album.spotify_album_id
    cached_at = album.spotify_cover_cached_at or album.spotify_metadata_cached_at
    if not refresh and not is_stale(cached_at, "cover"):
        release_lock(album_id)
        return Outcome.CACHED
    service = _service()
    service.max_wait = max_wait
    # Release the database connection while we wait on Spotify.
    db.session.rollback()
    if service.client.batch_available():
        outcome = _fetch_batch(service, album_id, spotify_id)
        if outcome is not None:
            return outcome
    try:
        data = _retrying()(service.client.album, spotify_id)
    except (SpotifyError, LimiterBusyError) as exc:
        return _failed(service, exc, album_id, spotify_id)
    store_album(album_id, spotify_id, data)
    return Outcome.REFRESHED
