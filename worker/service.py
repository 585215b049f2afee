"""The Spotify client and the global limiter of one worker process, as a Flask extension.

Built by the app factory (`init_app`); every caller says per call how long it may
wait for the limiter (`waiting_at_most`), so threads of one worker never share a budget.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from flask import Flask, current_app
from redis import Redis

from app.ops import counters
from app.spotify.circuit import Circuit
from app.spotify.client import SpotifyClient, SpotifySettings
from app.spotify.errors import SpotifyError, TransientError
from app.spotify.limiter import Limiter, LimiterBusyError
from app.spotify.quota import Bucket, DailyQuota
from worker.lanes import Lane

EXTENSION = "spotify"


@dataclass(slots=True)
class _CallBudget:
    max_wait: float
    lane: Lane
    sparing: bool = False  # take a token only from a full bucket, as background work does
    prepaid: int = 0  # calls already holding a limiter slot (see SpotifyService.reserved)


class SpotifyService:
    """The limiter and client of this process; each caller says how long it may wait.

    The wait budget lives in a context variable, so threads of one worker (the
    threads pool) never see each other's budget.
    """

    def __init__(
        self,
        limiter: Limiter,
        quota: DailyQuota,
        circuit: Circuit,
        settings: SpotifySettings,
        redis_client: Redis,
        background_reserve: int = 0,
    ) -> None:
        self.limiter = limiter
        self.quota = quota
        self.circuit = circuit
        # Background calls take a token only while the bucket holds more than this.
        self.background_reserve = max(0, min(background_reserve, limiter.burst - 1))
        self._budget: ContextVar[_CallBudget | None] = ContextVar("spotify_budget", default=None)
        self.client = SpotifyClient(
            settings,
            redis_client=redis_client,
            guard=self.guard,
            on_call=counters.count_spotify_call,
        )

    @contextmanager
    def waiting_at_most(
        self, max_wait: float, lane: Lane = "interactive", *, sparing: bool = False
    ) -> Generator[None]:
        """Calls made inside wait at most `max_wait` seconds each for the limiter, and
        spend the budget of `lane` (background leaves a reserve to interactive calls;
        so does a `sparing` interactive call, one nobody has polled for yet)."""
        token = self._budget.set(_CallBudget(max_wait, lane, sparing))
        try:
            yield
        finally:
            self._budget.reset(token)

    def lane(self) -> Lane:
        """The lane whose budget the calls made now spend."""
        return self._current().lane

    def _current(self) -> _CallBudget:
        budget = self._budget.get()
        if budget is None:
            raise RuntimeError("Spotify calls need a wait budget: use waiting_at_most()")
        return budget

    @contextmanager
    def guard(self, bucket: Bucket) -> Generator[None]:
        """Wraps every HTTP call: a limiter slot (and the time spent waiting for it), and
        one call of the bucket's daily budget (background stops at its share)."""
        budget = self._current()
        probe = self.circuit.allow()  # raises while Spotify fails and another call probes
        try:
            if budget.prepaid:
                budget.prepaid -= 1
                self._spend(bucket, budget)
                yield
            else:
                with self._slot(budget):
                    self._spend(bucket, budget)
                    yield
        except TransientError:
            if self.circuit.failed(probe):
                counters.incr(counters.CIRCUIT_OPEN)
            raise
        except LimiterBusyError:
            if probe:
                self.circuit.release_probe()  # no call was made: another may probe
            raise
        except SpotifyError:
            self.circuit.succeeded(probe)  # Spotify answered (a 404, a 429): it is up
            raise
        self.circuit.succeeded(probe)

    def _spend(self, bucket: Bucket, budget: _CallBudget) -> None:
        wait = self.quota.take(bucket, background=budget.lane == "background")
        if wait > 0:
            counters.incr(counters.quota_wait_name(bucket, budget.lane))
            raise LimiterBusyError(wait, "quota")

    @contextmanager
    def reserved(self) -> Generator[None]:
        """Wait for the limiter first; the next call inside uses that slot.

        A batch worker waits, then picks the albums to fetch, so the batch fills up
        with everything that was queued while it waited.
        """
        budget = self._current()
        with self._slot(budget):
            budget.prepaid = 1
            try:
                yield
            finally:
                budget.prepaid = 0

    @contextmanager
    def _slot(self, budget: _CallBudget) -> Generator[None]:
        started = time.monotonic()
        spare = budget.lane == "background" or budget.sparing
        reserve = self.background_reserve if spare else 0
        with self.limiter.slot(budget.max_wait, reserve):
            counters.add_seconds(counters.LIMITER_WAIT_SECONDS, time.monotonic() - started)
            counters.count_lane_call(budget.lane)
            yield

    @classmethod
    def from_config(cls, config: dict[str, object], redis_client: Redis) -> SpotifyService:
        timeout = float(cast(float, config["SPOTIFY_TIMEOUT"]))
        limiter = Limiter(
            redis_client,
            rate_per_sec=float(cast(float, config["SPOTIFY_RATE_PER_SEC"])),
            burst=int(cast(int, config["SPOTIFY_BURST"])),
            max_in_flight=int(cast(int, config["SPOTIFY_MAX_CONCURRENT"])),
            lease_seconds=timeout + 5,
            namespace=cast(str, config["REDIS_PREFIX"]),
        )
        settings = SpotifySettings(
            client_id=cast(str, config["SPOTIFY_CLIENT_ID"]),
            client_secret=cast(str, config["SPOTIFY_CLIENT_SECRET"]),
            api_base=cast(str, config["SPOTIFY_API_BASE"]),
            token_url=cast(str, config["SPOTIFY_TOKEN_URL"]),
            timeout=timeout,
            batch=cast(Any, config["SPOTIFY_BATCH"]),
            key_prefix=cast(str, config["REDIS_PREFIX"]),
        )
        reserve = int(cast(int, config["SPOTIFY_BACKGROUND_RESERVE"]))
        quota = DailyQuota(
            redis_client,
            namespace=cast(str, config["REDIS_PREFIX"]),
            budget=int(cast(int, config["SPOTIFY_DAILY_BUDGET"])),
            background_share=float(cast(float, config["SPOTIFY_BACKGROUND_SHARE"])),
        )
        circuit = Circuit(
            redis_client,
            namespace=cast(str, config["REDIS_PREFIX"]),
            failures=int(cast(int, config["SPOTIFY_CIRCUIT_FAILURES"])),
            seconds=float(cast(float, config["SPOTIFY_CIRCUIT_SECONDS"])),
        )
        return cls(limiter, quota, circuit, settings, redis_client, background_reserve=reserve)


def init_app(app: Flask) -> None:
    """Build this app's service on its Redis client (call again after swapping Redis)."""
    redis_client = cast(Redis, app.extensions["redis"])
    app.extensions[EXTENSION] = SpotifyService.from_config(dict(app.config), redis_client)


def spotify_service() -> SpotifyService:
    """The current app's service."""
    return cast(SpotifyService, current_app.extensions[EXTENSION])
