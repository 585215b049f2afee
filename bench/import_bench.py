"""Import speed: a generated 10,000-album CSV into PostgreSQL and SQLite.

Run: `make bench` (or `.venv/bin/python -m bench.import_bench [--albums N] [--repeat N]`).
Each run starts from an empty, migrated database; it times the first import and a
re-import of the same file as `flask import-albums` sees them (reading the CSV,
validating, upserting, committing), plus the whole command in a fresh process.
Results go to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flask_migrate import upgrade

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.importer.service import run_import
from app.importer.sources import read_csv_file
from bench.common import ROOT, machine_line, write_section
from tools.pgdb import create_database, drop_database

GENRES = ["Rock", "Jazz", "Soul", "Hip Hop", "Electronic", "Folk", "Pop", "Metal", "Ambient"]


def generate_csv(path: Path, albums: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Artist", "Album", "Year", "Genres", "Spotify URL"])
        for i in range(albums):
            album_id = f"{i:022d}".replace("0", "A")[:12] + f"{i:010d}"
            writer.writerow(
                [
                    f"Artist {i // 8:05d}",  # eight albums per artist
                    f"Album number {i:05d}",
                    str(1950 + i % 75),
                    f"{GENRES[i % len(GENRES)]}, {GENRES[(i * 7) % len(GENRES)]}",
                    f"https://open.spotify.com/album/{album_id}?si=bench",
                ]
            )


def timed_import(database_url: str, csv_path: Path) -> tuple[float, str]:
    app = create_app(TestConfig(database_url))
    with app.app_context():
        started = time.perf_counter()
        result = run_import(db.session(), read_csv_file(str(csv_path)))
        elapsed = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    return elapsed, result.summary()


def migrate(database_url: str) -> None:
    app = create_app(TestConfig(database_url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def cli_import(database_url: str, csv_path: Path) -> float:
    """The whole `flask import-albums` command in a new process (start-up included)."""
    env = os.environ | {"DATABASE_URL": database_url, "REDIS_URL": "redis://127.0.0.1:6379/0"}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "import-albums", "--csv", str(csv_path)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def run(albums: int, repeat: int) -> str:
    lines = [
        "## Import (`bench/import_bench.py`)",
        "",
        f"Command: `.venv/bin/python -m bench.import_bench --albums {albums} --repeat {repeat}` "
        "(`make bench`)",
        "",
        f"Machine: {machine_line()}. {albums:,} albums, median of {repeat} runs, each from an "
        "empty migrated database. *In-process* is the import itself (read CSV, validate, "
        "upsert, commit); *CLI* is `flask import-albums` in a new process, start-up included.",
        "",
        "| database | first import (in-process) | albums/s | re-import (in-process) | albums/s "
        "| first import (CLI) | re-import (CLI) |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "albums.csv"
        generate_csv(csv_path, albums)
        for name in ("postgresql", "sqlite"):
            firsts: list[float] = []
            agains: list[float] = []
            cli_firsts: list[float] = []
            cli_agains: list[float] = []
            summary = ""
            for attempt in range(repeat):
                for mode in ("in-process", "cli"):
                    if name == "postgresql":
                        url = create_database("album_catalog_bench")
                    else:
                        db_file = Path(tmp) / f"bench-{attempt}-{mode}.db"
                        db_file.unlink(missing_ok=True)
                        url = f"sqlite:///{db_file}"
                    migrate(url)
                    if mode == "in-process":
                        first, summary = timed_import(url, csv_path)
                        again, again_summary = timed_import(url, csv_path)
                        assert summary.startswith(f"created {albums},"), summary
                        assert f"unchanged {albums}," in again_summary, again_summary
                        firsts.append(first)
                        agains.append(again)
                    else:
                        cli_firsts.append(cli_import(url, csv_path))
                        cli_agains.append(cli_import(url, csv_path))
            if name == "postgresql":
                drop_database("album_catalog_bench")
            first, again = statistics.median(firsts), statistics.median(agains)
            lines.append(
                f"| {name} | {first:.2f} s | {albums / first:,.0f} | {again:.2f} s | "
                f"{albums / again:,.0f} | {statistics.median(cli_firsts):.2f} s | "
                f"{statistics.median(cli_agains):.2f} s |"
            )
            print(lines[-1], flush=True)
    lines += [
        "",
        "Targets (issue 2): 10,000 albums into PostgreSQL in under 3 s, re-import under 2 s.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--albums", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    write_section("import-bench", run(args.albums, args.repeat))
    print(f"wrote {Path('docs/BENCHMARKS.md')}")


if __name__ == "__main__":
    main()
