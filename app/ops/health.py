"""`GET /healthz`: can the app reach its database and Redis, and is a worker alive?

Answers in milliseconds: the worker check reads heartbeats from Redis, it does not
ping workers over the broker.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import text

from app.config import setting
from app.extensions import db, get_redis
from worker.heartbeat import alive_workers

bp = Blueprint("health", __name__)


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
