"""Browsing users first: background work only spends what visitors leave.

Real workers (serving both lanes, interactive first), PostgreSQL, Redis and the
simulator, on a small budget (5 calls/s, burst 10) so the lanes have to share.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db, get_redis
from app.importer.service import run_import
from app.importer.sources import Table
from app.models import Album
from tests.pipeline import Pipeline, Worker, short_id, wait_all
from worker.lanes import run_status
from worker.queue import cancel_background_run, start_background_run

pytestmark = [pytest.mark.celery, pytest.mark.xdist_group("pipeline")]
RATE, BURST = 5.0, 10
BUDGET = {"SPOTIFY_RATE_PER_SEC": str(RATE), "SPOTIFY_BURST": str(BURST)}


@pytest.fixture
def lanes(pipe: Pipeline) -> Iterator[Pipeline]:
    """The pipeline with one worker on the small budget (the web app shares it)."""
    pipe.sim.state.update(latency_ms=100)
    pipe.app.config.update(SPOTIFY_RATE_PER_SEC=RATE, SPOTIFY_BURST=BURST)
    pipe.worker.stop()
    pipe.worker = Worker(pipe.env | BUDGET, pipe.log_dir).start()
    try:
        yield pipe
    finally:
        pipe.worker.kill()  # a background run may still be going: no graceful drain
        cancel_background_run()  # nor may the next worker pick it up
        pipe.app.config.update(
            SPOTIFY_RATE_PER_SEC=float(pipe.env["SPOTIFY_RATE_PER_SEC"]),
            SPOTIFY_BURST=int(pipe.env["SPOTIFY_BURST"]),
        )
        pipe.worker = Worker(pipe.env, pipe.log_dir).start()


def import_albums(count: int) -> tuple[list[int], dict[int, str]]:
    """`count` cold albums, imported as a club would; their ids and Spotify ids."""
    spotify_ids = [short_id() for _ in range(count)]
    records = [(i + 2, ["Band", f"Album {i:04d}", "", "", s]) for i, s in enumerate(spotify_ids)]
    run_import(db.session(), Table(["Artist", "Album", "Year", "Genre", "Spotify"], records, "t"))
    rows = db.session.execute(select(Album.id, Album.spotify_album_id).order_by(Album.id)).all()
    return [r[0] for r in rows], {r[0]: str(r[1]) for r in rows}


def calls_at(pipe: Pipeline, spotify_ids: set[str] | None = None) -> list[float]:
    return [
        c.at
        for c in pipe.sim.state.api_calls("/v1/albums/")
        if c.status == 200
        and (spotify_ids is None or c.path.split("/")[3].split("?")[0] in spotify_ids)
    ]


def most_in_window(times: list[float], window: float) -> int:
    times, best, start = sorted(times), 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_visitors_go_first_while_500_albums_refresh_in_the_background(
    lanes: Pipeline, pipe_client: FlaskClient
) -> None:
    ids, spotify = import_albums(505)
    queued, viewed = ids[:500], ids[500:]
    assert start_background_run(queued) == 500
    time.sleep(3)  # the background lane is busy and the bucket drained to its reserve
    background_before = len(calls_at(lanes, {spotify[i] for i in queued}))

    waits = []
    for album_id in viewed:
        asked = time.monotonic()
        seen = wait_all(pipe_client, [album_id], timeout=10)[album_id]
        assert seen.body["status"] == "ready"
        waits.append((seen.ready_at or 0) - asked)
        time.sleep(0.5)  # a visitor opening one album after another

    assert max(waits) < 2, f"visitors waited {waits}"
    time.sleep(2)
    background_calls = calls_at(lanes, {spotify[i] for i in queued})
    assert len(background_calls) > background_before + 5  # background kept going
    everything = calls_at(lanes)
    elapsed = max(everything) - min(everything)
    assert most_in_window(everything, 30) <= BURST + RATE * min(30.0, elapsed) + 1
    assert not [c for c in lanes.sim.state.api_calls("/v1/") if c.status == 429]
    status = run_status(get_redis())
    assert status is not None
    assert status.total == 500
    assert status.done > 0


def test_viewing_an_album_waiting_in_the_background_lane_fetches_it_now_and_once(
    lanes: Pipeline, pipe_client: FlaskClient
) -> None:
    ids, spotify = import_albums(40)
    assert start_background_run(ids) == 40
    waiting = ids[30]  # the background lane reaches it only after about 6 s
    time.sleep(0.5)

    asked = time.monotonic()
    seen = wait_all(pipe_client, [waiting], timeout=10)[waiting]
    assert seen.body["status"] == "ready"
    assert (seen.ready_at or 0) - asked < 2

    deadline = time.monotonic() + 30
    while run_status(get_redis()) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert run_status(get_redis()) is None, "the background run should have finished"
    assert len(calls_at(lanes, {spotify[waiting]})) == 1  # the background task found it fresh
    assert len(calls_at(lanes)) == 40


def test_cancel_empties_the_background_lane_and_leaves_visitors_alone(
    lanes: Pipeline, pipe_client: FlaskClient
) -> None:
    ids, _ = import_albums(301)
    start_background_run(ids[:300])
    time.sleep(1.5)

    result = lanes.app.test_cli_runner().invoke(args=["refresh-cache", "--cancel"])
    assert result.exit_code == 0, result.output
    assert "cancelled the background refresh" in result.output
    assert run_status(get_redis()) is None
    assert get_redis().llen("background") == 0
    time.sleep(1)  # what was already in a worker's hands may finish
    settled = len(calls_at(lanes))

    seen = wait_all(pipe_client, [ids[300]], timeout=10)[ids[300]]
    assert seen.body["status"] == "ready"  # interactive work is untouched
    time.sleep(2)
    assert len(calls_at(lanes)) == settled + 1  # nothing of the run was fetched since


def test_a_background_run_survives_a_worker_restart(
    lanes: Pipeline, pipe_client: FlaskClient
) -> None:
    ids, spotify = import_albums(40)
    start_background_run(ids)
    time.sleep(1.5)
    lanes.worker.kill()  # its feeder and the fetches it held are lost with it
    lanes.worker = Worker(lanes.env | BUDGET, lanes.log_dir).start()

    deadline = time.monotonic() + 60
    while run_status(get_redis()) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert run_status(get_redis()) is None, "the run should have been fed to the end"
    fetched = {c.path.split("/")[3].split("?")[0] for c in lanes.sim.state.api_calls("/v1/albums/")}
    assert set(spotify.values()) <= fetched
