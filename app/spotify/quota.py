"""Spotify's daily quotas: calls counted per endpoint group over a rolling 24 h.

Apart from the 30-second rate limit, Spotify counts calls per endpoint group
("bucket": album lookups, track pages, search) per developer account over roughly a
rolling day, and can lock one bucket for ~24 h (429, `QUOTA_EXCEEDED`) while the
others still answer. So each bucket has a budget (SPOTIFY_DAILY_BUDGET) the app never
exceeds, background work stops at a share of it (SPOTIFY_BACKGROUND_SHARE) so visitors
always have the rest, and a `QUOTA_EXCEEDED` answer locks only its own bucket.

All of it is one Lua call per HTTP call (Redis's clock), shared by every worker.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Literal, cast

import redis

from app.redis_lua import with_clock

Bucket = Literal["albums", "tracks", "search"]
BUCKETS: tuple[Bucket, ...] = ("albums", "tracks", "search")
WINDOW_SECONDS = 24 * 3600

# KEYS: calls (zset), lock. ARGV: window ms, limit for this caller, member.
# Returns 0 (a call may be made, and is counted) or the ms to wait.
_TAKE = with_clock("""
local locked = redis.call('PTTL', KEYS[2])
if locked > 0 then return locked end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local index = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2]) + 1
  local freeing = redis.call('ZRANGE', KEYS[1], index - 1, index - 1, 'WITHSCORES')
  return math.max(1, tonumber(freeing[2] or oldest[2]) + tonumber(ARGV[1]) - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
""")

# KEYS: calls, lock. ARGV: window ms. Returns {used, oldest call's age ms or -1, lock ms}.
_USAGE = with_clock("""
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local age = -1
if #oldest > 0 then age = now - tonumber(oldest[2]) end
return {redis.call('ZCARD', KEYS[1]), age, redis.call('PTTL', KEYS[2])}
""")


def calls_key(namespace: str, bucket: Bucket) -> str:
    return f"{namespace}spotify:quota:{bucket}:calls"


def lock_key(namespace: str, bucket: Bucket) -> str:
    """Set while a QUOTA_EXCEEDED answer locks the bucket (the read path checks it)."""
    return f"{namespace}spotify:quota:{bucket}:locked"


@dataclass(frozen=True, slots=True)
class Usage:
    """One bucket's day: calls in the window, the budget, and when things change."""

    bucket: Bucket
    used: int
    budget: int
    background_limit: int
    oldest_leaves_in: float | None  # seconds until the oldest call leaves the window
    locked_for: float  # seconds a QUOTA_EXCEEDED answer still locks the bucket

    @property
    def background_left(self) -> int:
        return max(0, self.background_limit - self.used)


class DailyQuota:
    def __init__(
        self, client: redis.Redis, *, namespace: str, budget: int, background_share: float
    ) -> None:
        self.redis = client
        self.namespace = namespace
        self.budget = max(1, budget)
        share = min(1.0, max(0.0, background_share))
        self.background_limit = math.floor(self.budget * share)
        self._take = client.register_script(_TAKE)
        self._usage = client.register_script(_USAGE)

    def _keys(self, bucket: Bucket) -> list[str]:
        return [calls_key(self.namespace, bucket), lock_key(self.namespace, bucket)]

    def take(self, bucket: Bucket, background: bool) -> float:
        """Count one call, or say how many seconds to wait (0.0: go ahead)."""
        limit = self.background_limit if background else self.budget
        args = [WINDOW_SECONDS * 1000, limit, uuid.uuid4().hex]
        wait_ms = int(cast(int, self._take(keys=self._keys(bucket), args=args)))
        return wait_ms / 1000

    def lock(self, bucket: Bucket, seconds: float) -> None:
        """Spotify said QUOTA_EXCEEDED for this bucket: nobody calls it for `seconds`."""
        self.redis.set(self._keys(bucket)[1], "quota", px=max(1, int(seconds * 1000)))

    def bucket_usage(self, bucket: Bucket) -> Usage:
        reply = cast(list[int], self._usage(keys=self._keys(bucket), args=[WINDOW_SECONDS * 1000]))
        used, age, locked = (int(v) for v in reply)
        leaves = WINDOW_SECONDS - age / 1000 if age >= 0 else None
        locked_for = max(0, locked) / 1000
        return Usage(bucket, used, self.budget, self.background_limit, leaves, locked_for)

    def usage(self) -> list[Usage]:
        return [self.bucket_usage(bucket) for bucket in BUCKETS]
