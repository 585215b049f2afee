"""Finding the real services (PostgreSQL, Redis) tests need, or skipping clearly.

With REQUIRE_SERVICES=1 (as in CI) a missing service fails the test instead of
skipping it, so CI can never pass by silently skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import psycopg
import pytest
import redis

from tools.pgdb import PG_ADMIN_URL, create_database, drop_database

REDIS_TEST_SERVER = os.environ.get("TEST_REDIS_SERVER", "redis://127.0.0.1:6379")


def _redis_db(base: int) -> int:
    """`base` for a plain run; base - 1, base - 2, ... for each pytest-xdist worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return base - 1 - int(worker.removeprefix("gw")) if worker.startswith("gw") else base


def require_services() -> bool:
    return os.environ.get("REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> NoReturn:
    if require_services():
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


def postgres_database(name: str) -> str:
    """Create (or re-create) an empty database and return its SQLAlchemy URL."""
    try:
        return create_database(name)
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")


def drop_postgres_database(name: str) -> None:
    drop_database(name)


def redis_url(*, pipeline: bool = False) -> str:
    """A real Redis database for tests, flushed first.

    The pipeline's Celery workers consume the queue in their own database, so tests
    that look at the queue themselves never share it with a running worker.
    """
    url = f"{REDIS_TEST_SERVER}/{_redis_db(8 if pipeline else 15)}"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        unavailable(f"Redis is not reachable at {url}: {exc}")
    finally:
        client.close()
    return url
