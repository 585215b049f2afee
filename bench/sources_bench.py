"""Cover sources: calls per resolved album, by source, for a catalog as clubs have them.

Run: `make bench` (or `.venv/bin/python -m bench.sources_bench`). Needs PostgreSQL and
Redis; starts the Spotify, Deezer and MusicBrainz/CAA simulators (real-service
latencies) and two `celery worker` processes itself.

A catalog of 200 albums: 170 with a Spotify link Spotify answers, 10 (5 %) whose link
is dead (404), 20 (10 %) with no usable link. The simulators know the link-less and
dead-link albums as `tools/source_catalog.py` shares them out. Each group is viewed
on its own, so every call is attributed to it. Targets: at most 1 search call per
album without a link, and no fallback call for an album Spotify resolved.
"""

from __future__ import annotations

import csv
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import redis
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select

from app import create_app
from app.config import Config
from app.extensions import db
from app.importer.service import run_import
from app.importer.sources import Table
from app.models import Album
from bench.common import machine_line, write_section
from bench.pipeline_bench import environment, scroll
from tests.live import serve
from tools.deezer_sim import DeezerSettings
from tools.deezer_sim import SimServer as DeezerSim
from tools.musicbrainz_sim import MusicBrainzSettings
from tools.musicbrainz_sim import SimServer as MusicBrainzSim
from tools.pgdb import create_database, drop_database
from tools.spotify_sim import SimServer, SimSettings
from tools.spotify_sim.albums import track_count
from tools.workers import Worker, pipeline_env

DB_NAME = "album_catalog_sources_bench"
REDIS_URL = "redis://127.0.0.1:6379/13"
LINKED, DEAD, UNLINKED = 170, 10, 20
WORKERS, CONCURRENCY = 2, 4


def _spotify_id() -> str:
    while True:
        candidate = uuid.uuid4().hex[:22]
        if track_count(candidate) <= 50:
            return candidate


def catalog() -> tuple[list[list[str]], set[str]]:
    """Rows (Artist, Album, Year, Spotify URL) and the dead links among them."""
    rows, dead = [], set[str]()
    for n in range(LINKED + DEAD + UNLINKED):
        artist, title, year = (
            f"Club Artist {n % 40:02d}",
            f"Record Number {n:03d}",
            str(1960 + n % 60),
        )
        link = ""
        if n < LINKED + DEAD:
            link = _spotify_id()
            if n >= LINKED:
                dead.add(link)
        rows.append([artist, title, year, f"https://open.spotify.com/album/{link}" if link else ""])
    return rows, dead


def resolved_by(app: Flask, ids: list[int]) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(select(Album.cover_source).where(Album.id.in_(ids))).scalars()
        return Counter(source or "no cover" for source in rows)


class Calls:
    """Calls each simulator recorded, by source."""

    def __init__(self, sim: SimServer, deezer: DeezerSim, musicbrainz: MusicBrainzSim) -> None:
        self.sim, self.deezer, self.musicbrainz = sim, deezer, musicbrainz

    def count(self) -> dict[str, int]:
        return {
            "spotify": len(self.sim.state.api_calls("/v1/albums")),
            "spotify-search": len(self.sim.state.api_calls("/v1/search")),
            "deezer": len(self.deezer.state.api_calls("/search")),
            "musicbrainz": len(self.musicbrainz.state.api_calls("/ws/2/")),
            "coverartarchive": len(self.musicbrainz.state.api_calls("/caa/")),
        }


HEADER = (
    "| albums | resolved by | Spotify lookups | searches | Deezer | MusicBrainz | CAA "
    "| calls per resolved album |"
)


def groups(ids: list[int]) -> dict[str, list[int]]:
    return {
        f"{LINKED} linked": ids[:LINKED],
        f"{DEAD} dead links": ids[LINKED : LINKED + DEAD],
        f"{UNLINKED} without a link": ids[LINKED + DEAD :],
    }


def view(base: str, calls: Calls, group: list[int]) -> dict[str, int]:
    """Every tile of the group in view at once, polled until settled; the calls spent."""
    before = calls.count()
    scroll(base, group, first=len(group), per_step=len(group), step_seconds=0)
    return {k: v - before[k] for k, v in calls.count().items()}


def table_row(name: str, spent: dict[str, int], by: Counter[str]) -> str:
    found = sum(v for k, v in by.items() if k != "no cover")
    shown = ", ".join(f"{k} {v}" for k, v in sorted(by.items()))
    cells = [spent[k] for k in ("spotify", "spotify-search", "deezer", "musicbrainz")]
    cells.append(spent["coverartarchive"])
    per_album = sum(spent.values()) / max(1, found)
    return f"| {name} | {shown} | " + " | ".join(map(str, cells)) + f" | {per_album:.2f} |"


def main() -> None:
    rows, dead = catalog()
    database_url = create_database(DB_NAME)
    lines = [
        "## Cover sources (`bench/sources_bench.py`)",
        "",
        "Command: `.venv/bin/python -m bench.sources_bench` (`make bench`)",
        "",
        f"Machine: {machine_line()}. Simulators of Spotify (150 ms), Deezer (80 ms) and "
        "MusicBrainz/CAA (120 ms, 1 request/s); PostgreSQL, Redis, "
        f"{WORKERS} `celery worker` processes (threads, concurrency {CONCURRENCY}); "
        f"{LINKED + DEAD + UNLINKED} albums: {LINKED} linked, {DEAD} dead links (5 %), "
        f"{UNLINKED} without a link (10 %); each group viewed on its own.",
        "",
    ]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            known = Path(tmp) / "known.csv"
            with known.open("w", newline="") as f:
                csv.writer(f).writerows(
                    [["Artist", "Album", "Year", "Spotify URL"], *rows[LINKED:]]
                )
            with (
                SimServer(SimSettings(latency_ms=150, missing_ids=dead), catalog_csv=known) as sim,
                DeezerSim(DeezerSettings(latency_ms=80), catalog_csv=known) as deezer,
                MusicBrainzSim(MusicBrainzSettings(latency_ms=120), catalog_csv=known) as mb,
            ):
                env = pipeline_env(database_url, REDIS_URL, sim.url, deezer.url, mb.url)
                env |= {"SPOTIFY_RATE_PER_SEC": "10", "SPOTIFY_BURST": "20"}
                with environment(env):
                    app = create_app(Config())
                with app.app_context():
                    upgrade()
                    records = [(n + 2, row) for n, row in enumerate(rows)]
                    run_import(
                        db.session(),
                        Table(["Artist", "Album", "Year", "Spotify URL"], records, "bench"),
                    )
                    ids = list(db.session.execute(select(Album.id).order_by(Album.id)).scalars())
                redis.Redis.from_url(REDIS_URL).flushdb()
                workers = [
                    Worker(env, Path(tmp), concurrency=CONCURRENCY).start() for _ in range(WORKERS)
                ]
                calls = Calls(sim, deezer, mb)
                spent_by: dict[str, dict[str, int]] = {}
                table = [HEADER, "|---|---|---|---|---|---|---|---|"]
                try:
                    with serve(app) as base:
                        for name, group in groups(ids).items():
                            spent_by[name] = spent = view(base, calls, group)
                            table.append(table_row(name, spent, resolved_by(app, group)))
                finally:
                    for worker in workers:
                        worker.stop()
        linked = spent_by[f"{LINKED} linked"]
        unlinked = spent_by[f"{UNLINKED} without a link"]
        fallback = sum(linked.values()) - linked["spotify"]
        lines += [
            *table,
            "",
            f"- fallback calls for albums Spotify resolved: {fallback} (target 0)",
            f"- search calls per album without a link: "
            f"{unlinked['spotify-search'] / UNLINKED:.2f} (target ≤ 1)",
            "",
        ]
    finally:
        drop_database(DB_NAME)
    write_section("sources-bench", "\n".join(lines))
    print("\n".join(lines))
    print("wrote docs/BENCHMARKS.md")


if __name__ == "__main__":
    main()
