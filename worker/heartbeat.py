"""Workers say they are alive: a Redis sorted set of worker names scored by Redis time.

This module writes the beats (`install`, `Heartbeat`) and reads them (`alive_workers`).

`/healthz` reads it in one round trip instead of pinging workers over the broker
(which costs half a second); a worker that stops beating is reported gone within
three missed beats, and a worker that shuts down cleanly removes itself at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, cast

import redis
from celery.signals import worker_ready, worker_shutdown
from flask import Flask

from app.extensions import make_redis_client, redis_key
from app.redis_lua import with_clock
from worker.queue import keep_feeding

log = logging.getLogger(__name__)


def heartbeat_key(prefix: str | None = None) -> str:
    """Worker name -> last beat (ms, Redis clock); a worker's thread passes its prefix."""
    return f"{redis_key('') if prefix is None else prefix}workers:heartbeat"


# Beat with Redis's clock, and forget members silent for ARGV[2] ms (dead workers).
_BEAT = with_clock("""
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return now
""")
_ALIVE = with_clock("""
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[1]), '+inf')
""")


def alive_workers(client: redis.Redis, max_age: float) -> int:
    """Workers whose last heartbeat is at most `max_age` seconds old (Redis's clock)."""
    return int(cast(int, client.eval(_ALIVE, 1, heartbeat_key(), int(max_age * 1000))))  # pyright: ignore[reportUnknownMemberType]


class Heartbeat:
    """A daemon thread that beats every `interval` seconds until stopped."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        interval: float,
        key: str,
        on_beat: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.key = key  # heartbeat_key() of the app: this thread has no app context
        self._on_beat = on_beat
        self.interval = interval
        self._redis = client
        self._beat = client.register_script(_BEAT)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def beat(self) -> None:
        try:
            self._beat(keys=[self.key], args=[self.name, int(self.interval * 3000)])
        except redis.RedisError as exc:
            log.warning("heartbeat not recorded (%s); trying again in %.0f s", exc, self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval)
        try:
            self._redis.zrem(self.key, self.name)
        except redis.RedisError:
            log.info("could not remove the heartbeat; it lapses by itself")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()
            if self._on_beat is not None:
                try:
                    self._on_beat()
                except Exception:  # a watchdog must not kill the heartbeat
                    log.exception("heartbeat watchdog failed")


def install(flask_app: Flask) -> None:
    """Beat while this worker process runs (wired by the worker entry point)."""
    running: list[Heartbeat] = []

    def started(sender: Any = None, **_kwargs: Any) -> None:
        name = str(getattr(sender, "hostname", None) or "worker")
        client = make_redis_client(cast(str, flask_app.config["REDIS_URL"]))
        interval = cast(float, flask_app.config["WORKER_HEARTBEAT_SECONDS"])

        def watchdog() -> None:
            with flask_app.app_context():
                keep_feeding()  # a background run outlives the worker that fed it

        key = heartbeat_key(cast(str, flask_app.config["REDIS_PREFIX"]))
        running.append(Heartbeat(client, name, interval, key, on_beat=watchdog).start())

    def stopping(**_kwargs: Any) -> None:
        while running:
            running.pop().stop()

    # weak=False: the handlers are closures that nothing else keeps alive.
    worker_ready.connect(started, weak=False)
    worker_shutdown.connect(stopping, weak=False)
