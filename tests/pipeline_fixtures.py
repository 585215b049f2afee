"""Fixtures for the real pipeline: PostgreSQL, Redis, simulator and Celery workers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import delete

from app import create_app
from app.config import TestConfig
from app.extensions import db, get_redis
from app.models import Admin, Album, Artist, AuditEntry, Genre, album_genres
from tests.pipeline import Pipeline, Worker, pipeline_env
from tests.services import drop_postgres_database, postgres_database, redis_url
from tools.deezer_sim import DeezerSettings
from tools.deezer_sim import SimServer as DeezerSim
from tools.musicbrainz_sim import MusicBrainzSettings
from tools.musicbrainz_sim import SimServer as MusicBrainzSim
from tools.spotify_sim import SimServer, SimSettings

# The app's MusicBrainz limiter (0.9/s) against the real service's 1/s, as in production.
RATE_PER_SEC = 1.0


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    suffix = os.environ.get("PYTEST_XDIST_WORKER", "main")
    db_name = f"album_catalog_pipeline_{suffix}"
    database_url = postgres_database(db_name)
    queue_url = redis_url(pipeline=True)
    with (
        SimServer(SimSettings()) as sim,
        DeezerSim(DeezerSettings()) as deezer,
        MusicBrainzSim(MusicBrainzSettings(rate_per_sec=RATE_PER_SEC)) as musicbrainz,
    ):
        env = pipeline_env(database_url, queue_url, sim.url, deezer.url, musicbrainz.url)
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            app = create_app(TestConfig(database_url, redis_url=queue_url))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        log_dir = tmp_path_factory.mktemp("workers")
        app.config["MEDIA_DIR"] = str(tmp_path_factory.mktemp("media"))  # uploaded covers
        worker = Worker(env, log_dir).start()
        running = Pipeline(app, sim, worker, env, log_dir, deezer, musicbrainz)
        try:
            yield running
        finally:
            running.worker.stop()  # tests may have replaced the worker
    drop_postgres_database(db_name)


@pytest.fixture
def pipe(pipeline: Pipeline) -> Iterator[Pipeline]:
    """A clean slate for each test: empty tables, empty Redis (and queue), fresh simulator."""
    pipeline.sim.state.settings = SimSettings()
    pipeline.sim.state.reset()
    pipeline.deezer.state.settings = DeezerSettings()
    pipeline.deezer.state.reset()
    pipeline.musicbrainz.state.settings = MusicBrainzSettings(rate_per_sec=RATE_PER_SEC)
    pipeline.musicbrainz.state.reset()
    with pipeline.app.app_context():
        tables = (album_genres, Album.__table__, Artist.__table__, Genre.__table__,
                  Admin.__table__, AuditEntry.__table__)  # fmt: skip
        for table in tables:
            db.session.execute(delete(table))  # type: ignore[arg-type]
        db.session.commit()
        get_redis().flushdb()
        yield pipeline
        db.session.remove()


@pytest.fixture
def pipe_client(pipe: Pipeline) -> FlaskClient:
    return pipe.app.test_client()
