"""Redis key names and cached-entry encoding, shared by the read path and the worker."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, cast

from app.extensions import redis_key
from app.models import as_utc

Kind = Literal["cover", "metadata"]
KINDS: tuple[Kind, ...] = ("cover", "metadata")


def entry_key(album_id: int, kind: Kind) -> str:
    return redis_key(f"album:{album_id}:{kind}")


def _namespace(prefix: str | None) -> str:
    """An explicit prefix (threads without an app context pass theirs), else the app's."""
    return redis_key("") if prefix is None else prefix


# Lua scripts that find albums in the batch queue build lock keys from these parts.
LOCK_KEY_SUFFIX = ":fetch-lock"


def lock_key_prefix(prefix: str | None = None) -> str:
    return f"{_namespace(prefix)}album:"


def lock_key(album_id: int, prefix: str | None = None) -> str:
    return f"{lock_key_prefix(prefix)}{album_id}{LOCK_KEY_SUFFIX}"


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return str(value)


def encode(entry: dict[str, Any]) -> str:
    return json.dumps(entry, default=_json_default)


def decode(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def pending_key(prefix: str | None = None) -> str:
    """Albums queued for a fetch, scored by when (Redis clock, ms); batch-mode workers
    take up to 20 of them per call."""
    return f"{_namespace(prefix)}fetch:pending"


# ZADD with Redis's own clock, so web servers with skewed clocks agree.
QUEUE_SCRIPT = """
local t = redis.call('TIME')
return redis.call('ZADD', KEYS[1], 'NX', t[1] * 1000 + math.floor(t[2] / 1000), ARGV[1])
"""
