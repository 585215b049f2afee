"""One global limit on Spotify calls, shared by every worker on every machine.

A token bucket (`rate` per second, up to `burst` at once), a cooldown set from any
429's Retry-After that stops everyone, and a cap on calls in flight. All three are
checked and updated in one Lua script, using Redis's own clock (`TIME`), so
workers on machines with skewed clocks still share one budget.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, cast

import redis

from app.redis_lua import with_clock

WaitReason = Literal["cooldown", "concurrency", "rate", "quota", "circuit"]


def limiter_key(namespace: str, name: str, scope: str = "spotify") -> str:
    """A limiter's keys (`bucket`, `cooldown`, `in-flight`) inside an app's REDIS_PREFIX;
    `scope` names whose limiter it is (Spotify's, or another cover source's)."""
    return f"{namespace}{scope}:limiter:{name}"


_ACQUIRE = with_clock("""
local cooldown = redis.call('PTTL', KEYS[2])
if cooldown > 0 then return {0, cooldown, 1} end
local rate = tonumber(ARGV[1]) / 1000
local burst = tonumber(ARGV[2])
local max_in_flight = tonumber(ARGV[3])
if max_in_flight > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= max_in_flight then return {0, 25, 2} end
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local ttl = math.ceil(burst / rate) + 1000
-- A background call leaves ARGV[6] tokens for interactive ones (lanes share one bucket).
local needed = 1 + tonumber(ARGV[6])
if tokens < needed then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {0, math.ceil((needed - tokens) / rate), 3}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], ttl)
if max_in_flight > 0 then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[5])
end
return {1, 0, 0}
""")

# Extend the cooldown, never shorten it: the longest Retry-After wins.
_COOLDOWN = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
  return 1
end
return 0
"""

_REASONS: dict[int, WaitReason] = {1: "cooldown", 2: "concurrency", 3: "rate"}


class LimiterBusyError(Exception):
    """No call may be made within the time the caller was willing to wait."""

    def __init__(self, retry_in: float, reason: WaitReason) -> None:
        super().__init__(f"limiter busy ({reason}); retry in {retry_in:.1f} s")
        self.retry_in = retry_in
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Decision:
    granted: bool
    wait: float  # seconds until trying again makes sense
    reason: WaitReason | None
    lease: str


class Limiter:
    def __init__(
        self,
        client: redis.Redis,
        *,
        rate_per_sec: float,
        burst: int,
        max_in_flight: int,
        lease_seconds: float = 30.0,
        namespace: str = "",
        scope: str = "spotify",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_sec <= 0 or burst < 1:
            raise ValueError("rate_per_sec must be > 0 and burst >= 1")
        self.redis = client
        self.rate = rate_per_sec
        self.burst = burst
        self.max_in_flight = max_in_flight
        self.lease_ms = int(lease_seconds * 1000)
        self.bucket_key = limiter_key(namespace, "bucket", scope)
        self.cooldown_key = limiter_key(namespace, "cooldown", scope)
        self.in_flight_key = limiter_key(namespace, "in-flight", scope)
        self._acquire = client.register_script(_ACQUIRE)
        self._cooldown = client.register_script(_COOLDOWN)
        self._sleep = sleep

    def try_acquire(self, reserve: int = 0) -> Decision:
        """One token now, if the bucket holds more than `reserve` (0 for interactive calls)."""
        lease = uuid.uuid4().hex
        keys = [self.bucket_key, self.cooldown_key, self.in_flight_key]
        args = [self.rate, self.burst, self.max_in_flight, self.lease_ms, lease, reserve]
        reply = cast(list[int], self._acquire(keys=keys, args=args))
        granted, wait_ms, reason = (int(v) for v in reply)
        return Decision(bool(granted), wait_ms / 1000, _REASONS.get(reason), lease)

    def acquire(self, max_wait: float, reserve: int = 0) -> str:
        """A lease to make one call, waiting at most `max_wait` seconds for it.

        Raises LimiterBusyError (with how long to wait) instead of sleeping longer.
        """
        deadline = time.monotonic() + max_wait
        while True:
            decision = self.try_acquire(reserve)
            if decision.granted:
                return decision.lease
            remaining = deadline - time.monotonic()
            if decision.wait > remaining:
                raise LimiterBusyError(decision.wait, decision.reason or "rate")
            # A little jitter so waiting workers do not all wake in the same millisecond.
            self._sleep(decision.wait + random.uniform(0, 0.01))

    def release(self, lease: str) -> None:
        if self.max_in_flight > 0:
            self.redis.zrem(self.in_flight_key, lease)

    @contextmanager
    def slot(self, max_wait: float, reserve: int = 0) -> Generator[None]:
        lease = self.acquire(max_wait, reserve)
        try:
            yield
        finally:
            self.release(lease)

    def set_cooldown(self, seconds: float, reason: str = "429") -> bool:
        """Stop every worker for `seconds` (extends, never shortens, a cooldown)."""
        ms = max(1, int(seconds * 1000))
        return bool(self._cooldown(keys=[self.cooldown_key], args=[ms, reason]))


def cooldown_remaining(client: redis.Redis, key: str) -> float:
    """Seconds until Spotify may be called again (0 when there is no cooldown)."""
    ms = int(client.pttl(key))  # pyright: ignore[reportArgumentType]
    return max(0, ms) / 1000
