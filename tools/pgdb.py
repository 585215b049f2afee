"""Create and drop throw-away PostgreSQL databases (tests and benchmarks)."""

from __future__ import annotations

import os

import psycopg
from psycopg import sql

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_DROP = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")


def create_database(name: str) -> str:
    """(Re-)create an empty database; return its SQLAlchemy URL (psycopg 3 driver)."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(_DROP.format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(_DROP.format(sql.Identifier(name)))
