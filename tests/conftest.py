from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import event

from app import create_app
from app.config import TestConfig
from app.extensions import db, set_redis
from tests.services import drop_postgres_database, postgres_database, redis_url
from worker import service as spotify_service

# The real-pipeline fixtures (workers, simulator) for integration and browser tests.
pytest_plugins = ["tests.pipeline_fixtures"]

DATABASES = ["sqlite", "postgresql"]


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(params=["fakeredis", "redis"])
def any_redis(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """Each Redis-level test runs twice: on fakeredis (with Lua) and on the real server."""
    if request.param == "fakeredis":
        yield fakeredis.FakeRedis()
        return
    real = redis.Redis.from_url(redis_url())
    yield real
    real.flushdb()
    real.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"album_catalog_test_{_worker_suffix()}"
    url = postgres_database(name)
    yield url
    drop_postgres_database(name)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs twice: on SQLite and on PostgreSQL."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(TestConfig(database_url))
    set_redis(app, fakeredis.FakeRedis())
    spotify_service.init_app(app)  # on the swapped Redis too
    with app.app_context():
        db.drop_all()
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app: Flask) -> Callable[[], Any]:
    """`with count_queries() as counter:` records every SQL statement sent."""

    @contextmanager
    def counting() -> Generator[QueryCounter]:
        counter = QueryCounter()

        def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            counter.statements.append(statement)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        try:
            yield counter
        finally:
            event.remove(engine, "before_cursor_execute", before)

    return counting
