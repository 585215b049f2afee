"""Fetch one album: Spotify's album lookup, then the other cover sources if need be.

Used by the Celery task and by `flask refresh-cache`. Waiting is bounded: a caller
says how long it may wait for a limiter; a longer wait raises RequeueError (the worker
re-queues the task with that countdown) or, past REQUEUE_MAX_SECONDS, records a
temporary failure so the next view tries again.

Every fetch first takes the album (a renewed lease, see `app.cache.fetch_lock`), so a
duplicate task, a killed worker or a lost message never costs a second call nor leaves
an album waiting for a long lock to expire. Transient Spotify errors are retried by
re-queueing with exponential backoff and jitter, never back to back.

An album with a Spotify id (the sheet's link, or an earlier search match) is looked
up first: one call fills its cover and its track list. Without a cover after that (no
link, a dead link, an answer without an image) the resolver asks the other sources in
COVER_SOURCES order (`worker.resolve`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.cache.fetch_lock import Claim
from app.config import setting
from app.extensions import get_redis, redis_key
from app.models import FetchStatus, as_utc
from app.spotify.circuit import WAIT_SECONDS
from app.spotify.errors import SpotifyError, TransientError
from app.spotify.limiter import LimiterBusyError
from worker.batch import Sender, fetch_batch
from worker.failures import budget_spent, failure_outcome, note_rate_limit
from worker.job import FetchRequest, Outcome, RequeueError, is_fresh
from worker.lanes import Lane
from worker.resolve import resolve
from worker.service import SpotifyService, spotify_service
from worker.sources import cover_sources
from worker.store import FetchRow, load_album, store_answer


def _wants_lookup(row: FetchRow, request: FetchRequest) -> bool:
    """Whether Spotify's album lookup has something to tell about this album now."""
    if not row.spotify_id or "spotify" not in setting("COVER_SOURCES"):
        return False
    if is_fresh(row.metadata_cached_at, request):
        return False  # answered already (with the cover, or without an image)
    remembered = row.spotify_retry_at is not None and as_utc(row.spotify_retry_at) > datetime.now(
        UTC
    )
    # A dead link is remembered (NOT_FOUND_TTL); a refresh asks again.
    return request.refresh or not (row.spotify_status == FetchStatus.NOT_FOUND and remembered)


def _lookup(service: SpotifyService, request: FetchRequest, row: FetchRow) -> Outcome:
    """One `GET /albums/{id}` for this album, which the claim holds."""
    spotify_id = row.spotify_id
    assert spotify_id is not None
    try:
        data = service.client.album(spotify_id)
    except (SpotifyError, LimiterBusyError) as exc:
        if budget_spent(exc, service):
            return Outcome.POSTPONED  # nothing recorded: visitors still get this album
        note_rate_limit(service, exc)
        outage = isinstance(exc, TransientError) and service.circuit.is_open()
        if outage and not request.attempts:
            # Spotify is failing for everyone (this call was the circuit's probe, or the
            # one that opened it): no failure of this album's, so a long outage never
            # spends its tries; it waits with the others for a probe's answer. A fetch
            # with tries of its own (`refresh-cache` inline) still counts them and ends.
            raise RequeueError(WAIT_SECONDS, str(exc), request) from exc
        settled = failure_outcome(exc, request, row.sheet_id)
        if isinstance(settled, RequeueError):
            if outage:
                settled = RequeueError(WAIT_SECONDS, str(exc), settled.request)
            raise settled from exc
        return settled
    source = "spotify" if row.sheet_id else "spotify-search"
    store_answer(request.album_id, row.sheet_id, data, source=source)
    return Outcome.REFRESHED


def _spotify_first(
    service: SpotifyService, claim: Claim, request: FetchRequest, row: FetchRow, send: Sender
) -> Outcome:
    """Spotify's album lookup (batched where the app may), holding the album."""
    own_id = request.album_id
    if row.sheet_id and service.client.batch_available():
        try:
            outcome = fetch_batch(service, claim, request, send)
        finally:
            service.client.end_probe()  # a probe taken but never made frees the way
        if outcome is not None:
            return outcome
    if own_id not in claim.held and not claim.take([own_id]):
        return Outcome.SKIPPED  # another worker is fetching it right now
    if not _wants_lookup(row, request):
        return Outcome.CACHED
    return _lookup(service, request, row)


def _has_cover(row: FetchRow, request: FetchRequest, outcome: Outcome) -> bool:
    """Whether the album's cover needs no other source (Spotify just gave it, or fresh,
    or an administrator pinned it)."""
    if row.pinned:
        return True
    if row.cover_cached_at is None:
        return False
    just_stored = outcome == Outcome.REFRESHED and row.cover_source in ("spotify", "spotify-search")
    return just_stored or is_fresh(row.cover_cached_at, request)


def fetch_album(
    request: FetchRequest,
    *,
    max_wait: float,
    send: Sender,
    lane: Lane = "interactive",
    sparing: bool = False,
) -> Outcome:
    """Fetch and store one album; idempotent (a fresh cache means no call).

    With batch lookups available (extended-quota apps), one call also fetches up
    to 19 other queued albums; their own tasks then find them cached.
    Raises RequeueError when the fetch should run again later; the album's lock
    then says "queued" until then. `send` queues a task for an album a batch took
    but could not fetch. `lane` says whose budget the calls spend; `sparing` calls
    take a token only from a full bucket (an album nobody has polled for yet).
    """
    service = spotify_service()
    own_id = request.album_id
    lease, grace = float(setting("FETCH_LEASE_SECONDS")), float(setting("FETCH_LOCK_SECONDS"))
    with (
        Claim(get_redis(), lease, grace, prefix=redis_key("")) as claim,
        service.waiting_at_most(max_wait, lane, sparing=sparing),
    ):
        try:
            row = load_album(own_id)
            if row is None:
                return Outcome.SKIPPED  # no such album (removed meanwhile)
            if is_fresh(row.cover_cached_at, request):
                return Outcome.CACHED
            outcome = _spotify_first(service, claim, request, row, send)
            if outcome in (Outcome.SKIPPED, Outcome.FAILED, Outcome.DEFERRED, Outcome.POSTPONED):
                return outcome  # another worker has it, or Spotify is failing: a placeholder
            row = load_album(own_id)
            if row is None or _has_cover(row, request, outcome):
                return outcome
            return resolve(row, request, cover_sources(), service, max_wait)
        except RequeueError as exc:
            if lane == "background":
                # No "queued" lock for background work: a visitor's view must be able
                # to queue the album at once, in the interactive lane (promotion).
                claim.release([own_id])
            elif own_id in claim.held or claim.take([own_id]):
                claim.requeued([own_id], exc.countdown)
            raise
