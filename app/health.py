"""`GET /healthz`: can the app reach its database, Redis and a worker?"""

from __future__ import annotations

from typing import Any

from celery import Celery
from flask import Blueprint, current_app
from sqlalchemy import text

from app.extensions import db, get_redis

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
    celery: Celery = current_app.extensions["celery"]
    try:
        replies = celery.control.ping(timeout=0.5)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok" if replies else "no worker answered"


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
    checks = {"database": _check_database(), "redis": _check_redis()}
    # Without Redis there is no broker, so asking for workers would only time out.
    checks["worker"] = _check_worker() if checks["redis"] == "ok" else "unknown"
    healthy = checks["database"] == "ok" and checks["redis"] == "ok"
    return {"status": "ok" if healthy else "degraded", "checks": checks}, 200 if healthy else 503
