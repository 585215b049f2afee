"""The real pipeline for integration tests: PostgreSQL, Redis, the Spotify simulator
and `celery worker` processes, wired exactly as in production."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tools.deezer_sim import SimServer as DeezerSim
from tools.musicbrainz_sim import SimServer as MusicBrainzSim
from tools.spotify_sim import SimServer
from tools.spotify_sim.albums import track_count
from tools.workers import Worker, pipeline_env

__all__ = [
    "Pipeline",
    "Watched",
    "Worker",
    "celery_of",
    "get_json",
    "pipeline_env",
    "short_id",
    "wait_all",
    "wait_for",
]


def wait_for(
    client: FlaskClient, album_id: int, kind: str = "cover-art", timeout: float = 30
) -> dict[str, Any]:
    """Poll the JSON route like a browser polls the fragment, until it is not pending."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/catalog/album/{album_id}/{kind}/?format=json")
        body: dict[str, Any] = response.get_json()
        if body["status"] != "pending":
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"album {album_id} still pending after {timeout} s")
        time.sleep(0.1)


@dataclass
class Watched:
    """What polling one album's cover saw, as a browser tile would have seen it."""

    body: dict[str, Any]
    ready_at: float | None = None  # time.monotonic() when it turned ready
    statuses: set[str] | None = None  # every `status` answered along the way
    http_errors: int = 0  # 4xx/5xx answers


def wait_all(
    client: FlaskClient, album_ids: list[int], timeout: float = 30, every: float = 0.25
) -> dict[int, Watched]:
    """Poll every album's cover JSON round-robin, like tiles on screen, until none is pending.

    Unlike `wait_for`, every album keeps being polled, so an album whose task was lost
    is queued again by its own polls. Returns what each album ended as.
    """
    watched = {i: Watched({"status": "pending"}, statuses=set()) for i in album_ids}
    deadline = time.monotonic() + timeout
    while True:
        waiting = [i for i, w in watched.items() if w.body["status"] == "pending"]
        if not waiting or time.monotonic() > deadline:
            return watched
        for album_id in waiting:
            response = client.get(f"/catalog/album/{album_id}/cover-art/?format=json")
            seen = watched[album_id]
            if response.status_code >= 400:
                seen.http_errors += 1
                continue
            seen.body = response.get_json()
            assert seen.statuses is not None
            seen.statuses.add(seen.body["status"])
            if seen.body["status"] == "ready":
                seen.ready_at = time.monotonic()
        time.sleep(every)


def celery_of(app: Flask) -> Any:
    return app.extensions["celery"]


@dataclass
class Pipeline:
    app: Flask
    sim: SimServer
    worker: Worker
    env: dict[str, str]
    log_dir: Path
    deezer: DeezerSim
    musicbrainz: MusicBrainzSim


def short_id() -> str:
    """A fresh album id whose tracks fit one page (so one album = one call)."""
    while True:
        candidate = uuid.uuid4().hex[:22]
        if track_count(candidate) <= 50:
            return candidate


def get_json(client: FlaskClient, album_id: int, kind: str = "cover-art") -> tuple[int, Any]:
    response = client.get(f"/catalog/album/{album_id}/{kind}/?format=json")
    return response.status_code, response.get_json()
