"""The two lanes of fetch work, and what a background run looks like from outside.

*Interactive*: a tile or album page viewed, a "Try again" click. *Background*:
`refresh-cache`, `import-albums --no-skip-spotify`, stale-while-revalidate refreshes.
Each lane is a Celery queue; workers take interactive first, and background calls
leave a reserve of the shared token bucket to interactive ones.

A large background run waits in Redis (`run_key()`, album ids) and is fed to the
background queue a few at a time by the worker package (`worker.lanes`); this module
only names its keys and reads its progress, for `flask cache-stats` and `/metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

import redis

from app.extensions import redis_key

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
