"""The catalog's speed for URLs nobody asked before, at 50,000 albums (issue 19).

Run: `.venv/bin/python -m bench.web_new_urls [--albums N] [--duration S] [--keep] [--no-write]`.
Needs PostgreSQL, Redis and `wrk`. The same stack as `bench/web_bench.py` (its database,
gunicorn as the Procfile runs it, 2 processes x 4 threads, `wrk -t2 -c8`), but every
request is a new URL, as real visitors send them, so the rendered-page cache never
answers: searches for one or two words of the catalog's own titles (any sort, pages
1-3), numbered pages 1-1,000 in every sort, genre filters (pages 1-50, any sort) and
artist filters. Each kind's URLs are shuffled into a file that `bench/wrk_new_urls.lua`
walks without repeating itself; a kind with fewer URLs than its runs ask for starts over
with the rendered-page cache emptied. Numbered pages are measured once before any tile
was rendered (a first visit after a deploy), then every tile is rendered once (every
page of one sort, as a catalog browsed once since its albums last changed) and the
rendered pages forgotten, and each kind runs three times. Into docs/BENCHMARKS.md
(section "web-new-urls").
"""

from __future__ import annotations

import argparse
import itertools
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import redis

from bench import web_bench as web
from bench.common import ROOT, machine_line, write_section
from tools.pgdb import drop_database

LUA = ROOT / "bench" / "wrk_new_urls.lua"
SORTS = ("artist", "title", "year", "recent")
KINDS = ("search", "numbered page", "genre filter", "artist filter")
COLD = "numbered page, no tile rendered yet (one run)"
PER_PAGE = 48
WANTED = {"p95_ms": 50.0, "rps": 200.0}  # the target for every kind
BEFORE = "73 req/s, p50 106 ms, p95 214 ms (all kinds mixed, before issue 19)"


def _rows(query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(web.database_url().replace("+psycopg", "")) as conn:
        return [tuple(r) for r in conn.execute(query).fetchall()]  # type: ignore[arg-type]


def url_sets(seed: int = 19) -> dict[str, list[str]]:
    """Every kind's URLs, shuffled; each one distinct."""
    rng = random.Random(seed)
    titles = [str(r[0]) for r in _rows("SELECT title FROM albums")]
    words = sorted({w.lower() for t in titles for w in t.split() if len(w) > 2 and w.isalpha()})
    genres = [str(r[0]) for r in _rows("SELECT name FROM genres")]
    artists = [str(r[0]) for r in _rows("SELECT name FROM artists")]
    sets: dict[str, set[str]] = {kind: set() for kind in KINDS}
    while len(sets["search"]) < 20_000:
        q = " ".join(rng.sample(words, rng.choice((1, 2))))
        args = {"q": q, "sort": rng.choice(SORTS), "page": rng.randint(1, 3)}
        sets["search"].add("/catalog/?" + urlencode(args))
    for page, sort in itertools.product(range(1, 1001), SORTS):
        sets["numbered page"].add("/catalog/?" + urlencode({"page": page, "sort": sort}))
    for genre, page, sort in itertools.product(genres, range(1, 51), SORTS):
        sets["genre filter"].add(
            "/catalog/?" + urlencode({"genre": genre, "page": page, "sort": sort})
        )
    for artist, sort in itertools.product(artists, SORTS):
        sets["artist filter"].add("/catalog/?" + urlencode({"artist": artist, "sort": sort}))
    shuffled: dict[str, list[str]] = {}
    for kind, found in sets.items():
        listed = sorted(found)
        rng.shuffle(listed)
        shuffled[kind] = listed
    return shuffled


def warm_tiles(base: str, albums: int) -> int:
    """Every album's tile rendered once, as after the catalog was browsed once since its
    albums last changed: every page of one sort, 8 at a time."""
    pages = range(1, albums // PER_PAGE + 2)

    def get(page: int) -> None:
        with urllib.request.urlopen(f"{base}/catalog/?page={page}", timeout=60) as answer:
            answer.read()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(get, pages))
    return len(pages)


def forget_rendered_pages() -> int:
    """Drop the rendered-page cache (and nothing else): every URL is new to it again."""
    client = redis.Redis.from_url(web.REDIS_URL)
    keys = list(client.scan_iter(match="*catalog:page:*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])
    return len(keys)


def run_kind(base: str, paths: Path, count: int, duration: int, repeat: int) -> web.Result:
    """The median of `repeat` runs; each run starts where the last one stopped. A kind
    with fewer URLs than the runs ask for (1,000 pages x 4 sorts) starts over once the
    rendered-page cache is emptied, so no request is ever answered from it."""
    results: list[web.Result] = []
    start = 0
    for _ in range(repeat):
        if results and start + results[-1].rps * duration * 1.2 >= count:
            print(f"  ({forget_rendered_pages():,} rendered pages forgotten)", flush=True)
            start = 0
        command = [
            "wrk", *web.WRK_ARGS, f"-d{duration}s", "--timeout", web.WRK_TIMEOUT,
            "-s", str(LUA), base + "/catalog/", "--", str(paths), str(start), "2",
        ]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
        result = web.parse_wrk(out.stdout)
        results.append(result)
        sent = int(result.rps * duration * 1.2) + 16
        if sent >= count:
            raise RuntimeError(f"{paths.name}: {count} URLs are too few for one run")
        start += sent
    results.sort(key=lambda r: r.rps)
    return results[len(results) // 2]


def report(rows: list[tuple[str, int, web.Result]], albums: int, duration: int) -> str:
    lines = [
        "## Web: every URL new (`bench/web_new_urls.py`)",
        "",
        f"Command: `.venv/bin/python -m bench.web_new_urls --albums {albums} --duration "
        f"{duration}`",
        "",
        f"Machine: {machine_line()}. {albums:,} albums (`bench/web_data.py`), PostgreSQL, "
        "Redis; gunicorn as the Procfile runs it (2 processes x 4 threads); "
        f"`wrk {' '.join(web.WRK_ARGS)}`, each request a URL never asked before (the "
        "rendered-page cache never answers), median of 3 runs, each album's tile rendered "
        "once before (every page of one sort walked), except in the last row.",
        "",
        "| kind of new URL | URLs | req/s | p50 | p95 | p99 | errors | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, count, r in rows:
        met = r.p95 <= WANTED["p95_ms"] and r.rps >= WANTED["rps"]
        if kind == COLD:
            lines.append(
                f"| {kind} | {count:,} | {r.rps:,.0f} | {r.p50:.0f} ms | {r.p95:.0f} ms | "
                f"{r.p99:.0f} ms | {r.status_errors + r.socket_errors} | (no target) |"
            )
            continue
        lines.append(
            f"| {kind} | {count:,} | {r.rps:,.0f} | {r.p50:.0f} ms | {r.p95:.0f} ms | "
            f"{r.p99:.0f} ms | {r.status_errors + r.socket_errors} | "
            f"≥ 200 req/s, p95 ≤ 50 ms: {'met' if met else 'not met'} |"
        )
    lines += ["", f"Before issue 19 (another machine, 2026-11): {BEFORE}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--albums", type=int, default=50_000)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    signal.signal(signal.SIGTERM, web._stop)  # pyright: ignore[reportPrivateUsage]
    env = web.server_env()
    rows: list[tuple[str, int, web.Result]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            web.prepare(args.albums, args.keep, env, Path(tmp))
            sets = url_sets()
            redis.Redis.from_url(web.REDIS_URL).flushdb()
            with web.gunicorn(env, Path(tmp) / "gunicorn.log") as base:
                files = {kind: Path(tmp) / f"{kind.replace(' ', '-')}.txt" for kind in KINDS}
                for kind, path in files.items():
                    path.write_text("\n".join(sets[kind]) + "\n")
                # First, numbered pages of a catalog whose tiles were never rendered
                # (the first visits after a deploy or an import of everything).
                kind = "numbered page"
                cold = run_kind(base, files[kind], len(sets[kind]), args.duration, 1)
                print(f"{kind}, no tile rendered yet: {web.format_result(cold)}", flush=True)
                rendered = warm_tiles(base, args.albums)
                print(f"every tile rendered once ({rendered} pages walked)", flush=True)
                print(f"  ({forget_rendered_pages():,} rendered pages forgotten)", flush=True)
                for kind in KINDS:
                    result = run_kind(base, files[kind], len(sets[kind]), args.duration, 3)
                    rows.append((kind, len(sets[kind]), result))
                    print(f"{kind}: {web.format_result(result)}", flush=True)
                rows.append((COLD, len(sets["numbered page"]), cold))
        finally:
            if not args.keep:
                drop_database(web.DB_NAME)
    text = report(rows, args.albums, args.duration)
    print(text)
    if not args.no_write:
        write_section("web-new-urls", text)
        print("wrote docs/BENCHMARKS.md")


if __name__ == "__main__":
    main()
