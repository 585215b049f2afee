"""The pipeline heals itself in seconds: killed workers, a restarted Redis, lost tasks,
error storms and the batch probe of development-mode apps never leave a cover stuck.

Real `celery worker` processes, PostgreSQL, Redis and the Spotify simulator; covers are
polled round-robin as the tiles of an open catalog page poll them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from app import create_app
from app.config import TestConfig
from app.models import Album
from app.spotify.limiter import limiter_key
from tests.helpers import add_album
from tests.pipeline import Pipeline, Worker, celery_of, get_json, short_id, wait_all, wait_for
from tools import embedded_redis
from worker.job import FetchRequest
from worker.tasks import send_fetch_task

pytestmark = [pytest.mark.celery, pytest.mark.xdist_group("pipeline")]


def cold_albums(count: int) -> list[Album]:
    return [add_album(f"Album {i:02d}", "Band", spotify_id=short_id()) for i in range(count)]


def album_calls(pipe: Pipeline) -> list[str]:
    return [c.path for c in pipe.sim.state.api_calls("/v1/albums") if c.status == 200]


def test_auto_batch_mode_on_a_development_app_gets_48_cold_covers_in_3_s(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    # A fresh Redis knows nothing about batch lookups: the first task probes the
    # several-albums endpoint, which a development-mode app is refused (403).
    albums = cold_albums(48)
    pipe.worker.stop()
    workers = [Worker(pipe.env | {"SPOTIFY_BATCH": "auto"}, pipe.log_dir).start() for _ in "ab"]
    try:
        opened = time.monotonic()
        seen = wait_all(pipe_client, [a.id for a in albums], timeout=10)
    finally:
        for worker in workers:
            worker.stop()
        pipe.worker = Worker(pipe.env, pipe.log_dir).start()

    assert [w.body["status"] for w in seen.values()] == ["ready"] * 48
    slowest = max(w.ready_at or 0 for w in seen.values()) - opened
    assert slowest < 3, f"the last cover took {slowest:.1f} s"
    probes = [c for c in pipe.sim.state.api_calls("/v1/albums") if "ids=" in c.path]
    assert probes, "the batch endpoint should have been probed"
    assert {c.status for c in probes} == {403}
    assert len(album_calls(pipe)) == 48  # then one single lookup per album


def test_killing_one_of_two_workers_mid_fetch_loses_no_album(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    pipe.sim.state.update(latency_ms=400)
    second = Worker(pipe.env, pipe.log_dir).start()
    albums = cold_albums(40)
    for album in albums:
        get_json(pipe_client, album.id)
    in_flight = limiter_key(pipe.app.config["REDIS_PREFIX"], "in-flight")
    client = redis.Redis.from_url(pipe.env["REDIS_URL"])
    deadline = time.monotonic() + 10
    while client.zcard(in_flight) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)

    second.kill()  # mid-call: its albums are taken, its reserved tasks are lost
    killed = time.monotonic()
    seen = wait_all(pipe_client, [a.id for a in albums], timeout=30)

    assert [w.body["status"] for w in seen.values()] == ["ready"] * 40
    slowest = max(w.ready_at or 0 for w in seen.values()) - killed
    assert slowest < 20, f"the last cover was ready {slowest:.1f} s after the kill"
    assert all((w.statuses or set()) <= {"pending", "ready"} for w in seen.values())
    # Only a call the killed worker had in flight may have been made twice.
    assert len(album_calls(pipe)) <= 40 + second.concurrency


def test_a_lost_task_is_queued_again_by_the_next_poll(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    pipe.worker.stop()  # nobody takes the task while we lose it
    album = cold_albums(1)[0]
    assert get_json(pipe_client, album.id)[0] == 202
    celery_of(pipe.app).control.purge()  # the message is gone; the "queued" lock is not
    pipe.worker = Worker(pipe.env, pipe.log_dir).start()
    started = time.monotonic()

    seen = wait_all(pipe_client, [album.id], timeout=20)[album.id]

    assert seen.body["status"] == "ready"
    lock_seconds = float(pipe.app.config["FETCH_LOCK_SECONDS"])
    assert (seen.ready_at or 0) - started < lock_seconds + 3
    assert len(album_calls(pipe)) == 1


def test_duplicate_tasks_for_one_album_make_one_spotify_call(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    pipe.sim.state.update(latency_ms=300)
    album = cold_albums(1)[0]
    with pipe.app.app_context():
        for _ in range(6):  # as after a redelivery, a re-queue and a retry click at once
            assert send_fetch_task(FetchRequest(album.id))
        assert send_fetch_task(FetchRequest(album.id, refresh=True, requested_at=time.time()))

    assert wait_for(pipe_client, album.id)["status"] == "ready"
    time.sleep(1)  # let every duplicate run
    assert len(album_calls(pipe)) == 1


def test_thirty_percent_server_errors_end_with_every_cover_ready_and_no_error_shown(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    pipe.sim.state.update(error_ratio=0.3, seed=7)
    albums = cold_albums(40)

    seen = wait_all(pipe_client, [a.id for a in albums], timeout=60)

    assert [w.body["status"] for w in seen.values()] == ["ready"] * 40
    # Failures back off behind the scenes: the tiles only ever saw pending, then ready.
    assert all((w.statuses or set()) <= {"pending", "ready"} for w in seen.values())
    assert sum(w.http_errors for w in seen.values()) == 0
    calls = pipe.sim.state.api_calls("/v1/albums")
    failed = [c for c in calls if c.status >= 500]
    assert failed, "the simulator should have failed some calls"
    assert len(album_calls(pipe)) == 40
    # Never back to back: the next try of a failed album waits at least the base backoff.
    base = float(pipe.env["SPOTIFY_RETRY_BASE_SECONDS"])
    for failure in failed:
        later = [c.at for c in calls if c.path == failure.path and c.at > failure.at]
        assert later, f"{failure.path} was never tried again"
        assert min(later) - failure.at >= base * 0.9


def test_healthz_sees_a_killed_worker_within_three_heartbeats(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    # Default heartbeat (every 4 s): a dead worker drops out after three missed beats.
    def worker_check() -> str:
        return str(pipe_client.get("/healthz").get_json()["checks"]["worker"])

    deadline = time.monotonic() + 5  # the fixture flushed Redis: wait for the next beat
    while not worker_check().startswith("ok") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker_check() == "ok (1 alive)"
    pipe.worker.kill()  # no goodbye: the heartbeat just stops
    killed = time.monotonic()
    try:
        while worker_check().startswith("ok"):
            assert time.monotonic() - killed < 15, "a dead worker still looks alive"
            time.sleep(0.2)
        body = pipe_client.get("/healthz").get_json()
        assert body["checks"]["worker"].startswith("no worker heartbeat")
        assert body["status"] == "ok"  # web pages still work; covers wait for a worker
    finally:
        pipe.worker = Worker(pipe.env, pipe.log_dir).start()
    assert worker_check() == "ok (1 alive)"


class OwnRedis:
    """A Redis server of the test's own (so it may be restarted), with an app and a worker."""

    def __init__(self, pipe: Pipeline, directory: Path, patch: pytest.MonkeyPatch) -> None:
        self.directory = directory
        self.port = embedded_redis.free_port()
        self.process, url = embedded_redis.start(directory, port=self.port)
        env = pipe.env | {"REDIS_URL": url}
        for name, value in env.items():
            patch.setenv(name, value)
        self.app = create_app(TestConfig(env["DATABASE_URL"], redis_url=url))
        # Two, as a deployment runs them: more fetches in flight when Redis goes away.
        self.workers = [Worker(env, pipe.log_dir).start() for _ in "ab"]

    def restart(self) -> None:
        """Stop the server and start an empty one on the same port."""
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process = embedded_redis.start(self.directory, port=self.port)[0]

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis(
    pipe: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[OwnRedis]:
    running = OwnRedis(pipe, tmp_path / "redis", monkeypatch)
    try:
        yield running
    finally:
        running.stop()


def test_covers_are_ready_within_10_s_of_an_empty_redis_coming_back(
    pipe: Pipeline, own_redis: OwnRedis
) -> None:
    client = own_redis.app.test_client()
    before = cold_albums(10)
    pipe.sim.state.update(latency_ms=1000)  # still in flight when Redis goes away
    for album in before:
        get_json(client, album.id)

    own_redis.restart()  # every lock, queued task and cached cover is gone
    back = time.monotonic()
    pipe.sim.state.update(latency_ms=0)
    after = [add_album(f"New {i}", "Band", spotify_id=short_id()) for i in range(10)]
    seen = wait_all(client, [a.id for a in before + after], timeout=30)

    assert [w.body["status"] for w in seen.values()] == ["ready"] * 20
    slowest = max(w.ready_at or 0 for w in seen.values()) - back
    assert slowest < 10, f"the last cover was ready {slowest:.1f} s after Redis came back"
    assert sum(w.http_errors for w in seen.values()) == 0
    for worker in own_redis.workers:
        log = worker.log(tail=None)
        assert "raised unexpected" not in log  # tasks end cleanly too
        # ...and the workers live on: kombu's close of the lost connection killed them.
        assert "Unrecoverable error" not in log
        assert worker.process is not None
        assert worker.process.poll() is None
