"""The global limiter: never more than burst + rate x t calls in any window of t seconds."""

from __future__ import annotations

import multiprocessing
import time

import fakeredis
import pytest
import redis

from app.spotify.limiter import Limiter, LimiterBusyError
from tests.services import redis_url

RATE, BURST = 20.0, 5


@pytest.fixture
def client(any_redis: redis.Redis) -> redis.Redis:
    """fakeredis and the real server (the `any_redis` fixture)."""
    return any_redis


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def hammer(limiter: Limiter, seconds: float) -> list[float]:
    granted: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if limiter.try_acquire().granted:
            granted.append(time.time())
    return granted


def test_bucket_bounds_calls_in_every_window(client: redis.Redis) -> None:
    limiter = Limiter(client, rate_per_sec=RATE, burst=BURST, max_in_flight=0)
    granted = hammer(limiter, 1.5)
    for window in (0.1, 0.5, 1.0, 1.5):
        assert max_in_window(granted, window) <= BURST + RATE * window + 1
    # and the budget is used, not just respected
    assert len(granted) >= BURST + RATE * 1.5 - 3


def _worker(
    url: str, start_at: float, seconds: float, queue: multiprocessing.Queue[list[float]]
) -> None:
    limiter = Limiter(redis.Redis.from_url(url), rate_per_sec=RATE, burst=BURST, max_in_flight=0)
    time.sleep(max(0.0, start_at - time.time()))  # all processes compete at once
    queue.put(hammer(limiter, seconds))


def test_several_processes_share_one_budget() -> None:
    url = redis_url()
    # spawn, not fork: this test process may run threads (simulator, servers) that a
    # forked child would inherit mid-lock.
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[float]] = context.Queue()
    start_at = time.time() + 3
    procs = [context.Process(target=_worker, args=(url, start_at, 1.5, queue)) for _ in range(3)]
    for proc in procs:
        proc.start()
    try:
        granted = [t for _ in procs for t in queue.get(timeout=60)]
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    assert max_in_window(granted, 1.0) <= BURST + RATE * 1.0 + 1
    span = max(granted) - min(granted)  # processes may start a little apart
    assert len(granted) <= BURST + RATE * span + 1
    assert len(granted) >= BURST + RATE * 1.5 - 3  # shared, and fully used
    redis.Redis.from_url(url).flushdb()


def test_cooldown_stops_everyone_until_it_expires(client: redis.Redis) -> None:
    limiter = Limiter(client, rate_per_sec=RATE, burst=BURST, max_in_flight=0)
    limiter.set_cooldown(0.4)
    decision = limiter.try_acquire()
    assert not decision.granted
    assert decision.reason == "cooldown"
    assert 0.2 < decision.wait <= 0.4
    assert not limiter.set_cooldown(0.1)  # a shorter Retry-After does not shorten it
    time.sleep(0.45)
    assert limiter.try_acquire().granted


def test_in_flight_cap(client: redis.Redis) -> None:
    limiter = Limiter(client, rate_per_sec=1000, burst=100, max_in_flight=2)
    first, second = limiter.acquire(0), limiter.acquire(0)
    refused = limiter.try_acquire()
    assert (refused.granted, refused.reason) == (False, "concurrency")
    limiter.release(first)
    assert limiter.try_acquire().granted
    limiter.release(second)


def test_acquire_gives_up_instead_of_sleeping_long(client: redis.Redis) -> None:
    slept: list[float] = []
    limiter = Limiter(client, rate_per_sec=RATE, burst=BURST, max_in_flight=0, sleep=slept.append)
    limiter.set_cooldown(3600)
    started = time.monotonic()
    with pytest.raises(LimiterBusyError) as info:
        limiter.acquire(max_wait=2)
    assert info.value.reason == "cooldown"
    assert info.value.retry_in > 3500
    assert slept == []
    assert time.monotonic() - started < 1


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="rate_per_sec"):
        Limiter(fakeredis.FakeRedis(), rate_per_sec=0, burst=1, max_in_flight=0)
