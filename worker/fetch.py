"""Fetch one album from Spotify under the global limiter and store the result.

Used by the Celery task and by `flask refresh-cache`. Waiting is bounded: a caller
says how long it may wait for the limiter; a longer wait raises RequeueError (the
worker re-queues the task with that countdown) or, past REQUEUE_MAX_SECONDS,
records a temporary failure so the next view tries again.

Every fetch first takes the album (a renewed lease, see `app.cache.fetch_lock`), so a
duplicate task, a killed worker or a lost message never costs a second Spotify call
nor leaves an album waiting for a long lock to expire. Transient Spotify errors are
retried by re-queueing with exponential backoff and jitter, never back to back.
"""

from __future__ import annotations

from app.cache.fetch_lock import Claim
from app.config import setting
from app.extensions import get_redis, redis_key
from app.spotify.errors import SpotifyError
from app.spotify.limiter import LimiterBusyError
from worker.batch import Sender, fetch_batch
from worker.failures import failure_outcome, note_rate_limit
from worker.job import FetchRequest, Outcome, RequeueError, is_fresh
from worker.lanes import Lane
from worker.service import SpotifyService, spotify_service
from worker.store import cache_times, store_answer


def _fetch_single(service: SpotifyService, claim: Claim, request: FetchRequest) -> Outcome:
    """One `GET /albums/{id}` for this album, which the claim holds."""
    known = cache_times([request.album_id])
    if request.album_id not in known:
        return Outcome.SKIPPED  # no such album, or no Spotify link
    spotify_id, cached_at = known[request.album_id]
    if is_fresh(cached_at, request):
        return Outcome.CACHED
    try:
        data = service.client.album(spotify_id)
    except (SpotifyError, LimiterBusyError) as exc:
        note_rate_limit(service, exc)
        settled = failure_outcome(exc, request, spotify_id)
        if isinstance(settled, RequeueError):
            raise settled from exc
        return settled
    store_answer(request.album_id, spotify_id, data)
    return Outcome.REFRESHED


def fetch_album(
    request: FetchRequest, *, max_wait: float, send: Sender, lane: Lane = "interactive"
) -> Outcome:
    """Fetch and store one album; idempotent (a fresh cache means no call).

    With batch lookups available (extended-quota apps), one call also fetches up
    to 19 other queued albums; their own tasks then find them cached.
    Raises RequeueError when the fetch should run again later; the album's lock
    then says "queued" until then. `send` queues a task for an album a batch took
    but could not fetch. `lane` says whose budget the call spends.
    """
    service = spotify_service()
    own_id = request.album_id
    lease, grace = float(setting("FETCH_LEASE_SECONDS")), float(setting("FETCH_LOCK_SECONDS"))
    with (
        Claim(get_redis(), lease, grace, prefix=redis_key("")) as claim,
        service.waiting_at_most(max_wait, lane),
    ):
        try:
            if service.client.batch_available():
                outcome = fetch_batch(service, claim, request, send)
                if outcome is not None:
                    return outcome
            if own_id not in claim.held and not claim.take([own_id]):
                return Outcome.SKIPPED  # another worker is fetching it right now
            return _fetch_single(service, claim, request)
        except RequeueError as exc:
            if lane == "background":
                # No "queued" lock for background work: a visitor's view must be able
                # to queue the album at once, in the interactive lane (promotion).
                claim.release([own_id])
            elif own_id in claim.held or claim.take([own_id]):
                claim.requeued([own_id], exc.countdown)
            raise
