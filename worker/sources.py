"""The cover sources of one worker process, each under its own limiter, as an extension.

COVER_SOURCES names the order; `SOURCES` maps each name to how it is built (adding a
source: its module in `app.sources`, one line here, its name in COVER_SOURCES). Every
source's calls go through the one Redis token-bucket mechanism (`Limiter`), with its
own rate, burst and cooldown: a throttled Deezer pauses Deezer, not MusicBrainz. The
Spotify search spends Spotify's own budget (its client's guard), and a 429 there pauses
all Spotify calls as any 429 does. A source that fails SOURCE_CIRCUIT_FAILURES times in
a row is paused for SOURCE_CIRCUIT_SECONDS (its circuit opens); the next call after
that is the probe, and one success closes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import current_app
from redis import Redis

from app.ops import counters
from app.sources.base import CoverSource
from app.sources.deezer import DeezerSource
from app.sources.musicbrainz import CoverArtArchiveSource
from app.sources.spotify_search import SpotifySearchSource
from app.spotify.limiter import Limiter
from worker.service import SpotifyService, spotify_service

EXTENSION = "cover_sources"
T = TypeVar("T")
Config = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Entry:
    """One source and its limiters: for its search, and for its confirming call."""

    source: CoverSource
    search: Limiter | None  # None: Spotify's client guards its own calls
    confirm: Limiter | None


def _limiter(redis: Redis, config: Config, scope: str, rate: float, burst: int) -> Limiter:
    return Limiter(
        redis,
        rate_per_sec=rate,
        burst=burst,
        max_in_flight=4,
        lease_seconds=float(config["SPOTIFY_TIMEOUT"]) + 5,
        namespace=str(config["REDIS_PREFIX"]),
        scope=scope,
    )


def _spotify_search(config: Config, redis: Redis, spotify: SpotifyService) -> Entry:
    return Entry(SpotifySearchSource(spotify.client), None, None)


def _deezer(config: Config, redis: Redis, spotify: SpotifyService) -> Entry:
    source = DeezerSource(str(config["DEEZER_API_BASE"]), timeout=float(config["SPOTIFY_TIMEOUT"]))
    rate, burst = float(config["DEEZER_RATE_PER_SEC"]), int(config["DEEZER_BURST"])
    return Entry(source, _limiter(redis, config, "deezer", rate, burst), None)


def _coverartarchive(config: Config, redis: Redis, spotify: SpotifyService) -> Entry:
    source = CoverArtArchiveSource(
        str(config["COVER_CONTACT"]),
        musicbrainz_base=str(config["MUSICBRAINZ_API_BASE"]),
        caa_base=str(config["COVERARTARCHIVE_BASE"]),
        timeout=float(config["SPOTIFY_TIMEOUT"]),
    )
    rate, burst = float(config["MUSICBRAINZ_RATE_PER_SEC"]), int(config["MUSICBRAINZ_BURST"])
    musicbrainz = _limiter(redis, config, "musicbrainz", rate, burst)
    # The Cover Art Archive publishes no limit; a modest one of our own keeps us polite.
    return Entry(source, musicbrainz, _limiter(redis, config, "coverartarchive", 5.0, 5))


# Every source after Spotify's album lookup (which worker.fetch makes itself).
SOURCES: dict[str, Callable[[Config, Redis, SpotifyService], Entry]] = {
    "spotify-search": _spotify_search,
    "deezer": _deezer,
    "coverartarchive": _coverartarchive,
}


class CoverSources:
    """The enabled sources in order, with their limiters, cooldowns and circuits."""

    def __init__(
        self,
        entries: dict[str, Entry],
        redis: Redis,
        prefix: str,
        failures: int,
        pause: float,
        spotify: SpotifyService,
    ) -> None:
        self.entries = entries
        self.built_for = (id(redis), id(spotify))
        self._redis = redis
        self._prefix = prefix
        self._failures = max(1, failures)
        self._pause = pause

    def names(self) -> list[str]:
        return list(self.entries)

    @contextlib.contextmanager
    def _slot(self, limiter: Limiter | None, max_wait: float) -> Generator[None]:
        if limiter is None:
            yield
            return
        with limiter.slot(max_wait):
            yield

    def call(self, name: str, step: str, max_wait: float, fn: Callable[[], T]) -> T:
        """`fn` (a source's `candidates` or `confirm` call) under that step's limiter.

        Raises LimiterBusyError when no call may be made within `max_wait`."""
        entry = self.entries[name]
        limiter = entry.search if step == "search" else entry.confirm
        # A confirm step without a limiter of its own makes no call (Deezer's search
        # already carries the covers; the Spotify match is looked up by its client).
        counted = step == "search" or limiter is not None
        with self._slot(limiter, max_wait):
            try:
                result = fn()
            except Exception as exc:
                if counted:
                    counters.count_source_call(name, type(exc).__name__)
                raise
        if counted:
            counters.count_source_call(name, "ok")
        return result

    def cool_down(self, name: str, seconds: float, spotify: SpotifyService) -> None:
        """The source asked us to stop for `seconds` (throttled): every worker pauses it."""
        entry = self.entries[name]
        limiters = [entry.search, entry.confirm] if entry.search else [spotify.limiter]
        for limiter in limiters:
            if limiter is not None:
                limiter.set_cooldown(seconds, "throttled")

    def _failures_key(self, name: str) -> str:
        return f"{self._prefix}source:{name}:failures"

    def failed(self, name: str, spotify: SpotifyService) -> bool:
        """Count a failure; True when this one opened the source's circuit."""
        key = self._failures_key(name)
        pipe = self._redis.pipeline(transaction=True)  # pyright: ignore[reportUnknownMemberType]
        pipe.incr(key)
        pipe.expire(key, int(self._pause * 4) + 1)
        count = int(pipe.execute()[0])
        if count % self._failures:
            return False
        self.cool_down(name, self._pause, spotify)
        counters.incr(counters.circuit_name(name))
        return True

    def succeeded(self, name: str) -> None:
        self._redis.delete(self._failures_key(name))

    @classmethod
    def from_config(cls, config: Config, redis: Redis, spotify: SpotifyService) -> CoverSources:
        enabled = [
            name
            for name in cast(tuple[str, ...], config["COVER_SOURCES"])
            if name in SOURCES and (name != "coverartarchive" or config["COVER_CONTACT"])
        ]
        entries = {name: SOURCES[name](config, redis, spotify) for name in enabled}
        return cls(
            entries,
            redis,
            str(config["REDIS_PREFIX"]),
            int(config["SOURCE_CIRCUIT_FAILURES"]),
            float(config["SOURCE_CIRCUIT_SECONDS"]),
            spotify,
        )


def cover_sources() -> CoverSources:
    """The current app's sources, built on first use (and again after Redis or the
    Spotify service was swapped, as tests do)."""
    redis, spotify = cast(Redis, current_app.extensions["redis"]), spotify_service()
    found = cast(CoverSources | None, current_app.extensions.get(EXTENSION))
    if found is None or found.built_for != (id(redis), id(spotify)):
        found = CoverSources.from_config(dict(current_app.config), redis, spotify)
        current_app.extensions[EXTENSION] = found
    return found
