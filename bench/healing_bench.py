"""How fast the pipeline heals: a killed worker, a restarted Redis, a 5xx storm, /healthz.

Run: `.venv/bin/python -m bench.healing_bench` (`make bench`). Needs PostgreSQL; runs
its own Redis server (so it can restart it), the Spotify simulator (150 ms latency)
and two `celery worker` processes with the default lock, lease and backoff settings.

Covers are polled round-robin every 250 ms through a live HTTP server, as the tiles
of an open catalog page poll them. Into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from flask import Flask
from sqlalchemy import delete

from app import create_app
from app.config import Config
from app.extensions import db
from app.models import Album, Artist, Genre, album_genres
from bench.common import machine_line, write_section
from bench.pipeline_bench import LATENCY_MS, Bench, environment, percentile, prepared
from tests.live import serve
from tools import embedded_redis
from tools.spotify_sim import SimServer
from tools.workers import Worker, pipeline_env

DB_NAME = "album_catalog_healing_bench"
WORKERS, CONCURRENCY = 2, 4
# The settings `make run` gives the simulator; everything else is the default.
BUDGET = {"SPOTIFY_RATE_PER_SEC": "10", "SPOTIFY_BURST": "20"}
TEST_ONLY = (
    "ERROR_RETRY_SECONDS",
    "SPOTIFY_RETRY_ATTEMPTS",
    "SPOTIFY_RETRY_BASE_SECONDS",
    "SPOTIFY_RETRY_MAX_SECONDS",
)


@dataclass
class Stack:
    """The app, its own Redis server and two workers, on an empty catalog."""

    app: Flask
    env: dict[str, str]
    redis_dir: Path
    port: int
    redis: subprocess.Popen[bytes]
    workers: list[Worker] = field(default_factory=lambda: list[Worker]())

    def restart_redis(self) -> None:
        self.redis.terminate()
        self.redis.wait(timeout=10)
        self.redis = embedded_redis.start(self.redis_dir, port=self.port)[0]


@contextmanager
def stack(sim: SimServer, database_url: str, tmp: Path) -> Generator[Stack]:
    port = embedded_redis.free_port()
    process, url = embedded_redis.start(tmp / "redis", port=port)
    env = pipeline_env(database_url, url, sim.url) | BUDGET | {"SPOTIFY_BATCH": "auto"}
    for name in TEST_ONLY:
        env.pop(name, None)
    sim.state.reset()
    with environment(env):
        app = create_app(Config())
    with app.app_context():
        for table in (album_genres, Album.__table__, Artist.__table__, Genre.__table__):
            db.session.execute(delete(table))  # type: ignore[arg-type]
        db.session.commit()
    running = Stack(app, env, tmp / "redis", port, process)
    running.workers = [Worker(env, tmp, concurrency=CONCURRENCY).start() for _ in range(WORKERS)]
    try:
        yield running
    finally:
        for worker in running.workers:
            worker.stop()
        running.redis.terminate()


@dataclass
class Watch:
    ready: dict[int, float] = field(default_factory=lambda: dict[int, float]())
    shown: set[str] = field(default_factory=lambda: set[str]())  # every status a tile saw
    http_errors: int = 0


def watch(base: str, ids: list[int], timeout: float) -> Watch:
    """Poll every pending cover every 250 ms; when each turned ready (monotonic time)."""
    seen = Watch()
    session = requests.Session()
    # The visitor has the catalog open: its pages show these tiles (a page marks the
    # pending tiles it shows as looked at, as in a browser).
    for page in range(1, 8):
        session.get(f"{base}/catalog/", params={"page": page}, timeout=10)
    deadline = time.monotonic() + timeout
    while len(seen.ready) < len(ids) and time.monotonic() < deadline:
        for album_id in ids:
            if album_id in seen.ready:
                continue
            response = session.get(f"{base}/catalog/album/{album_id}/cover-art/?format=json")
            if response.status_code >= 400:
                seen.http_errors += 1
                continue
            status = response.json()["status"]
            seen.shown.add(status)
            if status == "ready":
                seen.ready[album_id] = time.monotonic()
        time.sleep(0.25)
    return seen


def table(title: str, rows: list[tuple[str, str, str]], note: str = "") -> list[str]:
    """A Markdown section: title, optional note, then measure | value | target rows."""
    head = [title, ""] + ([note, ""] if note else [])
    body = [f"| {measure} | {value} | {target} |" for measure, value, target in rows]
    return [*head, "| measure | value | target |", "|---|---|---|", *body, ""]


def add(bench: Bench, app: Flask, count: int) -> list[int]:
    return bench.add_albums(app, count)[-count:]


def bench_worker_kill(bench: Bench, running: Stack, lines: list[str]) -> None:
    ids = add(bench, running.app, 40)
    with serve(running.app) as base:
        for album_id in ids:
            requests.get(f"{base}/catalog/album/{album_id}/cover-art/?format=json", timeout=5)
        time.sleep(0.5)  # both workers are mid-fetch
        running.workers[1].kill()
        killed = time.monotonic()
        seen = watch(base, ids, timeout=60)
    last = max(seen.ready.values()) - killed
    lines += table(
        "### A worker killed (SIGKILL) with 40 covers pending",
        [
            ("covers ready", f"{len(seen.ready)}/40", "all"),
            ("kill → last cover ready", f"{last:.1f} s", "< 20 s"),
            ("statuses a tile showed", ", ".join(sorted(seen.shown)), "pending, ready"),
        ],
    )


def bench_redis_restart(bench: Bench, running: Stack, lines: list[str]) -> None:
    ids = add(bench, running.app, 20)
    with serve(running.app) as base:
        bench.sim.state.update(latency_ms=1000)
        for album_id in ids[:10]:  # in flight when Redis goes away
            requests.get(f"{base}/catalog/album/{album_id}/cover-art/?format=json", timeout=5)
        time.sleep(0.3)
        running.restart_redis()
        back = time.monotonic()
        bench.sim.state.update(latency_ms=LATENCY_MS)
        seen = watch(base, ids, timeout=60)
    lines += table(
        "### Redis restarted empty (locks, queue, cache and limiter state lost)",
        [
            ("covers ready", f"{len(seen.ready)}/20", "all"),
            ("Redis back → last cover ready", f"{max(seen.ready.values()) - back:.1f} s", "< 10 s"),
            ("4xx/5xx answers to tiles", str(seen.http_errors), "0"),
        ],
        "10 covers in flight when Redis stopped, 10 new ones asked for after it came back.",
    )


def bench_error_storm(bench: Bench, running: Stack, lines: list[str]) -> None:
    ids = add(bench, running.app, 40)
    bench.sim.state.update(error_ratio=0.3)
    with serve(running.app) as base:
        started = time.monotonic()
        seen = watch(base, ids, timeout=300)
    bench.sim.state.update(error_ratio=0.0)
    waits = [t - started for t in seen.ready.values()]
    errors = len([c for c in bench.sim.state.api_calls("/v1/albums") if c.status >= 500])
    spread = f"{percentile(waits, 50):.1f} / {percentile(waits, 95):.1f} / {max(waits):.1f} s"
    lines += table(
        "### 30 % of Spotify answers are 5xx (default backoff: 0.5 s, 1 s, then 2 s, 10 tries;"
        " the shared circuit)",
        [
            ("covers ready", f"{len(seen.ready)}/40", "40/40"),
            ("5xx answers absorbed", str(errors), ""),
            ("ready after, p50 / p95 / max", spread, "max ≤ limiter floor + 10 s"),
            ("statuses a tile showed", ", ".join(sorted(seen.shown)), "no `unavailable`"),
            ("4xx/5xx answers to tiles", str(seen.http_errors), "0"),
        ],
    )


def bench_outage(bench: Bench, running: Stack, lines: list[str]) -> None:
    """Spotify down for 35 s while 20 tiles are on screen, then back."""
    ids = add(bench, running.app, 20)
    bench.sim.state.update(error_ratio=1.0)
    with serve(running.app) as base:
        session = requests.Session()
        shown: set[str] = set()
        outage_ends = time.monotonic() + 35
        while time.monotonic() < outage_ends:  # the tiles keep polling meanwhile
            for album_id in ids:
                response = session.get(f"{base}/catalog/album/{album_id}/cover-art/?format=json")
                shown.add(response.json()["status"])
            time.sleep(0.25)
        bench.sim.state.update(error_ratio=0.0)
        back = time.monotonic()
        seen = watch(base, ids, timeout=60)
    recovered = max(seen.ready.values()) - back if len(seen.ready) == len(ids) else None
    lines += table(
        "### Spotify down for 35 s, then back (20 tiles on screen, polling)",
        [
            ("covers ready without a reload", f"{len(seen.ready)}/20", "20/20"),
            (
                "Spotify back → last visible cover ready",
                f"{recovered:.1f} s" if recovered is not None else "never",
                "≤ 10 s",
            ),
            ("statuses a tile showed during the outage", ", ".join(sorted(shown)), "pending"),
            ("4xx/5xx answers to tiles", str(seen.http_errors), "0"),
        ],
        "The shared circuit opens after 10 failures in a row; one probe at a time, each "
        "after a twentieth of the outage so far (1 s at least); the first probe that "
        "succeeds closes it and the waiting albums go at once.",
    )


def bench_healthz(running: Stack, lines: list[str]) -> None:
    with serve(running.app) as base:
        session = requests.Session()
        for _ in range(20):
            session.get(f"{base}/healthz")  # connections and caches warm
        times: list[float] = []
        body: dict[str, object] = {}
        for _ in range(500):
            started = time.perf_counter()
            response = session.get(f"{base}/healthz")
            times.append(time.perf_counter() - started)
            body = response.json()
    ms = sorted(t * 1000 for t in times)
    lines += table(
        "### `GET /healthz`",
        [
            ("p50 / p95", f"{statistics.median(ms):.1f} / {percentile(ms, 95):.1f} ms", "< 20 ms"),
            ("answer", f"`{body.get('checks')}`", ""),
        ],
        "500 sequential requests over HTTP (werkzeug threaded server, PostgreSQL, Redis).",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Healing benchmark")
    parser.add_argument("--no-write", action="store_true", help="print, do not update the docs")
    args = parser.parse_args()
    lines = [
        "## Healing (`bench/healing_bench.py`)",
        "",
        "Command: `.venv/bin/python -m bench.healing_bench` (`make bench`)",
        "",
        f"Machine: {machine_line()}. Simulator latency {LATENCY_MS} ms per call, limiter "
        f"10/s (burst 20) as `make run` sets it; PostgreSQL, a Redis server of the "
        f"benchmark's own, {WORKERS} `celery worker` processes (threads, concurrency "
        f"{CONCURRENCY}); default lock ({Config().FETCH_LOCK_SECONDS} s), lease "
        f"({Config().FETCH_LEASE_SECONDS:.0f} s), heartbeat and backoff settings. Tiles "
        "poll every 250 ms.",
        "",
    ]
    steps = (bench_worker_kill, bench_redis_restart, bench_error_storm, bench_outage)
    with prepared(DB_NAME) as bench:
        for step in steps:
            with stack(bench.sim, bench.database_url, bench.log_dir) as running:
                step(bench, running, lines)
            print("\n".join(lines[-10:]), flush=True)
        with stack(bench.sim, bench.database_url, bench.log_dir) as running:
            bench_healthz(running, lines)
        print("\n".join(lines[-8:]), flush=True)
    if not args.no_write:
        write_section("healing-bench", "\n".join(lines))
        print("wrote docs/BENCHMARKS.md")


if __name__ == "__main__":
    main()
