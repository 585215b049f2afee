"""Every album gets its cover: Spotify search, Deezer, the Cover Art Archive, in order.

Against the real pipeline (PostgreSQL, Redis, a Celery worker) and the simulators of
Spotify, Deezer and MusicBrainz/CAA, with their answer shapes, decoys and throttling.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Album
from tests.helpers import add_album, write_csv
from tests.pipeline import Pipeline, short_id, wait_for

pytestmark = pytest.mark.xdist_group("pipeline")


def _unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


def _known(base_url: str, artist: str, title: str, year: int) -> dict[str, Any]:
    """Make a simulator know this album; its description (with the sim's id)."""
    answer = requests.post(
        f"{base_url}_sim/albums", json=[{"artist": artist, "title": title, "year": year}], timeout=5
    )
    answer.raise_for_status()
    return answer.json()["added"][0]


def _calls(base_url: str, prefix: str = "") -> list[dict[str, Any]]:
    answer = requests.get(f"{base_url}_sim/calls", params={"prefix": prefix}, timeout=5)
    answer.raise_for_status()
    body: Any = answer.json()
    return body["calls"] if isinstance(body, dict) else body


def _album(pipe: Pipeline, title: str, artist: str, year: int, link: str | None = None) -> int:
    with pipe.app.app_context():
        return add_album(title, artist, year=year, spotify_id=link).id


def test_an_album_without_a_link_gets_its_spotify_cover_and_track_list_by_search(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    title, artist = _unique("Moon Safari"), _unique("Air")
    real = _known(pipe.sim.url, artist, title, 1998)
    album_id = _album(pipe, title, artist, 1998)

    cover = wait_for(pipe_client, album_id)
    assert cover["status"] == "ready"
    assert cover["source"] == "spotify-search"
    metadata = wait_for(pipe_client, album_id, "metadata")
    assert metadata["status"] == "ready"
    assert metadata["metadata"]["tracks"]  # the track list came with the match
    with pipe.app.app_context():
        row = db.session.get(Album, album_id)
        assert row is not None
        # The real album, not one of the decoys the search ranked around it; kept
        # apart from the sheet's (empty) link.
        assert row.spotify_match_id == real["id"]
        assert row.spotify_album_id is None
    searches = [c for c in pipe.sim.state.calls if c.path.startswith("/v1/search")]
    assert len(searches) == 1
    assert [c for c in _calls(pipe.deezer.url) if c["path"].startswith("/search")] == []


def test_decoys_are_never_chosen(pipe: Pipeline, pipe_client: FlaskClient) -> None:
    """Only look-alikes exist (a live version, a tribute, karaoke, another artist's
    album of the same title): no Spotify match, and the next source is asked."""
    title, artist = _unique("Harvest"), _unique("Neil Young")
    _known(pipe.sim.url, _unique("Someone Else"), title, 1972)  # brings its decoys along
    album_id = _album(pipe, title, artist, 1972)
    cover = wait_for(pipe_client, album_id, timeout=40)
    assert cover == {"album_id": album_id, "status": "unavailable", "reason": "not_found"}
    with pipe.app.app_context():
        row = db.session.get(Album, album_id)
        assert row is not None
        assert row.spotify_match_id is None


def test_an_album_spotify_lacks_gets_a_deezer_cover(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    title, artist = _unique("Blue Lines"), _unique("Massive Attack")
    _known(pipe.deezer.url, artist, title, 1991)
    album_id = _album(pipe, title, artist, 1991)
    cover = wait_for(pipe_client, album_id)
    assert (cover["status"], cover["source"]) == ("ready", "deezer")
    assert cover["cover_url"].startswith(pipe.deezer.url.rstrip("/"))
    assert cover["images"][0]["width"] == 1000  # cover_xl first
    metadata = wait_for(pipe_client, album_id, "metadata")
    assert metadata["status"] == "no_spotify"  # no track list: Spotify does not know it
    html = pipe_client.get(f"/catalog/album/{album_id}/").get_data(as_text=True)
    assert "Deezer" in html  # attribution where the cover came from


def test_then_the_cover_art_archive_then_a_clear_no_cover_remembered(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    title, artist = _unique("Pink Moon"), _unique("Nick Drake")
    _known(pipe.musicbrainz.url, artist, title, 1972)
    on_caa = _album(pipe, title, artist, 1972)
    nowhere = _album(pipe, _unique("Lost Tape"), _unique("Nobody"), 1980)

    cover = wait_for(pipe_client, on_caa, timeout=40)
    assert (cover["status"], cover["source"]) == ("ready", "coverartarchive")
    assert "/caa/release-group/" in cover["cover_url"]
    assert wait_for(pipe_client, nowhere, timeout=40) == {
        "album_id": nowhere,
        "status": "unavailable",
        "reason": "not_found",
    }
    before = len(pipe.sim.state.calls) + len(_calls(pipe.deezer.url))
    before += len(_calls(pipe.musicbrainz.url))
    for _ in range(3):
        assert (
            pipe_client.get(f"/catalog/album/{nowhere}/cover-art/?format=json").status_code == 200
        )
    time.sleep(1)
    after = len(pipe.sim.state.calls) + len(_calls(pipe.deezer.url))
    after += len(_calls(pipe.musicbrainz.url))
    assert after == before  # "no cover anywhere" is remembered: nothing asked again


def test_a_throttled_source_is_cooled_down_while_the_others_go_on(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    """Deezer answers HTTP 200 + error code 4: it pauses; the Cover Art Archive still
    answers for the next album in the meantime."""
    requests.post(f"{pipe.deezer.url}_sim/throttle", json={"seconds": 30}, timeout=5)
    title, artist = _unique("Bryter Layter"), _unique("Nick Drake")
    _known(pipe.deezer.url, artist, title, 1971)
    _known(pipe.musicbrainz.url, artist, title, 1971)
    album_id = _album(pipe, title, artist, 1971)
    cover = wait_for(pipe_client, album_id, timeout=40)
    assert (cover["status"], cover["source"]) == ("ready", "coverartarchive")
    throttled = [c for c in _calls(pipe.deezer.url) if c["path"].startswith("/search")]
    assert len(throttled) == 1  # asked once, answered "quota", left alone since


def test_no_source_is_called_faster_than_its_limit(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    """Four albums only MusicBrainz knows, viewed at once: MusicBrainz (1 request per
    second per IP, 503 above it) is never asked faster, so it never refuses."""
    artist = _unique("Harold Budd")
    titles = [_unique(f"Pavilion {n}") for n in range(4)]
    for title in titles:
        _known(pipe.musicbrainz.url, artist, title, 1978)
    ids = [_album(pipe, title, artist, 1978) for title in titles]
    for album_id in ids:
        pipe_client.get(f"/catalog/album/{album_id}/cover-art/?format=json")
    for album_id in ids:
        cover = wait_for(pipe_client, album_id, timeout=60)
        assert (cover["status"], cover["source"]) == ("ready", "coverartarchive")
    searches = [c for c in _calls(pipe.musicbrainz.url, "/ws/2/") if c["status"] != 403]
    assert len(searches) == 4
    assert all(c["status"] == 200 for c in searches)  # no 503: never over the limit
    times = sorted(c["at"] for c in searches)
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.9


def test_stats_count_covers_by_source_matches_and_calls(
    pipe: Pipeline, pipe_client: FlaskClient
) -> None:
    searched, on_deezer = _unique("Searched"), _unique("On Deezer")
    artist = _unique("Club Band")
    _known(pipe.sim.url, artist, searched, 2001)
    _known(pipe.deezer.url, artist, on_deezer, 2002)
    nowhere = _album(pipe, _unique("Nowhere"), artist, 2003)
    for album_id in (_album(pipe, searched, artist, 2001), _album(pipe, on_deezer, artist, 2002)):
        assert wait_for(pipe_client, album_id)["status"] == "ready"
    assert wait_for(pipe_client, nowhere, timeout=40)["status"] == "unavailable"

    result = pipe.app.test_cli_runner().invoke(args=["cache-stats", "--json"])
    stats = json.loads(result.output)
    assert stats["covers_by_source"] == {"deezer": 1, "spotify-search": 1}
    assert stats["spotify_matches"] == 1
    assert stats["no_cover_anywhere"] == 1
    assert stats["source_calls"]["deezer"]["ok"] == 2  # on_deezer found; nowhere asked once
    text = pipe.app.test_cli_runner().invoke(args=["cache-stats"]).output
    assert "covers by source: deezer 1, spotify-search 1" in text
    metrics = pipe_client.get("/metrics").get_data(as_text=True)
    assert 'album_catalog_covers_by_source{source="deezer"} 1.0' in metrics
    assert "album_catalog_no_cover_anywhere 1.0" in metrics


def test_an_import_makes_no_outside_calls(pipe: Pipeline, tmp_path: Path) -> None:
    rows = [
        ["Artist", "Album", "Year", "Spotify"],
        [_unique("Air"), _unique("Talkie Walkie"), "2004", ""],
        [_unique("Can"), _unique("Tago Mago"), "1971", "https://www.youtube.com/watch?v=x"],
        [_unique("Neu!"), _unique("Neu! 75"), "1975", short_id()],
    ]
    path = write_csv(tmp_path / "club.csv", rows)
    result = pipe.app.test_cli_runner().invoke(args=["import-albums", "--csv", str(path)])
    assert result.exit_code == 0, result.output
    assert "created 3" in result.output
    time.sleep(0.5)
    assert pipe.sim.state.calls == []
    assert _calls(pipe.deezer.url) == []
    assert _calls(pipe.musicbrainz.url) == []
