"""The just-in-time pipeline end to end: web app, Redis, PostgreSQL, real Celery
worker processes and the Spotify simulator (a real HTTP server)."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from flask.testing import FlaskClient

from app.cache.keys import entry_key
from app.extensions import get_redis, redis_key
from app.spotify.limiter import limiter_key
from tests.helpers import add_album
from tests.live import serve
from tests.pipeline import Pipeline, Worker, get_json, short_id, wait_for
from tools.spotify_sim.albums import track_count

pytestmark = [pytest.mark.celery, pytest.mark.xdist_group("pipeline")]


def album_calls(pipe: Pipeline, spotify_id: str | None = None) -> int:
    calls = pipe.sim.state.api_calls("/v1/albums")
    return len([c for c in calls if spotify_id is None or spotify_id in c.path])


def test_cold_cover_goes_pending_then_ready_and_one_call_fills_both(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    spotify_id = short_id()
    album = add_album("Kid A", "Radiohead", spotify_id=spotify_id)

    first = pipe_client.get(f"/catalog/album/{album.id}/cover-art/?format=json")
    assert first.status_code == 202
    body = wait_for(pipe_client, album.id)

    assert body["status"] == "ready"
    assert body["cover_url"] == f"{pipe.sim.url}image/{spotify_id}/640"
    assert [i["width"] for i in body["images"]] == [640, 300, 64]
    metadata = pipe_client.get(f"/catalog/album/{album.id}/metadata/?format=json").get_json()
    assert metadata["status"] == "ready"
    assert len(metadata["metadata"]["tracks"]) == track_count(spotify_id)
    assert "label" not in metadata["metadata"]  # development mode: no label
    assert album_calls(pipe) == 1


def test_every_key_the_app_and_its_worker_write_is_under_the_redis_prefix(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    """Web, broker, claims, limiter, token, counters and heartbeats share one namespace,
    so another catalog on the same Redis cannot collide with this one."""
    prefix = pipe.app.config["REDIS_PREFIX"]
    assert prefix.startswith(
        "album_catalog_pipeline_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
    )
    albums = [add_album(f"Album {n}", "Band", spotify_id=short_id()) for n in range(3)]
    for album in albums:
        pipe_client.get(f"/catalog/album/{album.id}/cover-art/?format=json")
    for album in albums:
        assert wait_for(pipe_client, album.id)["status"] == "ready"
    keys = {k.decode() for k in get_redis().scan_iter("*")}
    deadline = time.monotonic() + 10  # the next heartbeat (the fixture flushed Redis)
    while not pipe_client.get("/healthz").get_json()["checks"]["worker"].startswith("ok"):
        assert time.monotonic() < deadline, "the worker's heartbeat never arrived"
        time.sleep(0.2)
    keys |= {k.decode() for k in get_redis().scan_iter("*")}
    assert any(k.endswith(":cover") for k in keys)
    assert any("spotify:limiter" in k for k in keys)
    assert any(k.endswith("workers:heartbeat") for k in keys)
    assert sorted(k for k in keys if not k.startswith(prefix)) == []


def test_fifty_concurrent_viewers_cause_one_spotify_call(pipe: Pipeline) -> None:
    spotify_id = short_id()
    album = add_album("OK Computer", "Radiohead", spotify_id=spotify_id)
    pipe.sim.state.update(latency_ms=300)  # the fetch is still running while they ask
    with serve(pipe.app) as base, ThreadPoolExecutor(50) as pool:
        url = f"{base}/catalog/album/{album.id}/cover-art/?format=json"
        statuses = list(pool.map(lambda _i: requests.get(url, timeout=10).status_code, range(50)))
    assert set(statuses) <= {200, 202}
    assert wait_for(pipe.app.test_client(), album.id)["status"] == "ready"
    assert album_calls(pipe, spotify_id) == 1


def test_second_pass_makes_no_calls_even_after_redis_loses_the_cache(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    albums = [add_album(f"Album {i}", "Band", spotify_id=short_id()) for i in range(8)]
    for album in albums:
        pipe_client.get(f"/catalog/album/{album.id}/cover-art/?format=json")
    for album in albums:
        assert wait_for(pipe_client, album.id)["status"] == "ready"
    calls_after_first_pass = album_calls(pipe)
    assert calls_after_first_pass == 8

    for album in albums:
        assert (
            pipe_client.get(f"/catalog/album/{album.id}/cover-art/?format=json").status_code == 200
        )
        assert (
            pipe_client.get(f"/catalog/album/{album.id}/metadata/?format=json").status_code == 200
        )
    for key in get_redis().scan_iter(redis_key("album:*")):
        get_redis().delete(key)
    for album in albums:  # answered from the database, which backfills Redis
        assert (
            pipe_client.get(f"/catalog/album/{album.id}/cover-art/?format=json").status_code == 200
        )
    html = pipe_client.get("/catalog/").get_data(as_text=True)
    assert html.count('data-cover-state="ready"') == 8  # inline, no polling at all
    assert album_calls(pipe) == calls_after_first_pass


def test_a_429_pauses_every_worker_until_retry_after(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    pipe.sim.state.throttle(3)  # Spotify answers 429 with Retry-After: 3 for 3 s
    albums = [add_album(f"Album {i}", "Band", spotify_id=short_id()) for i in range(6)]
    for album in albums:
        pipe_client.get(f"/catalog/album/{album.id}/cover-art/?format=json")
    for album in albums:
        assert wait_for(pipe_client, album.id, timeout=40)["status"] == "ready"

    calls = pipe.sim.state.api_calls("/v1/albums")
    limited = [c for c in calls if c.status == 429]
    assert limited, "the simulator should have answered 429"
    first_429 = limited[0].at
    # Calls already in flight when the first 429 arrived may land just after it;
    # after that, nobody calls until the 3 s Retry-After has passed.
    during = [c for c in calls if first_429 + 0.5 < c.at < first_429 + 2.9]
    assert during == []
    assert len([c for c in calls if c.status == 200]) == 6


def test_thirty_percent_errors_still_end_with_every_cover_ready(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    pipe.sim.state.update(error_ratio=0.3, seed=42)
    albums = [add_album(f"Album {i}", "Band", spotify_id=short_id()) for i in range(20)]
    for album in albums:
        pipe_client.get(f"/catalog/album/{album.id}/cover-art/?format=json")
    results = [wait_for(pipe_client, album.id, timeout=60) for album in albums]
    # A temporary failure shows "unavailable" until its retry time; views then retry.
    deadline = time.monotonic() + 60
    while any(r["status"] != "ready" for r in results) and time.monotonic() < deadline:
        time.sleep(0.5)
        results = [wait_for(pipe_client, album.id, timeout=60) for album in albums]
    assert [r["status"] for r in results] == ["ready"] * 20
    errors = [c for c in pipe.sim.state.api_calls("/v1/albums") if c.status >= 500]
    assert errors, "the simulator should have failed some calls"


def test_a_killed_worker_loses_no_album(pipe: Pipeline, pipe_client: FlaskClient) -> None:
    pipe.sim.state.update(latency_ms=3000)
    album = add_album("Slow", "Band", spotify_id=short_id())
    pipe_client.get(f"/catalog/album/{album.id}/cover-art/?format=json")
    in_flight = limiter_key(pipe.app.config["REDIS_PREFIX"], "in-flight")
    deadline = time.monotonic() + 15
    while not get_redis().zcard(in_flight) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert get_redis().zcard(in_flight), "the worker should be calling Spotify by now"

    pipe.worker.kill()  # mid-call, before anything was stored
    pipe.sim.state.update(latency_ms=0)
    pipe.worker = Worker(pipe.env, pipe.log_dir).start()

    assert wait_for(pipe_client, album.id, timeout=45)["status"] == "ready"


def test_spotify_404_is_unavailable_and_not_retried_on_every_view(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    spotify_id = short_id()
    pipe.sim.state.update(missing_ids={spotify_id})
    album = add_album("Ghost", "Nobody", spotify_id=spotify_id)
    pipe_client.get(f"/catalog/album/{album.id}/cover-art/?format=json")
    body = wait_for(pipe_client, album.id)
    assert body == {"album_id": album.id, "status": "unavailable", "reason": "not_found"}
    for _ in range(5):
        pipe_client.get(f"/catalog/album/{album.id}/cover-art/?format=json")
        pipe_client.get(f"/catalog/album/{album.id}/metadata/?format=json")
    get_redis().delete(entry_key(album.id, "cover"))  # even from the database
    assert wait_for(pipe_client, album.id)["reason"] == "not_found"
    time.sleep(0.5)
    assert album_calls(pipe, spotify_id) == 1
    html = pipe_client.get(f"/catalog/album/{album.id}/").get_data(as_text=True)
    assert "Spotify does not know this album." in html


def test_batch_mode_fetches_twenty_albums_per_call(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    pipe.sim.state.update(mode="extended", latency_ms=200)
    albums = [add_album(f"Album {i:02d}", "Band", spotify_id=short_id()) for i in range(40)]
    worker = Worker(pipe.env | {"SPOTIFY_BATCH": "auto"}, pipe.log_dir, concurrency=1)
    pipe.worker.stop()  # only the batch-mode worker takes tasks in this test
    try:
        worker.start()
        for album in albums:
            pipe_client.get(f"/catalog/album/{album.id}/cover-art/?format=json")
        for album in albums:
            assert wait_for(pipe_client, album.id)["status"] == "ready"
    finally:
        worker.stop()
        pipe.worker = Worker(pipe.env, pipe.log_dir).start()
    batch_calls = [c for c in pipe.sim.state.api_calls("/v1/albums") if "ids=" in c.path]
    assert 2 <= len(batch_calls) <= 4  # 40 albums, up to 20 a call
    assert len(pipe.sim.state.api_calls("/v1/albums")) == len(batch_calls)
    metadata = get_json(pipe_client, albums[0].id, "metadata")[1]["metadata"]
    assert "label" in metadata  # extended-quota apps still get label and popularity
    assert "popularity" in metadata


def test_daily_quota_exhaustion_shows_a_placeholder_and_stops_calling(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    pipe.sim.state.quota_exhausted = True  # 429, Retry-After: 86400, reason QUOTA_EXCEEDED
    first = add_album("Album A", "Band", spotify_id=short_id())
    second = add_album("Album B", "Band", spotify_id=short_id())
    pipe_client.get(f"/catalog/album/{first.id}/cover-art/?format=json")

    body = wait_for(pipe_client, first.id)
    assert (body["status"], body["reason"]) == ("unavailable", "error")
    assert body["retry_after"] > 80_000  # "try again tomorrow", not an error page
    # Every worker now knows: another album is not even tried.
    status, other = get_json(pipe_client, second.id)
    assert status == 200
    assert (other["status"], other["reason"]) == ("unavailable", "error")
    html = pipe_client.get(f"/catalog/album/{second.id}/cover-art/").get_data(as_text=True)
    assert 'data-cover-state="unavailable"' in html
    time.sleep(0.5)
    assert album_calls(pipe) == 1
