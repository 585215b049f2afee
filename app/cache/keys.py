"""Cache entry keys and their encoding, shared by the read path and the worker.

(The fetch lock's keys belong to its protocol: `app.cache.fetch_lock`.)
"""

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
