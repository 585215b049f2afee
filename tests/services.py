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
from psycopg import sql

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_DROP = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_services() -> bool:
    return os.environ.get("REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> NoReturn:
    if require_services():
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


def postgres_database(name: str) -> str:
    """Create (or re-create) an empty database and return its SQLAlchemy URL."""
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(_DROP.format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def drop_postgres_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(_DROP.format(sql.Identifier(name)))


def redis_url() -> str:
    """A real Redis database for tests, flushed first."""
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        unavailable(f"Redis is not reachable at {REDIS_TEST_URL}: {exc}")
    finally:
        client.close()
    return REDIS_TEST_URL
