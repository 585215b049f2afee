"""Batch mode (extended-quota apps): one several-albums call for up to 20 queued albums.

Every fetch task's album is in the batch queue (see `app.cache.fetch_lock`); once the limiter
grants a call, a task pops and takes the oldest 20 in one Lua call, and keeps making
such calls until its own album is fetched, fresh, or held by another worker. Albums it
took but does not fetch are handed to tasks of their own before it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from app.cache.fetch_lock import Claim
from app.spotify.circuit import WAIT_SECONDS
from app.spotify.client import MAX_BATCH
from app.spotify.errors import (
    BatchUnavailableError,
    RateLimitedError,
    SpotifyError,
    TransientError,
)
from app.spotify.limiter import LimiterBusyError
from worker.failures import failure_outcome, note_rate_limit, transient_backoff, wait_of
from worker.job import FetchRequest, Outcome, RequeueError, is_fresh
from worker.service import SpotifyService
from worker.store import cache_times, store_answer

# A batch worker waits at most this long for 20 albums to be queued before it calls.
BATCH_FILL_SECONDS = 0.2
BATCH_QUIET_MS = 60  # ...or until no new album has been queued for this long
# Sends a task for (album id, requested at, countdown); False when the broker refused.
Sender = Callable[[int, float, float], bool]


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


def _hand_back(claim: Claim, albums: dict[int, str], countdown: float, send: Sender) -> None:
    """Albums taken from the batch queue but not fetched: each gets a task of its own."""
    requested_at = time.time()
    for album_id in albums:
        # "queued" before the task exists: a task sent first could start, find this
        # worker's lease, end, and leave the album locked with nobody coming.
        claim.requeued([album_id], countdown)
        if not send(album_id, requested_at, countdown):
            claim.hand_back_failed(album_id)  # the next poll queues it again


def _settle_batch_failure(
    service: SpotifyService,
    claim: Claim,
    exc: Exception,
    request: FetchRequest,
    wanted: dict[int, str],
    send: Sender,
) -> Outcome:
    """A failed several-albums call: hand the others back, settle (or re-queue) ours."""
    note_rate_limit(service, exc)
    own_id = request.album_id
    if isinstance(exc, TransientError) and service.circuit.is_open() and not request.attempts:
        # Spotify is failing for everyone: none of these albums counts a failure; all
        # wait with the others for a probe's answer (an inline refresh counts its own).
        _hand_back(claim, {i: s for i, s in wanted.items() if i != own_id}, WAIT_SECONDS, send)
        raise RequeueError(WAIT_SECONDS, str(exc), request) from exc
    if isinstance(exc, TransientError) and not service.client.batch_confirmed():
        # The probe of the endpoint failed (a 5xx, a timeout): it says nothing of these
        # albums, so none of them counts a failure; they go on singly (the client holds
        # off probing for a few seconds), after the base backoff (an album the batch
        # took may just have failed on its own: never back to back).
        _hand_back(
            claim, {i: s for i, s in wanted.items() if i != own_id}, transient_backoff(1), send
        )
        raise RequeueError(transient_backoff(1), str(exc), request) from exc
    for other_id, other_spotify_id in wanted.items():
        if other_id == own_id:
            continue
        settled = failure_outcome(exc, FetchRequest(other_id), other_spotify_id)
        if isinstance(settled, RequeueError):
            _hand_back(claim, {other_id: other_spotify_id}, settled.countdown, send)
    if own_id not in wanted:
        # Ours was not in this call, but Spotify (or the limiter) says "not now" for all.
        wait = (
            wait_of(exc)
            if isinstance(exc, LimiterBusyError | RateLimitedError)
            else transient_backoff(1)
        )
        raise RequeueError(wait, str(exc), request) from exc
    settled = failure_outcome(exc, request, wanted[own_id])
    if isinstance(settled, RequeueError):
        raise settled from exc
    return settled


def _batch_round(
    service: SpotifyService, claim: Claim, request: FetchRequest, send: Sender
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
            rows = cache_times(taken)
            wanted = {
                album_id: spotify_id
                for album_id, (spotify_id, cached_at) in rows.items()
                if not is_fresh(
                    cached_at, request if album_id == own_id else FetchRequest(album_id)
                )
            }
            claim.release(set(taken) - set(wanted))
            if not wanted:  # fetched meanwhile
                return (Outcome.CACHED, own_id in taken)
            found = service.client.albums(list(wanted.values()))
    except BatchUnavailableError:
        _hand_back(claim, {i: s for i, s in wanted.items() if i != own_id}, 0, send)
        return (None, own_id in wanted)
    except (SpotifyError, LimiterBusyError) as exc:
        return (_settle_batch_failure(service, claim, exc, request, wanted, send), own_id in wanted)
    for each_id, each_spotify_id in wanted.items():
        store_answer(each_id, each_spotify_id, found.get(each_spotify_id))
        claim.release([each_id])
    if own_id not in wanted:
        return (Outcome.REFRESHED, own_id in taken)
    return (Outcome.REFRESHED if found.get(wanted[own_id]) else Outcome.NOT_FOUND, True)


def fetch_batch(
    service: SpotifyService, claim: Claim, request: FetchRequest, send: Sender
) -> Outcome | None:
    """Several-albums calls until one of them has fetched this album.

    Calls take the oldest queued albums first, so this album's turn comes within a few
    calls, each of them full and useful; the task ends early only when this album is
    fresh or another worker holds it (and renews its lease). None: batch is refused.
    """
    own_id = request.album_id
    while True:
        known = cache_times([own_id])
        if own_id not in known:
            return Outcome.SKIPPED  # no such album, or no Spotify link
        if is_fresh(known[own_id][1], request):
            return Outcome.CACHED
        # A re-queued or handed-back task's album may not be in the batch queue yet.
        if not claim.queue_unless_held(own_id):
            return Outcome.SKIPPED  # another worker holds it and will store or hand it back
        outcome, ours = _batch_round(service, claim, request, send)
        if outcome is None or ours:
            return outcome
