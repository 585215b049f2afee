"""The catalog's web speed at 50,000 albums, under load, served as in production.

Run: `.venv/bin/python -m bench.web_bench [--albums N] [--duration S] [--keep] [--no-write]`
(`make bench`). Needs PostgreSQL, Redis and `wrk` (apt-get install wrk).

1. (Re-)creates the database `album_catalog_bench_web`, migrates it and imports a
   seeded, generated catalog (`bench/web_data.py`) with `flask import-albums`; with
   `--keep` a database that already holds N albums is reused (only migrated) and
   kept afterwards.
2. Marks every cover as cached in one UPDATE, as if the worker had fetched them all.
3. Starts gunicorn as the Procfile does (gunicorn.conf.py; 2 processes x 4 threads)
   with APP_ENV=production.
4. Warms each URL up once, then loads it with `wrk -t2 -c8` for S seconds.
5. Writes route | req/s | p50 | p95 | p99 | errors, each row against its target, into
   docs/BENCHMARKS.md (section "web") and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from types import FrameType
from typing import Any, LiteralString, NoReturn
from urllib.parse import quote, unquote, urljoin

import psycopg
import redis
import requests

from bench.common import ROOT, machine_line, write_section
from bench.web_data import SEARCH_TERM, TEN, TEN_ALBUM_ARTIST, generate, write_csv
from tools.embedded_redis import free_port
from tools.pgdb import PG_ADMIN_URL, create_database, drop_database

# The routes measured, in this order: (path, target, note). `{placeholders}` are
# filled from the benchmark database (see Catalog); `{next}` is the href of page 1's
# rel="next" link, and its row is skipped when page 1 has none.
ROUTES: list[tuple[str, str, str]] = [
    ("/catalog/", "catalog", "page 1, sorted by artist"),
    ("/catalog/?page=500", "catalog", "a deep page"),
    ("{next}", "catalog", 'page 1\'s rel="next" link'),
    ("/catalog/?q={term}", "catalog", "search, {matches:,} matches"),
    ("/catalog/?q={term}&page=20", "catalog", "a searched deep page"),
    ("/catalog/?genre={genre}&page=40", "catalog", "most common genre, {genre_albums:,} albums"),
    ("/catalog/?artist={artist}", "catalog", "{artist_albums} albums"),
    ("/catalog/album/{album}/", "catalog", "album page"),
    ("/catalog/album/{album}/cover-art/?sid={sid}", "cover", "cached cover, as a tile polls it"),
    ("/catalog/album/{album}/cover-art/", "catalog", "cached cover without sid"),
    ("/healthz", "", ""),
]

DB_NAME = "album_catalog_bench_web"
# Tests use Redis databases 15-13 and 8-6, the pipeline benchmark 12: 3 is nobody's.
REDIS_URL = "redis://127.0.0.1:6379/3"
# As the Procfile and `make run` run it (gunicorn.conf.py, access log included), with 2
# processes of 4 threads. No control socket: its default path is one per user, shared
# with any other gunicorn on the machine; it plays no part in serving.
GUNICORN_ARGS = ["--config", "gunicorn.conf.py", "--no-control-socket"]
GUNICORN_ENV = {"WEB_CONCURRENCY": "2", "WEB_THREADS": "4"}
WRK_ARGS = ["-t2", "-c8", "--latency"]
# wrk's default 2 s timeout drops slower answers from its latency figures; with 10 s
# a slow route shows in its p95/p99 instead of as timeouts.
WRK_TIMEOUT = "10s"
LUA = ROOT / "bench" / "wrk_report.lua"
ALBUM_ID = 777
# Settings of the caller's shell that would change what is measured or where it goes.
NOT_INHERITED = ("GUNICORN_CMD_ARGS", "REDIS_PREFIX", "CELERY_BROKER_URL", "TRUSTED_HOSTS")


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    p95_ms: float | None
    min_rps: float


TARGETS: dict[str, Target] = {
    "catalog": Target("p95 < 50 ms, ≥ 200 req/s", 50.0, 200.0),
    "cover": Target("≥ 3,000 req/s", None, 3000.0),
}
TARGETS_LINE = (
    "Targets: every catalog route p95 < 50 ms and ≥ 200 req/s; a cover-art hit ≥ 3,000 "
    "req/s; a search for a term matching ~1,500 albums p95 < 50 ms. Any error fails a row."
)


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the benchmark database holds, and the values the routes are filled with."""

    albums: int
    artists: int
    genres: int
    covers_cached: int
    matches: int
    genre: str
    genre_albums: int
    artist: str
    artist_albums: int
    album: int
    sid: str

    def fill(self, text: str, *, quoted: bool) -> str:
        """`text` with its placeholders filled; URL-quoted for a path, plain for notes."""
        values: dict[str, Any] = {
            "term": SEARCH_TERM,
            "matches": self.matches,
            "genre": self.genre,
            "genre_albums": self.genre_albums,
            "artist": self.artist,
            "artist_albums": self.artist_albums,
            "album": self.album,
            "sid": self.sid,
        }
        if quoted:
            values = {k: quote(str(v), safe="") for k, v in values.items()}
        return text.format(**values)


@dataclass(frozen=True, slots=True)
class Result:
    """One wrk run's summary (latencies in ms)."""

    rps: float
    p50: float
    p95: float
    p99: float
    status_errors: int  # answers that are not 2xx or 3xx
    socket_errors: int  # connect, read, write errors and timeouts

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors


@dataclass(frozen=True, slots=True)
class Row:
    path: str
    note: str
    target: Target | None
    result: Result | None  # None: skipped


def _stop(signum: int, _frame: FrameType | None) -> NoReturn:
    # A SIGTERM unwinds like Ctrl-C, so gunicorn is stopped and the database dropped.
    raise SystemExit(128 + signum)


# --- the database ---------------------------------------------------------------------


def database_url() -> str:
    """The benchmark database as the app is configured in production (postgresql://)."""
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{DB_NAME}"


def album_count() -> int | None:
    """Albums in the benchmark database; None when it or its tables do not exist."""
    try:
        with psycopg.connect(database_url(), connect_timeout=3) as conn:
            row = conn.execute("SELECT count(*) FROM albums").fetchone()
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None
    return int(row[0]) if row else None


def flask(env: dict[str, str], *args: str) -> None:
    """A `flask --app wsgi` command of the project, as an operator runs it."""
    command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def prepare(albums: int, keep: bool, env: dict[str, str], tmp: Path) -> None:
    """A migrated database holding `albums` generated albums, every cover cached."""
    reuse = keep and album_count() == albums
    if reuse:
        print(f"reusing {DB_NAME}: it holds {albums:,} albums (--keep)", flush=True)
    else:
        create_database(DB_NAME)
    # Also on a kept database: a new migration (an index, say) is part of the code measured.
    flask(env, "db", "upgrade")
    if not reuse:
        csv_path = tmp / "albums.csv"
        write_csv(csv_path, generate(albums))
        print(f"importing {albums:,} albums with `flask import-albums`…", flush=True)
        started = time.perf_counter()
        flask(env, "import-albums", "--csv", str(csv_path))
        print(f"imported in {time.perf_counter() - started:.1f} s", flush=True)
        found = album_count()
        if found != albums:
            raise RuntimeError(f"the import left {found} albums, not {albums}")
    cache_every_cover()


def cache_every_cover() -> None:
    """Every album's cover cached, as after the worker fetched them all; then VACUUM ANALYZE."""
    with psycopg.connect(database_url(), autocommit=True) as conn:
        updated = conn.execute(
            """
            UPDATE albums SET
                cover_url = todo.image || '-300',
                cover_cached_at = now(),
                cover_images = json_build_array(
                    json_build_object('url', todo.image || '-640', 'width', 640, 'height', 640),
                    json_build_object('url', todo.image || '-300', 'width', 300, 'height', 300),
                    json_build_object('url', todo.image || '-64', 'width', 64, 'height', 64)
                ),
                spotify_fetch_status = 'ok'
            FROM (
                SELECT id, 'https://i.scdn.co/image/' || spotify_album_id AS image FROM albums
                WHERE spotify_album_id IS NOT NULL AND cover_cached_at IS NULL
            ) AS todo
            WHERE albums.id = todo.id
            """
        ).rowcount
        # The UPDATE rewrote every row: VACUUM clears the old versions and the visibility
        # map, ANALYZE gives the planner the statistics a settled table would have.
        conn.execute("VACUUM ANALYZE")
    print(f"covers marked cached: {updated:,} albums updated", flush=True)


def describe_catalog() -> Catalog:
    """Sizes, and the genre, artist and album the routes ask for."""
    like = f"%{SEARCH_TERM}%"
    with psycopg.connect(database_url()) as conn:

        def one(query: LiteralString, *params: object) -> tuple[Any, ...]:
            row = conn.execute(query, params).fetchone()  # pyright: ignore[reportArgumentType]
            if row is None:
                raise RuntimeError(f"no answer to {query!r}: is the catalog empty?")
            return tuple(row)

        albums, artists, genres, cached = one(
            "SELECT (SELECT count(*) FROM albums), (SELECT count(*) FROM artists),"
            " (SELECT count(*) FROM genres),"
            " (SELECT count(*) FROM albums WHERE cover_cached_at IS NOT NULL)"
        )
        # The catalog's search: title or artist name contains the term, any case.
        (matches,) = one(
            "SELECT count(*) FROM albums al JOIN artists ar ON ar.id = al.artist_id"
            " WHERE al.title ILIKE %s OR ar.name ILIKE %s",
            like,
            like,
        )
        genre, genre_albums = one(
            "SELECT g.name, count(*) FROM album_genres ag JOIN genres g ON g.id = ag.genre_id"
            " GROUP BY g.id, g.name ORDER BY count(*) DESC, g.name LIMIT 1"
        )
        artist, artist_albums = one(
            "SELECT ar.name, count(*) FROM artists ar JOIN albums al ON al.artist_id = ar.id"
            " GROUP BY ar.id, ar.name"
            " ORDER BY abs(count(*) - %s), ar.name <> %s, ar.name LIMIT 1",
            TEN,
            TEN_ALBUM_ARTIST,
        )
        # Album 777, or the next one there is in a small catalog.
        album, sid = one(
            "SELECT id, spotify_album_id FROM albums"
            " WHERE spotify_album_id IS NOT NULL ORDER BY id < %s, id LIMIT 1",
            ALBUM_ID,
        )
    return Catalog(
        albums, artists, genres, cached, matches, genre, genre_albums, artist, artist_albums,
        album, sid,
    )  # fmt: skip


# --- the server -----------------------------------------------------------------------


def server_env() -> dict[str, str]:
    """Production settings: the benchmark database, Redis database 3, no Spotify."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    return env | {
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": database_url(),
        "REDIS_URL": REDIS_URL,
        # Every cover is cached; a miss would only queue a message nobody takes.
        "SPOTIFY_CLIENT_ID": "",
        "SPOTIFY_CLIENT_SECRET": "",
    }


@contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[str]:
    """gunicorn serving the app on a free port until the block ends; yields its base URL."""
    base = f"http://127.0.0.1:{free_port()}"
    binary = Path(sys.executable).parent / "gunicorn"
    command = [str(binary), "wsgi:app", *GUNICORN_ARGS, "--bind", base.removeprefix("http://")]
    with log.open("wb") as out:
        # Its own session: a Ctrl-C reaches this script, which stops gunicorn in order.
        process = subprocess.Popen(
            command, cwd=ROOT, env=env | GUNICORN_ENV, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_until_healthy(process, base, log)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)  # gunicorn's graceful timeout is 30 s
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group this script started
            process.wait()


def wait_until_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    answer = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({process.returncode}):\n{log.read_text()}")
        try:
            response = requests.get(f"{base}/healthz", timeout=2)
            if response.status_code == 200:
                return
            answer = f"{response.status_code} {response.text.strip()}"
        except requests.RequestException as exc:
            answer = type(exc).__name__
        time.sleep(0.2)
    raise RuntimeError(f"/healthz did not answer 200 within 60 s ({answer}):\n{log.read_text()}")


class NextLink(HTMLParser):
    """The href of the first `<a rel="next">` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and self.href is None and "next" in (found.get("rel") or "").split():
            self.href = found.get("href")


def next_link(base: str) -> str | None:
    """The path page 1 links to as its next page, if it has such a link."""
    parser = NextLink()
    parser.feed(requests.get(f"{base}/catalog/", timeout=30).text)
    if parser.href is None:
        return None
    url = urljoin(f"{base}/catalog/", parser.href)
    return url.removeprefix(base)


# --- the load -------------------------------------------------------------------------


def warm_up(base: str, path: str, checks: list[str]) -> None:
    """One request (fills Redis and the connection pools); notes anything unexpected."""
    response = requests.get(base + path, timeout=60)
    if not 200 <= response.status_code < 400:
        checks.append(f"warm-up of `{unquote(path)}` answered {response.status_code}")
    # Each cover must be served from the cache, or the run measures misses instead.
    if "/cover-art/" in path and 'data-cover-state="ready"' not in response.text:
        checks.append(f"`{unquote(path)}` is not a cached cover: {response.text[:200]!r}")


def run_wrk(url: str, duration: int) -> Result:
    command = ["wrk", *WRK_ARGS, f"-d{duration}s", "--timeout", WRK_TIMEOUT, "-s", str(LUA), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> Result:
    """The WRK_REPORT line of wrk's output (bench/wrk_report.lua) as a Result."""
    line = next((x for x in out.splitlines() if x.startswith("WRK_REPORT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no WRK_REPORT line:\n{out}")
    data = json.loads(line.removeprefix("WRK_REPORT "))
    socket_errors = sum(int(data[k]) for k in ("connect", "read", "write", "timeout"))
    return Result(
        rps=float(data["rps"]),
        p50=float(data["p50_ms"]),
        p95=float(data["p95_ms"]),
        p99=float(data["p99_ms"]),
        status_errors=int(data["status"]),
        socket_errors=socket_errors,
    )


def median_run(url: str, duration: int, repeat: int) -> Result:
    """The run with the median req/s of `repeat` runs.

    gunicorn's two workers share wrk's eight keep-alive connections as the kernel hands
    them out; now and then one worker gets most of them and a run measures half the
    machine. The median of three is the typical run, not the lucky or unlucky one.
    """
    runs = sorted((run_wrk(url, duration) for _ in range(repeat)), key=lambda r: r.rps)
    return runs[len(runs) // 2]


def run_routes(
    base: str, catalog: Catalog, duration: int, checks: list[str], repeat: int = 3
) -> list[Row]:
    following = next_link(base)
    planned: list[tuple[str | None, str, Target | None]] = []
    for template, kind, note in ROUTES:
        path = following if template == "{next}" else catalog.fill(template, quoted=True)
        planned.append((path, catalog.fill(note, quoted=False), TARGETS.get(kind)))
    # Every URL warmed first, so no run pays for another route's first request.
    for path, _note, _target in planned:
        if path is not None:
            warm_up(base, path, checks)
    rows: list[Row] = []
    for path, note, target in planned:
        if path is None:
            rows.append(Row("", note, target, None))
            print(f"skipped: {note}: page 1 has no such link", flush=True)
            continue
        result = median_run(base + path, duration, repeat)
        rows.append(Row(path, note, target, result))
        print(f"{unquote(path)}: {format_result(result)}", flush=True)
    return rows


def inline_covers(base: str) -> str:
    """How many of page 1's tiles show their cover without a poll."""
    page = requests.get(f"{base}/catalog/", timeout=30).text
    ready = page.count('data-cover-state="ready"')
    return f"{ready} of {page.count('data-cover-state=')}"


# --- the report -----------------------------------------------------------------------


def format_result(result: Result) -> str:
    return (
        f"{result.rps:,.0f} req/s, p50 {result.p50:.1f} ms, p95 {result.p95:.1f} ms, "
        f"p99 {result.p99:.1f} ms, {result.errors} errors"
    )


def verdict(target: Target | None, result: Result) -> str:
    if target is None:
        return "no target"
    missed = []
    if target.p95_ms is not None and result.p95 >= target.p95_ms:
        missed.append("p95")
    if result.rps < target.min_rps:
        missed.append("req/s")
    if result.errors:
        missed.append("errors")
    return f"**fail** ({', '.join(missed)})" if missed else "pass"


def errors_cell(result: Result) -> str:
    if not result.socket_errors:
        return f"{result.status_errors:,}"
    return f"{result.status_errors:,} + {result.socket_errors:,} socket/timeout"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| route | req/s | p50 | p95 | p99 | errors | target | result |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        target = row.target.text if row.target else "—"
        if row.result is None:
            lines.append(f"| {row.note} | — | — | — | — | — | {target} | skipped: no such link |")
            continue
        r = row.result
        route = f"`{unquote(row.path)}`" + (f" ({row.note})" if row.note else "")
        lines.append(
            f"| {route} | {r.rps:,.0f} | {r.p50:.1f} ms | {r.p95:.1f} ms | {r.p99:.1f} ms "
            f"| {errors_cell(r)} | {target} | {verdict(row.target, r)} |"
        )
    return lines


@dataclass(frozen=True, slots=True)
class Run:
    command: str
    machine: str
    duration: int
    catalog: Catalog
    covers_inline: str
    load: tuple[float, float]  # 1-minute load average before and after the runs
    checks: list[str]
    rows: list[Row]
    note: str
    repeat: int = 3
    uncached: bool = False


def report(run: Run) -> str:
    c = run.catalog
    measured = [r for r in run.rows if r.result is not None and r.target is not None]
    passed = sum(1 for r in measured if r.result and verdict(r.target, r.result) == "pass")
    lines = [
        "## Web under load, rendered pages not cached (`bench/web_bench.py --no-page-cache`)"
        if run.uncached
        else "## Web under load (`bench/web_bench.py`)",
        "",
        f"Command: `{run.command}` (`make bench` runs it with `--keep`, then with "
        "`--no-page-cache`, which drops the database at the end)",
        "",
        f"Machine: {run.machine}; load average (1 min) {run.load[0]:.2f} before the runs, "
        f"{run.load[1]:.2f} after.",
        "",
        f"Data: {c.albums:,} albums by {c.artists:,} artists in {c.genres} genres "
        f"(`bench/web_data.py`, seeded), imported with `flask import-albums`; "
        f"{c.covers_cached:,} covers cached in the database, Redis empty at the start. "
        f"Page 1 shows {run.covers_inline} covers inline.",
        "",
        f"Server: `WEB_CONCURRENCY=2 WEB_THREADS=4 gunicorn wsgi:app {' '.join(GUNICORN_ARGS)}`"
        " (the Procfile's) with APP_ENV=production, PostgreSQL, Redis; access log to a file,"
        " no Celery worker (nothing misses the cache). "
        f"Load: `wrk {' '.join(WRK_ARGS)} -d{run.duration}s --timeout {WRK_TIMEOUT} "
        f"-s bench/wrk_report.lua URL`, {run.repeat} runs per route, the median run "
        "(by req/s) shown; one route after another, every URL requested once before; wrk "
        "runs on the same machine. Errors: answers that are not 2xx/3xx, plus socket "
        "errors and timeouts."
        + (
            " Rendered pages are not cached (`CATALOG_PAGE_CACHE_SECONDS=0`): every "
            "request runs its SQL and renders its tiles."
            if run.uncached
            else " Rendered pages are cached as the app does by default (30 s, retired "
            "by any import or arriving cover)."
        ),
        "",
        TARGETS_LINE,
        "",
        *table(run.rows),
        "",
        f"{passed} of {len(measured)} rows with a target meet it.",
    ]
    if run.checks:
        lines += ["", "Checks that failed:", "", *[f"- {check}" for check in run.checks]]
    if run.note:
        lines += ["", f"Note: {run.note}"]
    return "\n".join(lines)


def command_line(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python -m bench.web_bench"]
    if args.albums != 50_000:
        parts.append(f"--albums {args.albums}")
    if args.duration != 8:
        parts.append(f"--duration {args.duration}")
    if args.keep:
        parts.append("--keep")
    if args.repeat != 3:
        parts.append(f"--repeat {args.repeat}")
    if args.no_page_cache:
        parts.append("--no-page-cache")
    return " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description="The catalog's web speed under load")
    parser.add_argument("--albums", type=int, default=50_000, help="catalog size")
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per route")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database; reuse it if it holds N albums"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not update the docs")
    parser.add_argument("--note", default="", help="a remark to add under the table")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per route; the median run is reported"
    )
    parser.add_argument(
        "--no-page-cache",
        action="store_true",
        help="render every request (CATALOG_PAGE_CACHE_SECONDS=0): the SQL and template cost",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    signal.signal(signal.SIGTERM, _stop)
    env = server_env()
    if args.no_page_cache:
        env["CATALOG_PAGE_CACHE_SECONDS"] = "0"
    checks: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            prepare(args.albums, args.keep, env, Path(tmp))
            catalog = describe_catalog()
            redis.Redis.from_url(REDIS_URL).flushdb()  # start from an empty cache
            with gunicorn(env, Path(tmp) / "gunicorn.log") as base:
                covers_inline = inline_covers(base)
                before = os.getloadavg()[0]
                rows = run_routes(base, catalog, args.duration, checks, args.repeat)
                after = os.getloadavg()[0]
        finally:
            if not args.keep:
                drop_database(DB_NAME)
    text = report(
        Run(
            command=command_line(args),
            machine=machine_line(),
            duration=args.duration,
            catalog=catalog,
            covers_inline=covers_inline,
            load=(before, after),
            checks=checks,
            rows=rows,
            note=args.note,
            repeat=args.repeat,
            uncached=args.no_page_cache,
        )
    )
    print(text)
    if not args.no_write:
        write_section("web-uncached" if args.no_page_cache else "web", text)
        print("wrote docs/BENCHMARKS.md")


if __name__ == "__main__":
    main()
