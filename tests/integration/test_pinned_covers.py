"""Nothing overwrites a pin; candidates come through the worker; a wrong match is forgotten.

Against the real pipeline (PostgreSQL, Redis, a Celery worker) and the simulators.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from app.curation import pins
from app.extensions import db, get_redis
from app.models import Album
from tests.helpers import add_album, write_csv
from tests.pipeline import Pipeline, short_id, wait_for
from worker import candidates as cover_candidates

pytestmark = [pytest.mark.celery, pytest.mark.xdist_group("pipeline")]
PINNED = "https://i.scdn.co/image/the-club-pressing"


def _unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


def _known(base_url: str, artist: str, title: str, year: int) -> dict[str, Any]:
    answer = requests.post(
        f"{base_url}_sim/albums", json=[{"artist": artist, "title": title, "year": year}], timeout=5
    )
    answer.raise_for_status()
    return answer.json()["added"][0]


def _row(album_id: int) -> Album:
    db.session.expire_all()
    row = db.session.get(Album, album_id)
    assert row is not None
    return row


def _pinned_album(pipe: Pipeline, pipe_client: FlaskClient) -> int:
    """An album with a Spotify link, fetched, then pinned to the club's own cover."""
    album = add_album("Pinned", "The Band", year=2001, spotify_id=short_id())
    assert wait_for(pipe_client, album.id)["source"] == "spotify"
    pins.pin_url(album.id, PINNED, actor="alice")
    return album.id


def _cover(pipe_client: FlaskClient, album_id: int) -> tuple[Any, Any]:
    body = wait_for(pipe_client, album_id)
    return body["source"], body["cover_url"]


def test_a_pin_survives_refresh_all_and_its_track_list_still_refreshes(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    album_id = _pinned_album(pipe, pipe_client)
    before = _row(album_id).spotify_metadata_cached_at
    result = pipe.app.test_cli_runner().invoke(args=["refresh-cache", "--all"])
    assert result.exit_code == 0, result.output
    assert _cover(pipe_client, album_id) == ("manual", PINNED)
    row = _row(album_id)
    assert row.cover_pinned_at is not None
    assert before is not None
    assert row.spotify_metadata_cached_at is not None
    assert row.spotify_metadata_cached_at > before  # the track list was refreshed


def test_a_pin_survives_an_import_that_changes_the_link(
    pipe: Pipeline, pipe_client: FlaskClient, tmp_path: Path
) -> None:
    album_id = _pinned_album(pipe, pipe_client)
    sheet = write_csv(
        tmp_path / "changed.csv",
        [["Artist", "Album", "Year", "Spotify"], ["The Band", "Pinned", "2002", short_id()]],
    )
    result = pipe.app.test_cli_runner().invoke(args=["import-albums", "--csv", str(sheet)])
    assert result.exit_code == 0, result.output
    assert "updated 1" in result.output
    assert _cover(pipe_client, album_id) == ("manual", PINNED)
    assert _row(album_id).spotify_metadata_json is None  # the old link's track list went


def test_a_pin_is_never_stale_and_survives_a_redis_flush(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    album_id = _pinned_album(pipe, pipe_client)
    row = _row(album_id)
    long_ago = datetime.now(UTC) - timedelta(days=400)  # far past COVER_CACHE_TTL
    row.cover_cached_at = row.cover_pinned_at = long_ago
    db.session.commit()
    get_redis().flushdb()
    calls = len(pipe.sim.state.api_calls("/v1/albums"))
    for _ in range(3):
        assert _cover(pipe_client, album_id) == ("manual", PINNED)
    time.sleep(2)  # a refresh, had one been queued, would have run by now
    assert len(pipe.sim.state.api_calls("/v1/albums")) == calls
    assert _row(album_id).cover_url == PINNED


def test_candidates_come_through_the_worker_and_one_can_be_pinned_from_the_cli(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    title, artist = _unique("Blue Lines"), _unique("Massive Attack")
    _known(pipe.deezer.url, artist, title, 1991)
    album = add_album(title, artist, year=1991, spotify_id=short_id())
    deezer_calls = len(pipe.deezer.state.calls)
    listed = cover_candidates.request_candidates(album.id)
    assert listed.state == "pending"
    assert len(pipe.deezer.state.calls) == deezer_calls  # the web asked the worker, not Deezer
    deadline = time.monotonic() + 20
    while (listed := cover_candidates.request_candidates(album.id)).state != "ready":
        assert time.monotonic() < deadline, "candidates never arrived"
        time.sleep(0.2)
    sources = [c["source"] for c in listed.candidates]
    assert "spotify" in sources
    assert "deezer" in sources

    runner = pipe.app.test_cli_runner()
    shown = runner.invoke(args=["covers", "candidates", str(album.id)])
    assert shown.exit_code == 0, shown.output
    number = next(
        int(line.split(".")[0]) for line in shown.output.splitlines() if "[deezer]" in line
    )
    pinned = runner.invoke(args=["covers", "pin", str(album.id), "--candidate", str(number)])
    assert pinned.exit_code == 0, pinned.output
    source, url = _cover(pipe_client, album.id)
    assert source == "manual"
    assert str(url).startswith(pipe.deezer.url.rstrip("/"))


def test_this_is_not_the_album_forgets_the_match_and_resolves_again(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    title, artist = _unique("Moon Safari"), _unique("Air")
    wrong = _known(pipe.sim.url, artist, title, 1998)  # Spotify search finds this one
    _known(pipe.deezer.url, artist, title, 1998)  # ...and Deezer has the right pressing
    album = add_album(title, artist, year=1998)
    assert wait_for(pipe_client, album.id)["source"] == "spotify-search"
    assert _row(album.id).spotify_match_id == wrong["id"]

    # The search also offers other editions of the same title (a remaster matches too):
    # each rejected one is remembered, and none is ever chosen again.
    rejected: list[str] = []
    while (row := _row(album.id)).cover_source == "spotify-search":
        assert row.spotify_match_id is not None
        assert row.spotify_match_id not in rejected
        rejected.append(row.spotify_match_id)
        assert len(rejected) <= 5, "the rejections are not remembered"
        pins.wrong_match(album.id, actor="alice")
        wait_for(pipe_client, album.id, timeout=40)
    assert row.cover_source == "deezer"
    assert row.spotify_match_id is None
    assert row.cover_rejected == {"spotify-search": rejected}
    assert row.spotify_metadata_json is None  # the wrong album's track list went with it

    # Asked again later (a refresh), the search never picks a rejected album again.
    result = pipe.app.test_cli_runner().invoke(args=["refresh-cache", "--album-id", str(album.id)])
    assert result.exit_code == 0, result.output
    assert _row(album.id).spotify_match_id is None
    assert wait_for(pipe_client, album.id)["source"] == "deezer"
