"""After Spotify's album lookup: walk the other cover sources until one has the cover.

The order is COVER_SOURCES (`worker.sources`). For each source that has not already
said "not found" (remembered COVER_NOT_FOUND_TTL) and is not waiting out a failure,
the resolver asks for candidates, picks the match (`app.sources.matching`: artist and
title must agree; a placeholder beats a wrong cover), confirms it and stores the cover.
A Spotify search match also becomes the album's Spotify id (kept apart from the
sheet's link), and its album lookup fills the track list as well.

A source that cannot answer now (throttled, down, its limiter busy) is skipped for
this round; when no source had a cover, the album is re-queued for the soonest retry
(the tile keeps saying "looking"), or recorded as "failing, retry at" when that is
far off, or as "no cover anywhere" when every source answered and none had one.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from app.cache.states import as_datetime
from app.config import setting
from app.ops import counters
from app.sources.base import AlbumQuery, SourceUnavailableError
from app.sources.matching import Candidate, best_match, score
from app.spotify.errors import AlbumNotFoundError, RateLimitedError, SpotifyError
from app.spotify.limiter import LimiterBusyError
from worker.failures import budget_spent, note_rate_limit, transient_backoff
from worker.job import FetchRequest, Outcome, RequeueError
from worker.service import SpotifyService
from worker.sources import CoverSources
from worker.store import (
    FetchRow,
    save_outcomes,
    source_outcome,
    store_answer,
    store_cover,
    store_cover_failure,
    store_no_cover,
)

log = logging.getLogger(__name__)
KEPT_CANDIDATES = 5  # near misses kept per source, for an administrator to pick from


def _waiting(outcome: Any, refresh: bool) -> bool:
    """Whether a source's last outcome still stands (nothing to ask it now)."""
    if not isinstance(outcome, dict):
        return False
    retry_at = as_datetime(outcome.get("retry_at"))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    if retry_at is None or retry_at <= datetime.now(UTC):
        return False
    # A refresh asks again even a source that said "not found"; a failure still waits.
    return not (refresh and outcome.get("outcome") == "not_found")  # pyright: ignore[reportUnknownMemberType]


def _near_misses(row: FetchRow, offered: list[Candidate]) -> list[dict[str, Any]]:
    """The best-scored candidates that were not good enough, for an administrator."""
    scored = [(s, c) for c in offered if (s := score(row.title, row.artist, row.year, c))]
    scored.sort(key=lambda pair: pair[0], reverse=True)
    return [c.to_json() | {"score": round(s, 3)} for s, c in scored[:KEPT_CANDIDATES]]


def _retry_at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


class Resolution:
    """One walk over the sources for one album."""

    def __init__(
        self,
        row: FetchRow,
        request: FetchRequest,
        sources: CoverSources,
        spotify: SpotifyService,
        max_wait: float,
    ) -> None:
        self.row = row
        self.request = request
        self.sources = sources
        self.spotify = spotify
        self.max_wait = max_wait
        self.outcomes: dict[str, Any] = dict(row.outcomes)
        self.soonest: float | None = None  # seconds until a source that failed may be asked
        self.failed_now = False  # a source failed in this round (not just a busy limiter)
        self.postponed = False  # background work refused by the day's budget
        self.query = AlbumQuery(row.title, row.artist, row.year, row.upc)

    def _later(self, seconds: float) -> None:
        self.soonest = seconds if self.soonest is None else min(self.soonest, seconds)

    def _found(self, name: str, candidate: Candidate) -> bool:
        if name == "spotify-search":
            return self._spotify_match(candidate)
        return store_cover(self.row, name, candidate, self.outcomes) is not None

    def _spotify_match(self, candidate: Candidate) -> bool:
        """A search match: look it up by id (its cover and track list in one call)."""
        try:
            data = self.spotify.client.album(candidate.ref)
        except AlbumNotFoundError:
            return False
        counters.incr(counters.SPOTIFY_MATCHES)
        self.outcomes["spotify-search"] = source_outcome("found", ref=candidate.ref)
        album = store_answer(
            self.row.album_id,
            self.row.sheet_id,
            data,
            source="spotify-search",
            match_id=candidate.ref,
        )
        save_outcomes(self.row, self.outcomes)
        return album is not None and album.cover_cached_at is not None

    def _ask(self, name: str) -> bool:
        """Ask one source; True when it gave the cover."""
        sources, row = self.sources, self.row
        offered = sources.call(
            name,
            "search",
            self.max_wait,
            lambda: sources.entries[name].source.candidates(self.query),
        )
        # An administrator said these are another album ("This is not the album").
        refused = set(row.rejected.get(name, ()))
        offered = [c for c in offered if c.ref not in refused]
        match = best_match(row.title, row.artist, row.year, offered)
        confirmed = None
        if match is not None:
            source = sources.entries[name].source
            confirmed = sources.call(
                name, "confirm", self.max_wait, lambda: source.confirm(match.candidate)
            )
        sources.succeeded(name)
        if confirmed is not None and self._found(name, confirmed):
            return True
        retry = _retry_at(float(setting("COVER_NOT_FOUND_TTL")))
        self.outcomes[name] = source_outcome(
            "not_found", retry_at=retry, candidates=_near_misses(row, offered) or None
        )
        return False

    def _failed(self, name: str, exc: SourceUnavailableError | SpotifyError) -> None:
        # Throttled: as long as the source asked. A 5xx or a timeout: soon, backing off.
        wait = transient_backoff(self.request.failures + 1)
        self.failed_now = True
        if isinstance(exc, RateLimitedError):
            # A Spotify 429 like any other: every Spotify call pauses, or for the daily
            # quota only its bucket (search), and album lookups go on.
            note_rate_limit(self.spotify, exc)
            wait = exc.retry_after
        elif isinstance(exc, SourceUnavailableError) and exc.throttled:
            self.sources.cool_down(name, exc.retry_after, self.spotify)
            wait = exc.retry_after
        if self.sources.failed(name, self.spotify):
            log.warning("%s failed repeatedly: paused for a while (circuit open)", name)
        self.outcomes[name] = source_outcome("error", retry_at=_retry_at(wait), reason=str(exc))
        log.info(
            "album %s: %s failed (%s); asked again in %.0f s", self.row.album_id, name, exc, wait
        )
        self._later(wait)

    def run(self) -> Outcome:
        for name in self.sources.names():
            if _waiting(self.outcomes.get(name), self.request.refresh):
                outcome = self.outcomes[name]
                if outcome.get("outcome") == "error":
                    retry_at = as_datetime(outcome.get("retry_at"))
                    if retry_at is not None:
                        self._later((retry_at - datetime.now(UTC)).total_seconds())
                continue
            try:
                if self._ask(name):
                    return Outcome.REFRESHED
            except LimiterBusyError as exc:
                self.postponed = self.postponed or budget_spent(exc, self.spotify)
                self._later(exc.retry_in)  # its budget is spent for now: no outcome to keep
            except (SourceUnavailableError, SpotifyError) as exc:
                self._failed(name, exc)
        return self._settle()

    def _settle(self) -> Outcome:
        if self.row.cover_cached_at is not None:
            save_outcomes(self.row, self.outcomes)  # a refresh found nothing new: keep it
            return Outcome.CACHED
        if self.soonest is None:
            store_no_cover(self.row, self.outcomes)
            return Outcome.NOT_FOUND
        if self.postponed and not self.failed_now:
            save_outcomes(self.row, self.outcomes)
            return Outcome.POSTPONED
        wait = max(0.1, self.soonest)
        request = self.request
        if self.failed_now:  # a busy limiter is waited out; failures count against tries
            request = replace(request, failures=request.failures + 1)
        attempts = request.attempts or int(setting("SPOTIFY_RETRY_ATTEMPTS"))
        if request.failures >= max(1, attempts):
            retry = float(setting("ERROR_RETRY_SECONDS"))
            store_cover_failure(self.row, self.outcomes, max(wait, retry))
            return Outcome.FAILED
        if wait <= float(setting("REQUEUE_MAX_SECONDS")):
            save_outcomes(self.row, self.outcomes)
            raise RequeueError(wait, "cover sources busy or failing", request)
        store_cover_failure(self.row, self.outcomes, wait)
        return Outcome.DEFERRED


def resolve(
    row: FetchRow,
    request: FetchRequest,
    sources: CoverSources,
    spotify: SpotifyService,
    max_wait: float,
) -> Outcome:
    """Ask the sources after Spotify's lookup for this album's cover, in order."""
    return Resolution(row, request, sources, spotify, max_wait).run()
