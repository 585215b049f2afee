"""The resolver on both databases: each source in order, run in-process (the way
`flask refresh-cache` runs it), against the simulators, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from flask import Flask

from app.extensions import db
from app.models import Album
from tests.helpers import add_album
from tools.deezer_sim import SimServer as DeezerSim
from tools.musicbrainz_sim import SimServer as MusicBrainzSim
from tools.spotify_sim import SimServer
from tools.workers import source_env
from worker import service as spotify_service
from worker.fetch import fetch_album
from worker.job import FetchRequest, Outcome


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[SimServer, DeezerSim, MusicBrainzSim]]:
    with SimServer() as sim, DeezerSim() as deezer, MusicBrainzSim() as musicbrainz:
        yield sim, deezer, musicbrainz


@pytest.fixture
def wired(app: Flask, sims: tuple[SimServer, DeezerSim, MusicBrainzSim]) -> Flask:
    sim, deezer, musicbrainz = sims
    app.config.update(
        {
            k: v
            for k, v in source_env(deezer.url, musicbrainz.url).items()
            if k not in ("DEEZER_IMAGE_HOSTS", "COVERARTARCHIVE_IMAGE_HOSTS")
        }
        | {
            "COVER_SOURCES": ("spotify", "spotify-search", "deezer", "coverartarchive"),
            "SPOTIFY_CLIENT_ID": "sim-client",
            "SPOTIFY_CLIENT_SECRET": "sim-secret",
            "SPOTIFY_API_BASE": sim.api_base,
            "SPOTIFY_TOKEN_URL": sim.token_url,
            "MUSICBRAINZ_RATE_PER_SEC": 5.0,  # the simulator's own limit is set below
            "IMAGE_HOSTS": (
                "i.scdn.co",
                sim.url.rstrip("/"),
                deezer.url.rstrip("/"),
                musicbrainz.url.rstrip("/"),
            ),
        }
    )
    requests.post(f"{musicbrainz.url}_sim/settings", json={"rate_per_sec": 50}, timeout=5)
    spotify_service.init_app(app)
    return app


def _know(base_url: str, artist: str, title: str) -> None:
    body = [{"artist": artist, "title": title, "year": 1990}]
    requests.post(f"{base_url}_sim/albums", json=body, timeout=5).raise_for_status()


def _fetch(album_id: int) -> Outcome:
    return fetch_album(FetchRequest(album_id), max_wait=5, send=lambda *_: True)


def test_each_source_in_order_then_no_cover(
    wired: Flask, sims: tuple[SimServer, DeezerSim, MusicBrainzSim]
) -> None:
    sim, deezer, musicbrainz = sims
    _know(sim.url, "Slowdive", "Souvlaki")
    _know(deezer.url, "Ride", "Nowhere")
    _know(musicbrainz.url, "Lush", "Spooky")
    albums = {
        "spotify-search": add_album("Souvlaki", "Slowdive", year=1990),
        "deezer": add_album("Nowhere", "Ride", year=1990),
        "coverartarchive": add_album("Spooky", "Lush", year=1990),
        None: add_album("Unreleased", "Chapterhouse", year=1990),
    }
    for source, album in albums.items():
        outcome = _fetch(album.id)
        assert outcome == (Outcome.REFRESHED if source else Outcome.NOT_FOUND)
        row = db.session.get(Album, album.id, populate_existing=True)
        assert row is not None
        assert row.cover_source == source
        assert (row.cover_url is not None) == (source is not None)
    nowhere = db.session.get(Album, albums[None].id)
    assert nowhere is not None
    assert nowhere.cover_status == "none"
    outcomes = nowhere.cover_outcomes or {}
    assert {k: v["outcome"] for k, v in outcomes.items()} == {
        "spotify-search": "not_found",
        "deezer": "not_found",
        "coverartarchive": "not_found",
    }
    # Asked again (a duplicate task): every source's "not found" is remembered.
    before = len(sim.state.calls) + len(deezer.state.calls) + len(musicbrainz.state.calls)
    assert _fetch(albums[None].id) == Outcome.NOT_FOUND
    after = len(sim.state.calls) + len(deezer.state.calls) + len(musicbrainz.state.calls)
    assert after == before
