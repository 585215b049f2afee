"""Viewers first: a script that asks for 1,000 cold covers once and leaves costs almost
nothing, and a visitor who comes after it gets covers as fast as without it."""

from __future__ import annotations

import statistics
import threading
import time

import pytest
from flask.testing import FlaskClient

from app.extensions import db
from app.importer.service import run_import
from app.importer.sources import Table
from app.models import Album
from tests.pipeline import Pipeline, Worker, short_id, wait_all

pytestmark = [pytest.mark.celery, pytest.mark.xdist_group("pipeline")]
BUDGET = {"SPOTIFY_RATE_PER_SEC": "1.5", "SPOTIFY_BURST": "10"}  # the limiter
ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}


def _albums(pipe: Pipeline, prefix: str, count: int) -> dict[int, str]:
    """Album id -> Spotify id, imported in one go."""
    ids = [short_id() for _ in range(count)]
    records = [(n + 2, ["Band", f"{prefix} {n:04d}", "", "", sid]) for n, sid in enumerate(ids)]
    run_import(db.session(), Table(["Artist", "Album", "Year", "Genre", "Spotify"], records, "t"))
    rows = db.session.query(Album.id, Album.spotify_album_id).filter(
        Album.title.like(f"{prefix} %")
    )
    return {album_id: str(sid) for album_id, sid in rows}


def _view(pipe_client: FlaskClient, albums: dict[int, str]) -> list[float]:
    opened = time.monotonic()
    seen = wait_all(pipe_client, list(albums), timeout=60)
    assert [w.body["status"] for w in seen.values()] == ["ready"] * len(albums)
    return [(w.ready_at or 0) - opened for w in seen.values()]


def _ask_once(pipe: Pipeline, album_ids: list[int]) -> None:
    """The script: 8 at a time, each cover once, never polling."""
    chunks = [album_ids[n::8] for n in range(8)]

    def ask(chunk: list[int]) -> None:
        client = pipe.app.test_client()
        for album_id in chunk:
            client.get(f"/catalog/album/{album_id}/cover-art/", environ_base=ATTACKER)

    threads = [threading.Thread(target=ask, args=(c,)) for c in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _calls_for(pipe: Pipeline, spotify_ids: set[str]) -> int:
    return sum(
        1
        for c in pipe.sim.state.api_calls("/v1/albums")
        if c.path.split("/")[3].split("?")[0] in spotify_ids
    )


def test_a_script_asking_once_for_1000_covers_does_not_slow_a_visitor(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    pipe.worker.stop()
    pipe.worker = Worker(pipe.env | BUDGET, pipe.log_dir).start()
    try:
        baseline_albums = _albums(pipe, "Baseline", 10)
        script_albums = _albums(pipe, "Script", 1000)
        viewed_albums = _albums(pipe, "Viewed", 10)
        baseline = _view(pipe_client, baseline_albums)
        time.sleep(7)  # the bucket refills (10 tokens at 1.5/s)

        _ask_once(pipe, list(script_albums))
        with_script = _view(pipe_client, viewed_albums)

        p95 = statistics.quantiles(with_script, n=20)[-1]
        p95_baseline = statistics.quantiles(baseline, n=20)[-1]
        assert p95 <= p95_baseline + 3.0, (baseline, with_script)
        spent = _calls_for(pipe, set(script_albums.values()))
        assert spent < 50  # the script's albums cost (almost) nothing while nobody polls
        time.sleep(3)
        assert _calls_for(pipe, set(script_albums.values())) == spent  # and nothing later
    finally:
        pipe.worker.stop()
        pipe.worker = Worker(pipe.env, pipe.log_dir).start()


def test_cache_busting_from_one_client_leaves_the_queues_bounded(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    """A loop over 300 cold albums, every request with a fresh `sid`, for 15 s: the
    interactive queue stays within the client's cap, the background lane within one
    task per album."""
    albums = list(_albums(pipe, "Busted", 300))
    prefix = pipe.app.config["REDIS_PREFIX"]
    redis_client = pipe.app.extensions["redis"]
    cap = int(pipe.app.config["FETCH_CLIENT_CAP"])
    depths: list[tuple[int, int]] = []
    deadline = time.monotonic() + 15
    n = 0
    client = pipe.app.test_client()
    while time.monotonic() < deadline:
        album_id = albums[n % len(albums)]
        client.get(f"/catalog/album/{album_id}/cover-art/?sid=bust{n}", environ_base=ATTACKER)
        n += 1
        if n % 50 == 0:
            depths.append(
                (
                    int(redis_client.llen(f"{prefix}interactive")),
                    int(redis_client.llen(f"{prefix}background")),
                )
            )
    assert n > 300  # it did loop over every album, more than once
    assert max(d[0] for d in depths) <= 2 * cap
    assert max(d[1] for d in depths) <= len(albums)
