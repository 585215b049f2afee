"""Get-or-compute in Redis, for values any process can rebuild (pages, counts, menus).

Best effort: without Redis, or when it fails during the request, the value is simply
computed; nothing waits on Redis twice.
"""

from __future__ import annotations

from collections.abc import Callable

import redis

from app.extensions import available_redis, mark_redis_down


def remembered(key: str | None, seconds: int, compute: Callable[[], str]) -> str:
    """The text stored under `key`, else `compute()` (kept `seconds`); None: no caching."""
    client = available_redis() if key is not None and seconds > 0 else None
    if client is None or key is None:
        return compute()
    try:
        raw = client.get(key)
        if isinstance(raw, bytes):
            return raw.decode()
    except redis.RedisError:
        mark_redis_down()
        return compute()
    value = compute()
    try:
        client.set(key, value, ex=seconds)
    except redis.RedisError:
        mark_redis_down()
    return value
