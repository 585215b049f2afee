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
from datetime import UTC, datetime, timedelta
from typing import cast

from flask import current_app
from redis import Redis
from sqlalchemy import select
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from app import stats
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
        self.client = SpotifyClient(
            settings,
            redis_client=redis_client,
            guard=self.guard,
            on_call=lambda outcome: stats.incr(f"spotify:{outcome}"),
        )

    @contextmanager
    def guard(self) -> Generator[None]:
        """Wraps every HTTP call: a limiter slot, and the time spent waiting for it."""
        started = time.monotonic()
        with self.limiter.slot(self.max_wait):
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


def is_fresh(album: Album) -> bool:
    cached_at = album.spotify_cover_cached_at or album.spotify_metadata_cached_at
    if cached_at is None:
        return False
    if cached_at.tzinfo is None:
        cached_at = cached_at.replace(tzinfo=UTC)
    age = datetime.now(UTC) - cached_at
    return age < timedelta(seconds=int(setting("COVER_CACHE_TTL")))


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


def _take_pending(count: int, exclude: int) -> dict[int, str]:
    """Up to `count` other queued albums still without a cover (album id → Spotify id)."""
    client = get_redis()
    raw = cast(list[bytes], client.spop(PENDING_KEY, count) or [])
    ids = [int(i) for i in raw if int(i) != exclude]
    if not ids:
        return {}
    rows = db.session.execute(
        select(Album.id, Album.spotify_album_id).where(
            Album.id.in_(ids),
            Album.spotify_album_id.is_not(None),
            Album.spotify_cover_cached_at.is_(None),
        )
    ).all()
    db.session.rollback()
    found: dict[int, str] = {}
    for other_id, other_spotify_id in rows:
        if other_spotify_id:
            found[other_id] = other_spotify_id
    return found


def _give_back(album_ids: list[int]) -> None:
    if album_ids:
        get_redis().sadd(PENDING_KEY, *album_ids)


def _fetch_batch(service: SpotifyService, album_id: int, spotify_id: str) -> Outcome | None:
    """One several-albums call for this album and up to 19 other queued ones.

    None means the batch endpoint is unavailable: fall back to a single lookup.
    """
    others = _take_pending(MAX_BATCH - 1, exclude=album_id)
    wanted = {album_id: spotify_id} | others
    try:
        found = _retrying()(service.client.albums, list(wanted.values()))
    except BatchUnavailableError:
        _give_back(list(others))
        return None
    except (SpotifyError, LimiterBusyError) as exc:
        _give_back(list(others))  # their own tasks will still fetch them
        return _failed(service, exc, album_id, spotify_id)
    outcome = Outcome.REFRESHED
    for each_id, each_spotify_id in wanted.items():
        data = found.get(each_spotify_id)
        if data is None:
            store_not_found(each_id, each_spotify_id, "Spotify has no album with this id")
            if each_id == album_id:
                outcome = Outcome.NOT_FOUND
        else:
            store_album(each_id, each_spotify_id, data)
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
    if not refresh and is_fresh(album):
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
