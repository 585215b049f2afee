"""Screenshots of the running app in a real browser, for the README.

Starts the whole app the way `make run` does (`python -m tools.devserver`: migrations,
the sample catalog, an embedded Redis, the Spotify simulator, web + worker), but isolated:
a free port, a SQLite database in a temporary directory, and no REDIS_URL, SPOTIFY_* or
APP_ENV from the environment. Then the system Chromium, driven by Playwright, takes:

- `catalog-loading.png`: the catalog ~300 ms after opening it on a cold cache;
- `catalog-warm.png`: the catalog once every cover in view is in;
- `album.png`: an album page with its track list;
- `phone.png`: the catalog at phone width (390 x 844) once its covers are in;
- `cover-less.png`: albums no source has a cover for, drawn from their title and artist.

Usage: `.venv/bin/python -m tools.screenshots [--out DIR] [--album TITLE] [--log FILE]`.
Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tools.browser import CHROMIUM, CHROMIUM_ARGS
from tools.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LOADING_AFTER_MS = 300
COVER_LESS = "gal costa"  # the sample album no source (simulator) has a cover for
STARTUP_TIMEOUT_S = 90.0
COVERS_TIMEOUT_MS = 30_000
STOP_TIMEOUT_S = 20.0

# Covers of the tiles in view: counts by state, and whether their images have loaded.
COVERS_IN_VIEW = """() => {
  const inView = (el) => {
    const r = el.getBoundingClientRect();
    return r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth;
  };
  const covers = [...document.querySelectorAll('[data-cover-state]')].filter(inView);
  const count = (state) => covers.filter((el) => el.dataset.coverState === state).length;
  const images = covers.flatMap((el) => [...el.querySelectorAll('img')]);
  return {
    total: covers.length,
    pending: count('pending'),
    ready: count('ready'),
    loaded: images.filter((img) => img.complete && img.naturalWidth > 0).length,
    images: images.length,
  };
}"""
ALL_COVERS_IN = (
    f"() => {{ const c = ({COVERS_IN_VIEW})();"
    " return c.total > 0 && c.pending === 0 && c.loaded === c.images; }"
)
SOME_COVERS_IN = (
    f"() => {{ const c = ({COVERS_IN_VIEW})(); return c.pending > 0 && c.loaded > 0; }}"
)


def app_environment(tmp: Path, port: int) -> dict[str, str]:
    """This environment without Redis, Spotify or APP_ENV settings, on `port` and `tmp`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"REDIS_URL", "APP_ENV"} and not name.startswith("SPOTIFY_")
    }
    env["PORT"] = str(port)
    env["DATABASE_URL"] = f"sqlite:///{tmp / 'catalog.db'}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def health(base: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            body: dict[str, Any] = json.load(response)
            return body
    except (OSError, ValueError):  # URLError, HTTPError (503), refused, bad JSON
        return None


def tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to the app's process group, as in a terminal; SIGKILL if any of it lingers.

    The devserver may exit before honcho's children have finished, so this waits for the
    whole group (gunicorn, celery, the embedded Redis), not just for the devserver.
    """
    pgid = process.pid  # start_new_session: the devserver leads its own group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if group_alive(pgid):
        print(f"the app did not stop in {STOP_TIMEOUT_S:.0f} s: killing it", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def running_app(tmp: Path, log: Path) -> Iterator[str]:
    """`python -m tools.devserver` in its own session until healthy with a worker; its URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.devserver"],
            cwd=ROOT,
            env=app_environment(tmp, port),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        print(f"starting the app at {base} (its output: {log})")
        started = time.monotonic()
        while True:
            body = health(base)
            worker = str((body or {}).get("checks", {}).get("worker", ""))
            if worker.startswith("ok"):
                print(f"app healthy after {time.monotonic() - started:.1f} s (worker: {worker})")
                break
            if process.poll() is not None:
                raise RuntimeError(f"the app exited ({process.returncode}):\n{tail(log)}")
            if time.monotonic() - started > STARTUP_TIMEOUT_S:
                raise RuntimeError(
                    f"the app was not healthy in {STARTUP_TIMEOUT_S:.0f} s "
                    f"(last /healthz: {body}):\n{tail(log)}"
                )
            time.sleep(0.25)
        yield base
    finally:
        stop(process)


def covers_in_view(page: Page) -> dict[str, int]:
    counts: dict[str, int] = page.evaluate(COVERS_IN_VIEW)
    return counts


def wait_for(page: Page, condition: str, timeout_ms: int, what: str) -> None:
    """Wait until the JS `condition` holds; on timeout say so and carry on."""
    try:
        page.wait_for_function(condition, timeout=timeout_ms, polling=50)
    except PlaywrightTimeoutError:
        print(f"  warning: {what} not reached in {timeout_ms} ms: {covers_in_view(page)}")


def shoot(page: Page, path: Path) -> None:
    covers = covers_in_view(page)
    page.screenshot(path=str(path), animations="disabled")
    print(f"  {path.name}: {path.stat().st_size // 1024} KB, covers in view: {covers}")


def new_context(browser: Browser, viewport: dict[str, int], scale: float = 1) -> BrowserContext:
    return browser.new_context(
        viewport={"width": viewport["width"], "height": viewport["height"]},
        device_scale_factor=scale,
        reduced_motion="reduce",  # no fade-in or shimmer caught half-way
    )


def take_screenshots(browser: Browser, base: str, out: Path, album: str) -> None:
    desktop = new_context(browser, DESKTOP)
    page = desktop.new_page()

    # A cold cache: nothing has been fetched yet, so every tile starts as a skeleton.
    started = time.monotonic()
    page.goto(f"{base}/catalog/", wait_until="domcontentloaded")
    elapsed_ms = (time.monotonic() - started) * 1000
    page.wait_for_timeout(max(0.0, LOADING_AFTER_MS - elapsed_ms))
    # Some covers in, some skeletons left: give the first covers a moment if need be.
    wait_for(page, SOME_COVERS_IN, 3_000, "a mix of covers and skeletons")
    shoot(page, out / "catalog-loading.png")

    wait_for(page, ALL_COVERS_IN, COVERS_TIMEOUT_MS, "every cover in view")
    shoot(page, out / "catalog-warm.png")

    # An album of ordinary length (the simulator makes one album in eight ~100 tracks long).
    page.goto(f"{base}/catalog/?{urllib.parse.urlencode({'q': album})}")
    if page.locator(".tile__link").count() == 0:
        print(f"  no album matches {album!r}: taking the catalog's first album")
        page.goto(f"{base}/catalog/")
    href = page.locator(".tile__link").first.get_attribute("href")
    if href is None:
        raise RuntimeError("the catalog has no album links")
    page.goto(f"{base}{href}")
    page.locator('[data-metadata-state="ready"]').wait_for(timeout=COVERS_TIMEOUT_MS)
    wait_for(page, ALL_COVERS_IN, COVERS_TIMEOUT_MS, "the album cover")
    shoot(page, out / "album.png")

    # The sample's link-less albums that no simulated source knows: "No cover found".
    page.goto(f"{base}/catalog/?{urllib.parse.urlencode({'q': COVER_LESS})}")
    page.locator(".cover--none").first.wait_for(timeout=COVERS_TIMEOUT_MS)
    wait_for(page, ALL_COVERS_IN, COVERS_TIMEOUT_MS, "the covers in view")
    shoot(page, out / "cover-less.png")
    desktop.close()

    phone = new_context(browser, PHONE, scale=2)
    page = phone.new_page()
    page.goto(f"{base}/catalog/")
    wait_for(page, ALL_COVERS_IN, COVERS_TIMEOUT_MS, "every cover in view")
    shoot(page, out / "phone.png")
    phone.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the PNGs go")
    parser.add_argument(
        "--album", default="OK Computer", help="title searched for the album page's album"
    )
    parser.add_argument(
        "--log", type=Path, help="keep the app's output in this file (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if not Path(CHROMIUM).exists():
        print(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="album-screenshots-") as tmp:
        try:
            log = args.log.resolve() if args.log else Path(tmp) / "devserver.log"
            with running_app(Path(tmp), log) as base, sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    take_screenshots(browser, base, out, args.album)
                finally:
                    browser.close()
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
