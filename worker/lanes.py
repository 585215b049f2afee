"""The two lanes of fetch work, and a large background run fed to one of them.

*Interactive*: a tile or album page viewed, a "Try again" click. *Background*:
`refresh-cache`, `import-albums --no-skip-spotify`, stale-while-revalidate refreshes.
Each lane is a Celery queue; workers take interactive first, and background calls
leave a reserve of the shared token bucket to interactive ones.

`flask refresh-cache --enqueue` of 10,000 albums puts 10,000 ids in one sorted set
(`run_key()`), not 10,000 messages in the broker. A feeder task
(`worker.tasks.feed_background`) moves at most BACKGROUND_WINDOW of them at a time into
the background queue, so the lane stays short, `--cancel` is one delete, and progress
is readable (`run_status`, for `flask cache-stats` and `/metrics`). All state is in
Redis, so a run survives a worker restart; the workers' heartbeat restarts a feeder
that was lost with its worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

import redis

from app.extensions import redis_key
from app.redis_lua import with_clock

Lane = Literal["interactive", "background"]
LANES: tuple[Lane, ...] = ("interactive", "background")


def run_key() -> str:
    """Album ids still to feed, scored in the order asked for."""
    return redis_key("refresh:run")


def run_meta_key() -> str:
    """total, done, started_at (epoch seconds)."""
    return redis_key("refresh:run:meta")


def outstanding_key() -> str:
    """Album id -> when it was fed (ms, Redis clock)."""
    return redis_key("refresh:outstanding")


def feeder_key() -> str:
    """Set while a feeder task is scheduled."""
    return redis_key("refresh:feeder")


@dataclass(frozen=True, slots=True)
class RunStatus:
    total: int  # albums in the run, including those done
    done: int
    waiting: int  # not yet fed to the background queue
    in_lane: int  # fed, not finished

    @property
    def remaining(self) -> int:
        return self.waiting + self.in_lane

    def eta_seconds(self, rate_per_sec: float) -> float:
        """Time to finish at the whole budget (the most background can get)."""
        return self.remaining / rate_per_sec if rate_per_sec > 0 else 0.0


def run_status(client: redis.Redis) -> RunStatus | None:
    """The current background run, or None when there is none."""
    pipe = client.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
    pipe.hgetall(run_meta_key())
    pipe.zcard(run_key())
    pipe.zcard(outstanding_key())
    meta, waiting, in_lane = cast(tuple[dict[bytes, bytes], int, int], tuple(pipe.execute()))
    if not meta and not waiting and not in_lane:
        return None
    total = int(meta.get(b"total", b"0"))
    return RunStatus(total, int(meta.get(b"done", b"0")), int(waiting), int(in_lane))


def queue_depths(client: redis.Redis) -> dict[Lane, int]:
    """Messages waiting in each lane's Celery queue (the Redis broker keeps a list each,
    named after the queue inside the broker's `global_keyprefix`, our REDIS_PREFIX)."""
    pipe = client.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
    for lane in LANES:
        pipe.llen(redis_key(lane))
    return dict(zip(LANES, (int(n) for n in pipe.execute()), strict=True))


FEEDER_TTL_SECONDS = 10  # a feeder renews this each tick; gone = lost with its worker
# A fed album not finished by then is fed again (its task was lost with a worker, or
# waits out a long cooldown; a duplicate finds the album fresh and makes no call).
LOST_AFTER_MS = 20_000

# Pop up to ARGV[1] ids into the outstanding set (scored with Redis time), after
# putting fed albums older than ARGV[2] ms back at the front of the run.
_TAKE = with_clock("""
local lost = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
for _, id in ipairs(lost) do redis.call('ZADD', KEYS[1], 0, id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
local room = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[2])
if room <= 0 then return {} end
local popped = redis.call('ZPOPMIN', KEYS[1], room)
local ids = {}
for i = 1, #popped, 2 do
  redis.call('ZADD', KEYS[2], now, popped[i])
  table.insert(ids, popped[i])
end
return ids
""")


def add_to_run(client: redis.Redis, album_ids: Iterable[int]) -> int:
    """Append albums to the background run (starting one if there is none).

    An album already waiting in the run is not added twice; returns how many were new.
    """
    ids = list(dict.fromkeys(album_ids))
    if not ids:
        return 0
    # Scores keep the order albums were asked for, across runs added to one another.
    last = client.hincrby(run_meta_key(), "seq", len(ids))
    first = last - len(ids)
    added = 0
    for start in range(0, len(ids), 1000):
        chunk = {str(i): first + start + n for n, i in enumerate(ids[start : start + 1000])}
        added += int(cast(int, client.zadd(run_key(), chunk, nx=True)))
    client.hsetnx(run_meta_key(), "started_at", str(time.time()))
    client.hincrby(run_meta_key(), "total", added)
    return added


def started_at(client: redis.Redis) -> float | None:
    raw = client.hget(run_meta_key(), "started_at")
    return float(cast(bytes, raw)) if raw else None


def take_for_lane(client: redis.Redis, window: int) -> list[int]:
    """Albums to put in the background queue now: up to `window` in the lane at once."""
    reply = client.eval(_TAKE, 2, run_key(), outstanding_key(), window, LOST_AFTER_MS)
    return [int(i) for i in cast(list[bytes], reply)]


def finished(client: redis.Redis, album_id: int) -> None:
    """A fed album's task ended (fetched, cached, failed for good): room for the next."""
    if client.zrem(outstanding_key(), album_id):
        client.hincrby(run_meta_key(), "done", 1)


def in_lane(client: redis.Redis, album_id: int) -> bool:
    """Whether this album is still fed to the lane (False once the run is cancelled)."""
    return client.zscore(outstanding_key(), album_id) is not None


def active(client: redis.Redis) -> bool:
    """Whether anything of the run is still waiting or in the lane."""
    return bool(client.zcard(run_key()) or client.zcard(outstanding_key()))


def claim_feeder(client: redis.Redis) -> bool:
    """True for the one caller that should schedule a feeder now."""
    return bool(client.set(feeder_key(), "scheduled", nx=True, ex=FEEDER_TTL_SECONDS))


def renew_feeder(client: redis.Redis, seconds: float = FEEDER_TTL_SECONDS) -> None:
    """The feeder is alive (and, paused for the budget, for `seconds` to come)."""
    client.set(feeder_key(), "running", px=max(1, int(seconds * 1000)))


def postpone(client: redis.Redis, album_id: int) -> None:
    """A fed album put off by the day's budget: back to the front of the run."""
    pipe = client.pipeline(transaction=True)  # pyright: ignore[reportUnknownMemberType]
    pipe.zrem(outstanding_key(), album_id)
    pipe.zadd(run_key(), {str(album_id): 0})
    pipe.execute()


def end_run(client: redis.Redis) -> None:
    """The run is done: forget it (the feeder stops)."""
    client.delete(run_meta_key(), feeder_key())


def cancel(client: redis.Redis) -> int:
    """Drop everything not yet fetched; returns how many albums were dropped."""
    pipe = client.pipeline(transaction=True)  # pyright: ignore[reportUnknownMemberType]
    pipe.zcard(run_key())
    pipe.zcard(outstanding_key())
    pipe.delete(run_key(), outstanding_key(), run_meta_key(), feeder_key())
    waiting, in_lane, _ = cast(tuple[int, int, int], tuple(pipe.execute()))
    return int(waiting) + int(in_lane)
