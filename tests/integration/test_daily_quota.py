"""Spotify's daily quotas: counted per endpoint group, a lock of one group leaves the
others working, and background work stops at its share of the day's budget."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from flask.testing import FlaskClient

from app.extensions import get_redis
from tests.helpers import add_album
from tests.pipeline import Pipeline, Worker, short_id, wait_all, wait_for
from worker import service as service_module
from worker.service import SpotifyService, spotify_service

pytestmark = [pytest.mark.celery, pytest.mark.xdist_group("pipeline")]


def _unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


def test_a_search_quota_lock_leaves_album_lookups_working(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    answer = requests.post(f"{pipe.sim.url}_sim/quota", json={"bucket": "search"}, timeout=5)
    answer.raise_for_status()
    linked = add_album(_unique("Linked"), "Band", spotify_id=short_id())
    title, artist = _unique("Unlinked"), _unique("Band")
    for base in (pipe.sim.url, pipe.deezer.url):  # search would find it; Deezer has it too
        body = [{"artist": artist, "title": title, "year": 2000}]
        requests.post(f"{base}_sim/albums", json=body, timeout=5).raise_for_status()
    unlinked = add_album(title, artist, year=2000)
    second = add_album(_unique("Also unlinked"), _unique("Band"), year=2001)

    assert wait_for(pipe_client, linked.id)["source"] == "spotify"  # lookups go on
    cover = wait_for(pipe_client, unlinked.id, timeout=40)
    assert (cover["status"], cover["source"]) == ("ready", "deezer")  # search is locked
    wait_for(pipe_client, second.id, timeout=40)
    searches = pipe.sim.state.api_calls("/v1/search")
    assert [c.status for c in searches] == [429]  # asked once; the lock is kept since
    service: SpotifyService = spotify_service()
    locked = {u.bucket: u.locked_for for u in service.quota.usage()}
    assert locked["search"] > 80_000
    assert locked["albums"] == 0
    stats = pipe_client.get("/metrics").get_data(as_text=True)
    assert 'album_catalog_spotify_quota_locked_seconds{bucket="albums"} 0.0' in stats


def test_a_background_run_stops_at_its_share_and_viewers_still_get_covers(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    budget = {"SPOTIFY_DAILY_BUDGET": "100"}
    pipe.worker.stop()
    pipe.worker = Worker(pipe.env | budget, pipe.log_dir).start()
    pipe.app.config["SPOTIFY_DAILY_BUDGET"] = 100
    try:
        run = [
            add_album(f"Run {n:03d}", "Refreshed Band", spotify_id=short_id()) for n in range(90)
        ]
        viewed = [add_album(f"Viewed {n}", "Visited Band", spotify_id=short_id()) for n in range(5)]
        service_module.init_app(pipe.app)  # this process's CLI reads the same budget
        result = pipe.app.test_cli_runner().invoke(args=["refresh-cache", "--all", "--enqueue"])
        assert result.exit_code == 0, result.output
        assert (
            "today's budget allows about 70 more album lookups in the background" in result.output
        )
        deadline = time.monotonic() + 30
        while len(pipe.sim.state.api_calls("/v1/albums")) < 70 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # the run has stopped: no call beyond its share
        assert len(pipe.sim.state.api_calls("/v1/albums")) == 70
        # A visitor opens five albums the run had not reached: they still arrive.
        seen = wait_all(pipe_client, [a.id for a in viewed], timeout=20)
        assert [w.body["status"] for w in seen.values()] == ["ready"] * 5
        assert len(pipe.sim.state.api_calls("/v1/albums")) == 75
        usage = {u.bucket: u for u in spotify_service().quota.usage()}
        assert usage["albums"].used == 75
        text = pipe.app.test_cli_runner().invoke(args=["cache-stats"]).output
        assert "albums 75/100 (background stops at 70)" in text
        assert run  # the run is paused, not dropped: its albums wait for the window
        assert get_redis().zcard(f"{pipe.app.config['REDIS_PREFIX']}refresh:run") > 0
    finally:
        pipe.app.test_cli_runner().invoke(args=["refresh-cache", "--cancel"])
        pipe.app.config["SPOTIFY_DAILY_BUDGET"] = int(pipe.env.get("SPOTIFY_DAILY_BUDGET", 500))
        pipe.worker.stop()
        pipe.worker = Worker(pipe.env, pipe.log_dir).start()
