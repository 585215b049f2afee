"""Counters for cache hits by layer, Spotify calls by outcome and limiter waiting.

Kept in one Redis hash so every web process and worker adds to the same totals.
Counting is best effort: a Redis hiccup never fails a request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

import redis

from app.extensions import available_redis, get_redis, mark_redis_down

log = logging.getLogger(__name__)
STATS_KEY = "stats:counters"


def _record(field: str, add: Callable[[redis.Redis], object]) -> None:
    client = available_redis()
    if client is None:
        return
    try:
        add(client)
    except redis.RedisError:
        mark_redis_down()
        log.debug("stats field %s not recorded", field)


def incr(field: str, amount: int = 1) -> None:
    _record(field, lambda client: client.hincrby(STATS_KEY, field, amount))


def add_seconds(field: str, seconds: float) -> None:
    _record(field, lambda client: client.hincrbyfloat(STATS_KEY, field, seconds))


def read_all() -> dict[str, float]:
    raw = cast(dict[bytes, bytes], get_redis().hgetall(STATS_KEY))
    return {key.decode(): float(value) for key, value in raw.items()}


def reset() -> None:
    get_redis().delete(STATS_KEY)
