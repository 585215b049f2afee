"""What every Redis Lua script of the app shares: the Redis clock.

Scripts read `TIME` instead of trusting the caller's clock, so web servers and
workers on machines with skewed clocks agree on queues, leases and buckets. A leaf:
it imports nothing, so even the framework-free Spotify client may use it.
"""

from __future__ import annotations

# Sets the local `now`: milliseconds since the epoch, by Redis's clock.
_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""


def with_clock(body: str) -> str:
    """A Lua script whose `body` may read `now` (ms, Redis's clock)."""
    return _NOW_MS + body
