"""Cache state and counters, for `flask cache-stats` and `GET /metrics`."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from sqlalchemy import ColumnElement, case, func, select

from app import stats
from app.extensions import db
from app.models import Album, FetchStatus


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
class CacheStats:
    albums: AlbumCounts
    counters: dict[str, float] = field(default_factory=lambda: dict[str, float]())
    redis_ok: bool = True

    def lookups(self, layer: str) -> int:
        return int(sum(v for k, v in self.counters.items() if k.startswith(f"{layer}:")))

    @property
    def hit_rate(self) -> float | None:
        hits = self.lookups("hit:redis") + self.lookups("hit:db")
        total = hits + self.lookups("miss")
        return hits / total if total else None

    def spotify_calls(self) -> dict[str, int]:
        return {
            k.removeprefix("spotify:"): int(v)
            for k, v in sorted(self.counters.items())
            if k.startswith("spotify:") and k != "spotify:429"
        }


def album_counts() -> AlbumCounts:
    linked = Album.spotify_album_id.is_not(None)

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = db.session.execute(
        select(
            func.count(),
            count_if(linked),
            count_if(Album.spotify_cover_cached_at.is_not(None)),
            count_if(Album.spotify_metadata_cached_at.is_not(None)),
            count_if(Album.spotify_fetch_status == FetchStatus.NOT_FOUND.value),
            count_if(Album.spotify_fetch_status == FetchStatus.ERROR.value),
            count_if(linked & Album.spotify_fetch_status.is_(None)),
        ).select_from(Album)
    ).one()
    return AlbumCounts(*(int(v) for v in row))


def collect() -> CacheStats:
    counts = album_counts()
    try:
        return CacheStats(counts, stats.read_all())
    except redis.RedisError:
        return CacheStats(counts, {}, redis_ok=False)
