"""Run real `celery worker` processes for tests and benchmarks, wired to the simulator."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import redis

from app.config import DEFAULT_DATABASE_URL, normalise_database_url, redis_prefix
from worker.heartbeat import heartbeat_key

ROOT = Path(__file__).resolve().parent.parent


def source_env(deezer_url: str | None, musicbrainz_url: str | None) -> dict[str, str]:
    """Cover-source settings pointing at the Deezer and MusicBrainz/CAA simulators.

    Without them, only what the Spotify simulator answers (the lookup and its search)."""
    if deezer_url is None or musicbrainz_url is None:
        return {"COVER_SOURCES": "spotify,spotify-search"}
    return {
        "COVER_SOURCES": "spotify,spotify-search,deezer,coverartarchive",
        "COVER_CONTACT": "tests@album-catalog.invalid",
        "DEEZER_API_BASE": deezer_url,
        "DEEZER_IMAGE_HOSTS": deezer_url.rstrip("/"),
        "MUSICBRAINZ_API_BASE": f"{musicbrainz_url}ws/2/",
        "COVERARTARCHIVE_BASE": f"{musicbrainz_url}caa/",
        "COVERARTARCHIVE_IMAGE_HOSTS": musicbrainz_url.rstrip("/"),
    }


def pipeline_env(
    database_url: str,
    redis_url: str,
    sim_url: str,
    deezer_url: str | None = None,
    musicbrainz_url: str | None = None,
) -> dict[str, str]:
    """Settings shared by the test process's app and the worker processes."""
    return source_env(deezer_url, musicbrainz_url) | {
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SPOTIFY_CLIENT_ID": "sim-client",
        "SPOTIFY_CLIENT_SECRET": "sim-secret",
        "SPOTIFY_API_BASE": f"{sim_url}v1/",
        "SPOTIFY_TOKEN_URL": f"{sim_url}api/token",
        "SPOTIFY_IMAGE_HOSTS": f"i.scdn.co,{sim_url.rstrip('/')}",
        "SPOTIFY_RATE_PER_SEC": "50",
        "SPOTIFY_BURST": "20",
        "SPOTIFY_TIMEOUT": "5",
        "SPOTIFY_RETRY_ATTEMPTS": "10",
        # Transient errors back off from 0.2 s to 2 s here (2 s to 60 s by default).
        "SPOTIFY_RETRY_BASE_SECONDS": "0.2",
        "SPOTIFY_RETRY_MAX_SECONDS": "2",
        # The simulator starts in development mode, where batch lookups are gone.
        "SPOTIFY_BATCH": "off",
        "ERROR_RETRY_SECONDS": "1",
    }


class Worker:
    """One `celery -A celery_app worker` process, with the Procfile's threads pool."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        concurrency: int = 4,
        queues: str = "interactive,background",
    ) -> None:
        self.queues = queues
        self.name = f"test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.env = dict(os.environ) | dict(env)
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None
        database = normalise_database_url(self.env.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
        self.heartbeat_key = heartbeat_key(redis_prefix(database, self.env.get("REDIS_PREFIX", "")))

    def start(self, timeout: float = 60) -> Worker:
        """Start the worker and wait until its heartbeat is in Redis."""
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "celery_app", "worker",
                "--loglevel=INFO", f"--concurrency={self.concurrency}", "--pool=threads",
                "-Q", self.queues,
                "--without-gossip", "--without-mingle", "-n", self.name,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() takes the children too
        )  # fmt: skip
        # Never leave a worker behind, even if the test run itself is interrupted.
        atexit.register(self.kill)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if self.alive():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker did not answer within {timeout} s:\n{self.log()}")

    def alive(self) -> bool:
        """Whether this worker's heartbeat is in Redis."""
        client = redis.Redis.from_url(self.env["REDIS_URL"], socket_connect_timeout=1)
        try:
            return client.zscore(self.heartbeat_key, self.name) is not None
        except redis.RedisError:
            return False
        finally:
            client.close()

    def log(self, tail: int | None = 4000) -> str:
        text = self.log_path.read_text(errors="replace")
        return text[-tail:] if tail else text

    def kill(self) -> None:
        """SIGKILL the whole worker, as a crashed machine would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
