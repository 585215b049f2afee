"""The fetch job's vocabulary: what is asked, how it ends, and when data is fresh enough.

Shared by the single and the batch fetch (`worker.fetch`, `worker.batch`); what a
failure means is `worker.failures`, the database side is `worker.store`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from app.cache.entries import is_stale
from app.models import as_utc


class Outcome(enum.StrEnum):
    REFRESHED = "refreshed"
    CACHED = "cached"  # already fresh: no call made
    NOT_FOUND = "not_found"
    FAILED = "failed"
    DEFERRED = "deferred"  # Spotify asked us to wait long; retried on a later view
    SKIPPED = "skipped"  # no such album, no Spotify link, or another worker has it
    POSTPONED = "postponed"  # background work: today's share of the budget is spent
    DROPPED = "dropped"  # a visitor's fetch nobody waited for any more: no call made


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


def is_fresh(cached_at: datetime | None, request: FetchRequest) -> bool:
    """Whether data cached at `cached_at` answers `request` without a call."""
    if not request.refresh:
        return not is_stale(cached_at, "cover")
    if request.requested_at is None or cached_at is None:
        return False
    # A refresh asked for at T is done by any fetch that finished after T.
    return as_utc(cached_at).timestamp() >= request.requested_at
