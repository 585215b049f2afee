"""Counters for cache hits by layer, Spotify calls by outcome and limiter waiting.

Kept in one Redis hash so every web process and worker adds to the same totals.
Counting is best effort: a Redis hiccup never fails a request. Every counter name is
made here, and read back here (`Counters`), so writers and reports cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, cast

import redis

from app.extensions import available_redis, get_redis, mark_redis_down, redis_key

log = logging.getLogger(__name__)
Layer = Literal["redis", "db"]

_HIT, _MISS, _SPOTIFY, _LANE, _SOURCE = "hit", "miss", "spotify", "lane", "source"
RATE_LIMITED = f"{_SPOTIFY}:429"
LIMITER_WAIT_SECONDS = "limiter:wait_seconds"
FETCH_QUEUED = "fetch:queued"
FETCH_DROPPED = "fetch:dropped"  # a visitor's fetch nobody waited for any more
FETCH_CAPPED = "fetch:capped"  # a client over its cap of misses: moved to background
FETCH_DEMOTED = "fetch:demoted"  # the interactive queue was full: moved to background
CIRCUIT_OPEN = "spotify:circuit_opened"  # transient failures that kept the circuit open
FETCH_PROMOTED = "fetch:promoted"  # a deferred first try sent at once by the viewer's poll
TRANSIENT_FAILURES = "fetch:transient_failures"
SPOTIFY_MATCHES = "covers:spotify_matches"  # albums given a Spotify id by search


def stats_key() -> str:
    return redis_key("stats:counters")


def _record(name: str, add: Callable[[redis.Redis], object]) -> None:
    client = available_redis()
    if client is None:
        return
    try:
        add(client)
    except redis.RedisError:
        mark_redis_down()
        log.debug("counter %s not recorded", name)


def incr(name: str, amount: int = 1) -> None:
    _record(name, lambda client: client.hincrby(stats_key(), name, amount))


def add_seconds(name: str, seconds: float) -> None:
    _record(name, lambda client: client.hincrbyfloat(stats_key(), name, seconds))


def hit_name(layer: Layer, kind: str) -> str:
    return f"{_HIT}:{layer}:{kind}"


def count_hit(layer: Layer, kind: str) -> None:
    """A cover or metadata lookup answered from Redis or from the database row."""
    incr(hit_name(layer, kind))


def count_miss(kind: str) -> None:
    """A lookup that found nothing cached (a fetch is queued)."""
    incr(f"{_MISS}:{kind}")


def count_lane_call(lane: str) -> None:
    """One limiter token spent by a lane (interactive or background)."""
    incr(f"{_LANE}:{lane}")


def count_spotify_call(outcome: str) -> None:
    """One HTTP call to Spotify: `ok` or the error class it ended with."""
    incr(f"{_SPOTIFY}:{outcome}")


def count_source_call(source: str, outcome: str) -> None:
    """One call to a cover source other than Spotify's album lookup: `ok` or its error."""
    incr(f"{_SOURCE}:{source}:{outcome}")


def quota_wait_name(bucket: str, lane: str) -> str:
    """Calls a lane did not make because the bucket's daily budget (or its share) was spent."""
    return f"quota:{bucket}:{lane}:refused"


def circuit_name(source: str) -> str:
    """Times a source's circuit opened (repeated failures paused it)."""
    return f"{_SOURCE}:{source}:circuit_opened"


@dataclass(frozen=True, slots=True)
class Counters:
    """The totals, read back by name (for `flask cache-stats` and `/metrics`)."""

    values: dict[str, float] = field(default_factory=lambda: dict[str, float]())

    def get(self, name: str) -> float:
        return self.values.get(name, 0.0)

    def lookups(self, layer: Layer | Literal["miss"]) -> int:
        prefix = f"{_MISS}:" if layer == "miss" else f"{_HIT}:{layer}:"
        return int(sum(v for k, v in self.values.items() if k.startswith(prefix)))

    def lookups_by_kind(self) -> list[tuple[str, str, float]]:
        """(layer, kind, count) for every lookup counter; layer is redis, db or miss."""
        found: list[tuple[str, str, float]] = []
        for name, value in sorted(self.values.items()):
            parts = name.split(":")
            if parts[0] == _HIT and len(parts) == 3:
                found.append((parts[1], parts[2], value))
            elif parts[0] == _MISS and len(parts) == 2:
                found.append((_MISS, parts[1], value))
        return found

    def lane_calls(self) -> dict[str, int]:
        """Limiter tokens spent by each lane."""
        return {
            name.removeprefix(f"{_LANE}:"): int(value)
            for name, value in sorted(self.values.items())
            if name.startswith(f"{_LANE}:")
        }

    def spotify_calls(self) -> dict[str, int]:
        """Calls by outcome; the 429 tally (`RATE_LIMITED`) is not a call outcome."""
        return {
            name.removeprefix(f"{_SPOTIFY}:"): int(value)
            for name, value in sorted(self.values.items())
            if name.startswith(f"{_SPOTIFY}:") and name != RATE_LIMITED
        }

    def source_calls(self) -> dict[str, dict[str, int]]:
        """Calls per cover source, by outcome (circuit openings are not calls)."""
        found: dict[str, dict[str, int]] = {}
        for name, value in sorted(self.values.items()):
            parts = name.split(":")
            if parts[0] == _SOURCE and len(parts) == 3 and parts[2] != "circuit_opened":
                found.setdefault(parts[1], {})[parts[2]] = int(value)
        return found


def read_all() -> Counters:
    raw = cast(dict[bytes, bytes], get_redis().hgetall(stats_key()))
    return Counters({key.decode(): float(value) for key, value in raw.items()})
