"""`GET /healthz`: can the app reach its database and Redis, and is a worker alive?

Answers in milliseconds: the worker check reads heartbeats from Redis, it does not
ping workers over the broker.
"""

from __future__ import annotations

from typing import Any, cast

import redis
from flask import Blueprint
from sqlalchemy import text

from app.config import setting
from app.extensions import db, get_redis, redis_key

bp = Blueprint("health", __name__)
# Worker name -> time of its last beat in ms (Redis clock); written by worker/heartbeat.py.


def heartbeat_key(prefix: str | None = None) -> str:
    """Worker name -> last beat (ms, Redis clock); a worker's thread passes its prefix."""
    return f"{redis_key('') if prefix is None else prefix}workers:heartbeat"


_ALIVE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[1]), '+inf')
"""


def _check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "down"; the reason is reported
        return f"error: {type(exc).__name__}"
    return "ok"


def _check_redis() -> str:
    try:
        get_redis().ping()  # pyright: ignore[reportUnknownMemberType]
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def alive_workers(client: redis.Redis, max_age: float) -> int:
    """Workers whose last heartbeat is at most `max_age` seconds old (Redis's clock)."""
    return int(cast(int, client.eval(_ALIVE, 1, heartbeat_key(), int(max_age * 1000))))


def _check_worker() -> str:
    max_age = 3 * float(setting("WORKER_HEARTBEAT_SECONDS"))
    try:
        alive = alive_workers(get_redis(), max_age)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return f"ok ({alive} alive)" if alive else f"no worker heartbeat in {max_age:.0f} s"


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
    checks = {"database": _check_database(), "redis": _check_redis()}
    # Workers beat into Redis: without Redis there is nothing to read.
    checks["worker"] = _check_worker() if checks["redis"] == "ok" else "unknown"
    healthy = checks["database"] == "ok" and checks["redis"] == "ok"
    return {"status": "ok" if healthy else "degraded", "checks": checks}, 200 if healthy else 503
