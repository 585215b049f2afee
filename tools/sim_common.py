"""What the source simulators (Spotify, Deezer, MusicBrainz) share.

The record of calls and the switches every sim has (latency, error ratio, seed, forced
throttling), a rolling request window, the `/_sim/` control endpoints, the server on a
background thread and the `python -m` entry point.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, Self, TypeVar

from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


@dataclass(frozen=True)
class Call:
    at: float
    method: str
    path: str
    status: int


class Settings(Protocol):
    """What every simulator's settings dataclass has."""

    latency_ms: float
    error_ratio: float
    seed: int | None

    def public(self) -> dict[str, Any]:
        """The settings as `GET /_sim/settings` shows them."""
        ...


S = TypeVar("S", bound=Settings)


@dataclass
class CommonSettings:
    """The switches the Deezer and MusicBrainz sims start from; they add theirs and `seed`."""

    latency_ms: float = 0.0
    error_ratio: float = 0.0

    def public(self) -> dict[str, Any]:
        return asdict(self)


class SimState(Generic[S]):
    """Settings, forced throttling and the record of calls (thread-safe).

    A simulator adds its own limits in a subclass; `_setting`, `_changed` and `_cleared`
    let it convert a setting, react to a change and clear its own state on reset.
    """

    def __init__(self, settings: S) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.throttle_until = 0.0
        self.random = random.Random(self.settings.seed)

    def update(self, **changes: Any) -> None:
        """Change settings by name; ValueError for a name the settings do not have."""
        with self.lock:
            for name, value in changes.items():
                if not hasattr(self.settings, name):
                    raise ValueError(f"unknown setting {name!r}")
                setattr(self.settings, name, self._setting(name, value))
            if "seed" in changes:
                self.random = random.Random(self.settings.seed)
            self._changed()

    def _setting(self, name: str, value: Any) -> Any:
        """The value to store for a setting sent as JSON."""
        return value

    def _changed(self) -> None:
        """Called with the lock held once `update` has applied every change."""

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.throttle_until = 0.0
            self._cleared()

    def _cleared(self) -> None:
        """Called with the lock held when `reset` clears the state."""

    def throttle(self, seconds: float) -> None:
        """Refuse every API call, as the simulated service refuses, for `seconds`."""
        with self.lock:
            self.throttle_until = time.monotonic() + seconds

    def record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.calls.append(Call(time.time(), method, path, status))

    def api_calls(self, prefix: str = "/") -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path.startswith(prefix)]

    def delay(self) -> None:
        """Wait as long as the `latency_ms` setting says."""
        if self.settings.latency_ms:
            time.sleep(self.settings.latency_ms / 1000)

    def should_fail(self) -> bool:
        with self.lock:
            return self.random.random() < self.settings.error_ratio


class WindowState(SimState[S]):
    """A SimState with a rolling window of accepted calls (Spotify's 30 s, Deezer's 5 s)."""

    def __init__(self, settings: S) -> None:
        super().__init__(settings)
        self.accepted: deque[float] = deque()

    def _cleared(self) -> None:
        super()._cleared()
        self.accepted.clear()

    def _take_slot(self, now: float, window: float, limit: int | None) -> float | None:
        """With the lock held: None when the window has room (the call now counts in it),
        else the seconds until its oldest call leaves it. Refused calls do not count."""
        while self.accepted and self.accepted[0] <= now - window:
            self.accepted.popleft()
        if limit is not None and len(self.accepted) >= limit:
            return self.accepted[0] + window - now
        self.accepted.append(now)
        return None


def record_calls(app: Flask, state: SimState[Any], unrecorded: tuple[str, ...]) -> None:
    """Record every answered call whose path starts with none of `unrecorded`."""

    @app.after_request
    def record(response: Response) -> Response:
        if not request.path.startswith(unrecorded):
            state.record(request.method, request.full_path.rstrip("?"), response.status_code)
        return response


def register_control_endpoints(
    app: Flask, state: SimState[Any], *, reject_unknown_settings: bool = True
) -> None:
    """`/_sim/settings` (GET, POST), `/_sim/throttle`, `/_sim/reset` and `/_sim/calls`.

    With `reject_unknown_settings` an unknown setting gets a 400 naming it; without, the
    error is left to Flask (a 500), as the Spotify sim has always answered.
    """

    @app.get("/_sim/settings")
    def get_settings() -> Response:
        return jsonify(state.settings.public())

    @app.post("/_sim/settings")
    def set_settings() -> Response:
        try:
            state.update(**(request.get_json(force=True) or {}))
        except ValueError as exc:
            if not reject_unknown_settings:
                raise
            response = jsonify({"error": str(exc)})
            response.status_code = 400
            return response
        return jsonify(state.settings.public())

    @app.post("/_sim/throttle")
    def throttle() -> Response:
        state.throttle(float((request.get_json(force=True) or {}).get("seconds", 30)))
        return jsonify({"ok": True})

    @app.post("/_sim/reset")
    def reset() -> Response:
        state.reset()
        return jsonify({"ok": True})

    @app.get("/_sim/calls")
    def calls() -> Response:
        return jsonify(
            [
                {"at": c.at, "method": c.method, "path": c.path, "status": c.status}
                for c in state.api_calls(request.args.get("prefix", "/"))
            ]
        )


def svg_response(svg: str, max_age: int = 86_400) -> Response:
    """A cover image, cacheable for `max_age` seconds."""
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Calls are recorded in the state; no access log on stderr."""


class SimServerBase(Generic[S]):
    """A simulator's app on a background thread: `with Sim() as sim: sim.url`.

    A sim builds its state and app in `_create_app`; `catalog_csv` is the catalog it
    starts with (without one it knows only what `/_sim/albums` adds).
    """

    # How often the serving thread looks for stop(), in seconds.
    poll_interval = 0.5

    def __init__(
        self,
        settings: S | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        catalog_csv: Path | None = None,
    ) -> None:
        self.app = self._create_app(settings, catalog_csv)
        self._server: BaseWSGIServer = make_server(
            host, port, self.app, threaded=True, request_handler=QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": self.poll_interval},
            daemon=True,
        )

    def _create_app(self, settings: S | None, catalog_csv: Path | None) -> Flask:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.server_port}/"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def join(self) -> None:
        """Block until the server stops (for `python -m`)."""
        while self._thread.is_alive():
            # Short joins so Ctrl-C reaches the main thread.
            self._thread.join(timeout=1.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


T = TypeVar("T", bound=SimServerBase[Any])
# The command-line options that are not settings.
_SERVER_OPTIONS = ("host", "port", "catalog")
# `--catalog` as the Deezer and MusicBrainz sims read it.
CSV = "CSV: Artist, Album, Year"


def parser(description: str, *, port: int, catalog_help: str) -> argparse.ArgumentParser:
    """The options every sim takes; a sim adds its own settings as further options.

    An option's dest must be the name of the setting it sets (`--window-limit` sets
    `window_limit`).
    """
    options = argparse.ArgumentParser(description=description)
    options.add_argument("--host", default="127.0.0.1")
    options.add_argument("--port", type=int, default=port)
    options.add_argument("--catalog", type=Path, default=None, help=catalog_help)
    options.add_argument("--latency-ms", type=float, default=0.0)
    options.add_argument("--error-ratio", type=float, default=0.0)
    return options


def serve(
    parser: argparse.ArgumentParser,
    server: Callable[..., T],
    settings: Callable[..., Any],
    banner: Callable[[T], str],
) -> None:
    """Parse the command line, start the sim with those settings and serve until Ctrl-C.

    `settings` is called with the options that are not --host, --port or --catalog.
    """
    args = vars(parser.parse_args())
    chosen = settings(**{k: v for k, v in args.items() if k not in _SERVER_OPTIONS})
    sim = server(chosen, host=args["host"], port=args["port"], catalog_csv=args["catalog"])
    print(banner(sim))
    sim.start()
    try:
        sim.join()
    except KeyboardInterrupt:
        sim.stop()
