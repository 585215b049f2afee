"""Get-or-compute in Redis, for values any process can rebuild (pages, counts, menus).

Best effort: without Redis, or when it fails during the request, the value is simply
computed; nothing waits on Redis twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

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


def recall_many(keys: list[str]) -> list[str | None]:
    """The texts stored under `keys`, in one round trip; None for each one missing, and
    for all of them without Redis."""
    client = available_redis() if keys else None
    if client is None:
        return [None] * len(keys)
    try:
        raw = cast(list[bytes | None], client.mget(keys))  # pyright: ignore[reportUnknownMemberType]
    except redis.RedisError:
        mark_redis_down()
        return [None] * len(keys)
    return [value.decode() if value is not None else None for value in raw]


def keep_many(values: dict[str, str], seconds: int) -> None:
    """Store each text under its key for `seconds`, in one round trip (best effort)."""
    client = available_redis() if values else None
    if client is None:
        return
    try:
        pipe = client.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
        for key, value in values.items():
            pipe.set(key, value, ex=seconds)
        pipe.execute()
    except redis.RedisError:
        mark_redis_down()
