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

from tools.spotify_sim import SimServer
from tools.spotify_sim.albums import track_count
from tools.workers import Worker, pipeline_env

__all__ = ["Pipeline", "Worker", "celery_of", "get_json", "pipeline_env", "short_id", "wait_for"]


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


def celery_of(app: Flask) -> Any:
    return app.extensions["celery"]


@dataclass
class Pipeline:
    app: Flask
    sim: SimServer
    worker: Worker
    env: dict[str, str]
    log_dir: Path


def short_id() -> str:
    """A fresh album id whose tracks fit one page (so one album = one call)."""
    while True:
        candidate = uuid.uuid4().hex[:22]
        if track_count(candidate) <= 50:
            return candidate


def get_json(client: FlaskClient, album_id: int, kind: str = "cover-art") -> tuple[int, Any]:
    response = client.get(f"/catalog/album/{album_id}/{kind}/?format=json")
    return response.status_code, response.get_json()
