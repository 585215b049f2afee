"""The stats report: albums by cache state plus the counters, for `flask cache-stats`
and `GET /metrics`."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from sqlalchemy import ColumnElement, case, func, select

from app.cache.states import has_spotify_id, state_sql
from app.extensions import db, get_redis
from app.models import Album
from app.ops import counters
from app.ops.counters import Counters
from app.spotify.quota import Usage
from worker.lanes import Lane, RunStatus, queue_depths, run_status
from worker.service import spotify_service


@dataclass(frozen=True, slots=True)
class AlbumCounts:
    total: int
    with_spotify: int
    cover_cached: int
    metadata_cached: int
    not_found: int
    failing: int
    not_fetched: int

    @property
    def no_spotify(self) -> int:
        return self.total - self.with_spotify


@dataclass(frozen=True, slots=True)
class SourceCounts:
    """Where the cached covers came from, and what the other sources did."""

    covers: dict[str, int]  # cached covers by source
    spotify_matches: int  # albums given a Spotify id by search
    no_cover_anywhere: int  # every source answered: none has a cover


@dataclass(frozen=True, slots=True)
class CacheStats:
    albums: AlbumCounts
    sources: SourceCounts = field(default_factory=lambda: SourceCounts({}, 0, 0))
    counters: Counters = field(default_factory=Counters)
    redis_ok: bool = True
    queue_depths: dict[Lane, int] = field(default_factory=lambda: dict[Lane, int]())
    run: RunStatus | None = None  # the background refresh under way, if any
    quota: list[Usage] = field(default_factory=lambda: list[Usage]())  # per Spotify bucket

    @property
    def hit_rate(self) -> float | None:
        hits = self.counters.lookups("redis") + self.counters.lookups("db")
        total = hits + self.counters.lookups("miss")
        return hits / total if total else None


def album_counts() -> AlbumCounts:
    """Albums by cache state, counted with the one definition (`app.cache.states`)."""
    cover, metadata = state_sql("cover"), state_sql("metadata")

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = db.session.execute(
        select(
            func.count(),
            count_if(has_spotify_id()),
            count_if(cover == "ready"),
            count_if(metadata == "ready"),
            count_if(cover == "not_found"),
            count_if(cover == "error"),
            count_if(cover == "missing"),
        ).select_from(Album)
    ).one()
    return AlbumCounts(*(int(v) for v in row))


def source_counts(no_cover_anywhere: int) -> SourceCounts:
    source = func.coalesce(Album.cover_source, "spotify")
    rows = db.session.execute(
        select(source, func.count())
        .where(state_sql("cover") == "ready")
        .group_by(source)
        .order_by(source)
    ).all()
    matches = db.session.execute(
        select(func.count()).select_from(Album).where(Album.spotify_match_id.is_not(None))
    ).scalar_one()
    return SourceCounts({str(s): int(n) for s, n in rows}, int(matches), no_cover_anywhere)


def collect() -> CacheStats:
    counts = album_counts()
    sources = source_counts(counts.not_found)
    try:
        client = get_redis()
        found = counters.read_all()
        return CacheStats(
            counts,
            sources,
            found,
            True,
            queue_depths(client),
            run_status(client),
            spotify_service().quota.usage(),
        )
    except redis.RedisError:
        return CacheStats(counts, sources, Counters(), redis_ok=False)
