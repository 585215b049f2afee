"""The fetch lock: one fetch per album at a time, queued by the web and held by a worker.

This module owns the whole protocol: its keys, its states and every script that reads
or writes them. An album's lock (`album:{id}:fetch-lock`) is

- absent: nobody is fetching it; a lookup that misses may queue a fetch;
- `QUEUED` ("queued"): a task is on its way. Set by `mark_queued` (the web side, after
  a miss) with a short TTL (FETCH_LOCK_SECONDS), or by a worker that re-queues or hands
  back an album. A lost task (flushed Redis, dropped message) lets it lapse within
  seconds, and the next poll queues again;
- `FETCHING` + token ("fetching:<token>"): a worker holds it (`Claim`), with a lease
  of a few seconds that a thread renews while the fetch runs. A killed worker stops
  renewing, the lease lapses, and the next poll queues again.

Queued albums also wait in the batch queue (`pending_key`, scored by Redis time), from
which batch-mode workers take up to 20 per call. Duplicate tasks are harmless: a task
that finds another worker's live lease leaves the album to it, and a task that takes
the album checks the database first, so an album is fetched at most once however many
tasks ask for it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Any, cast

import redis

from app.config import setting
from app.extensions import available_redis, mark_redis_down, redis_key
from app.redis_lua import with_clock

log = logging.getLogger(__name__)

QUEUED = "queued"
FETCHING = "fetching:"  # followed by the holding worker's token
_LOCK_SUFFIX = ":fetch-lock"


def _namespace(prefix: str | None) -> str:
    """An explicit prefix (threads without an app context pass theirs), else the app's."""
    return redis_key("") if prefix is None else prefix


def _lock_prefix(prefix: str | None = None) -> str:
    return f"{_namespace(prefix)}album:"


def lock_key(album_id: int, prefix: str | None = None) -> str:
    return f"{_lock_prefix(prefix)}{album_id}{_LOCK_SUFFIX}"


def pending_key(prefix: str | None = None) -> str:
    """Albums queued for a fetch, scored by when (Redis clock, ms)."""
    return f"{_namespace(prefix)}fetch:pending"


def _lua(body: str) -> str:
    """A script with the lock's states filled in, and `now` (Redis clock) defined."""
    return with_clock(body.replace("$QUEUED", QUEUED).replace("$FETCHING", FETCHING))


# `held(value, mine)`: another worker's live lease.
_HELD = """
local function held(value, mine)
  return value and string.sub(value, 1, #'$FETCHING') == '$FETCHING' and value ~= mine
end
"""

# The web side: take the "queued" lock (NX, ARGV[2] s) and queue the album for a batch.
_MARK_QUEUED = _lua("""
if not redis.call('SET', KEYS[1], '$QUEUED', 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1])
return 1
""")

# Delete the lock only while it still says "queued": a worker may have taken the album
# meanwhile, and its lease must stay.
_DROP_QUEUED = _lua("""
if redis.call('GET', KEYS[1]) == '$QUEUED' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0
""")

# Take every album whose lock is free, queued, lapsed or already ours; skip albums
# another worker holds. Taken albums leave the batch queue.
_TAKE = _lua(
    _HELD
    + """
local mine = '$FETCHING' .. ARGV[1]
local taken = {}
for i = 1, #KEYS - 1 do
  if not held(redis.call('GET', KEYS[i]), mine) then
    redis.call('SET', KEYS[i], mine, 'PX', ARGV[2])
    redis.call('ZREM', KEYS[#KEYS], ARGV[i + 2])
    table.insert(taken, ARGV[i + 2])
  end
end
return taken
"""
)

# Pop the oldest ARGV[3] albums of the batch queue once that many are queued, or once
# the oldest has waited ARGV[4] ms and none arrived for ARGV[5] ms (tiles still scrolling
# in join the batch), or at the latest after ARGV[6] ms; then take them as _TAKE does.
# Lock keys are ARGV[7] .. id .. ARGV[8]. false = not yet.
_TAKE_OLDEST = _lua(
    _HELD
    + """
local n = tonumber(ARGV[3])
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #oldest == 0 then return {} end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local waited = now - tonumber(oldest[2])
local quiet = now - tonumber(newest[2])
if redis.call('ZCARD', KEYS[1]) < n
   and (waited < tonumber(ARGV[4]) or quiet < tonumber(ARGV[5]))
   and waited < tonumber(ARGV[6]) then
  return false
end
local popped = redis.call('ZPOPMIN', KEYS[1], n)
local mine = '$FETCHING' .. ARGV[1]
local taken = {}
for i = 1, #popped, 2 do
  local key = ARGV[7] .. popped[i] .. ARGV[8]
  if not held(redis.call('GET', key), mine) then
    redis.call('SET', key, mine, 'PX', ARGV[2])
    table.insert(taken, popped[i])
  end
end
return taken
"""
)

# Queue an album for the batch (ZADD NX, scored with Redis time) unless a worker holds it.
_QUEUE_UNLESS_HELD = _lua(
    _HELD
    + """
if held(redis.call('GET', KEYS[1]), '$FETCHING' .. ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1])
return 1
"""
)

# Renew (ARGV[2] = lease ms), release (ARGV[2] = 0) or hand back as queued for
# ARGV[3] ms (ARGV[2] = -1) the albums this worker still holds.
_UPDATE = _lua("""
local mine = '$FETCHING' .. ARGV[1]
local done = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == mine then
    local mode = tonumber(ARGV[2])
    if mode > 0 then
      redis.call('PEXPIRE', KEYS[i], mode)
    elseif mode == 0 then
      redis.call('DEL', KEYS[i])
    else
      redis.call('SET', KEYS[i], '$QUEUED', 'PX', ARGV[3])
    end
    done = done + 1
  end
end
return done
""")


def mark_queued(album_id: int) -> bool:
    """Take the album's "queued" lock; False when a fetch is already queued or running."""
    client = available_redis()
    if client is None:
        return False
    keys = [lock_key(album_id), pending_key()]
    try:
        reply = client.eval(_MARK_QUEUED, 2, *keys, album_id, setting("FETCH_LOCK_SECONDS"))  # pyright: ignore[reportUnknownMemberType]
    except redis.RedisError:
        mark_redis_down()
        return False  # no Redis means no broker either; the next poll tries again
    return bool(reply)


def drop_queued(
    album_id: int, prefix: str | None = None, client: redis.Redis | None = None
) -> None:
    """The task for this album could not be sent: let the next poll queue one."""
    client = client or available_redis()
    if client is None:
        return
    with contextlib.suppress(redis.RedisError):
        client.eval(_DROP_QUEUED, 2, lock_key(album_id, prefix), pending_key(prefix), album_id)  # pyright: ignore[reportUnknownMemberType]


class Claim:
    """The albums one task execution holds, with a thread that keeps their leases alive.

    Use as a context manager; whatever is still held at the end is released.
    """

    def __init__(
        self, client: redis.Redis, lease_seconds: float, queued_seconds: float, *, prefix: str
    ) -> None:
        self.token = uuid.uuid4().hex
        # The app's REDIS_PREFIX, held here: the renewing thread has no app context.
        self._prefix = prefix
        self.held: set[int] = set()
        self._redis = client
        self._lease_ms = max(100, int(lease_seconds * 1000))
        self._queued_ms = max(100, int(queued_seconds * 1000))
        self._take = client.register_script(_TAKE)
        self._take_oldest = client.register_script(_TAKE_OLDEST)
        self._queue_unless_held = client.register_script(_QUEUE_UNLESS_HELD)
        self._update = client.register_script(_UPDATE)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def take(self, album_ids: Iterable[int]) -> list[int]:
        """Hold these albums; returns the ones taken (others are another worker's)."""
        ids = list(dict.fromkeys(album_ids))
        if not ids:
            return []
        keys = [self._key(i) for i in ids] + [pending_key(self._prefix)]
        try:
            reply = cast(list[Any], self._take(keys=keys, args=[self.token, self._lease_ms, *ids]))
        except redis.RedisError:
            # Without Redis there is no single flight to keep; fetching is still right.
            log.warning("Redis unavailable: fetching albums %s without a lease", ids)
            reply = ids
        return self._hold(reply)

    def take_oldest(
        self, limit: int, fill_ms: int, quiet_ms: int, max_wait_ms: int
    ) -> list[int] | None:
        """Take up to `limit` of the oldest albums in the batch queue; None: wait to fill.

        The queue is popped once it holds `limit` albums, or its oldest has waited
        `fill_ms` and nothing was queued for `quiet_ms`, or after `max_wait_ms`.
        """
        args = [
            self.token, self._lease_ms, limit, fill_ms, quiet_ms, max_wait_ms,
            _lock_prefix(self._prefix), _LOCK_SUFFIX,
        ]  # fmt: skip
        reply = self._take_oldest(keys=[pending_key(self._prefix)], args=args)
        return None if reply is None else self._hold(cast(list[Any], reply))

    def queue_unless_held(self, album_id: int) -> bool:
        """Put this album in the batch queue; False when another worker holds it.

        One Lua call: checking and queueing apart would let an album that a batch just
        took come back into the queue, where it would crowd out albums still waiting.
        """
        keys = [self._key(album_id), pending_key(self._prefix)]
        return bool(self._queue_unless_held(keys=keys, args=[album_id, self.token]))

    def release(self, album_ids: Iterable[int]) -> None:
        """These albums are done: another task may queue them again."""
        self._finish(album_ids, 0, 0)

    def requeued(self, album_ids: Iterable[int], countdown: float) -> None:
        """These albums' tasks were queued again to run in `countdown` seconds.

        The lock reads "queued" until the task should have started, plus the usual
        grace; if that task is lost, the next poll queues another.
        """
        self._finish(album_ids, -1, int(countdown * 1000) + self._queued_ms)

    def hand_back_failed(self, album_id: int) -> None:
        """A hand-back whose task could not be sent: the next poll queues the album."""
        drop_queued(album_id, self._prefix, self._redis)

    def close(self) -> None:
        self._stop.set()
        self.release(list(self.held))
        if self._renewer is not None:
            self._renewer.join(timeout=1)

    def _key(self, album_id: int) -> str:
        return lock_key(album_id, self._prefix)

    def _hold(self, reply: list[Any]) -> list[int]:
        taken = [int(i) for i in reply]
        with self._lock:
            self.held.update(taken)
        self._start_renewing()
        return taken

    def _finish(self, album_ids: Iterable[int], mode: int, queued_ms: int) -> None:
        with self._lock:
            ids = [i for i in album_ids if i in self.held]
            self.held.difference_update(ids)
        if not ids:
            return
        try:
            self._update(keys=[self._key(i) for i in ids], args=[self.token, mode, queued_ms])
        except redis.RedisError:
            log.warning("could not update fetch locks of albums %s; they lapse by themselves", ids)

    def _start_renewing(self) -> None:
        if self._renewer is None and self.held:
            self._renewer = threading.Thread(
                target=self._renew_loop, name=f"claim-{self.token[:6]}", daemon=True
            )
            self._renewer.start()

    def _renew_loop(self) -> None:
        # Renew three times per lease: one missed beat (a GC pause, a slow Redis) is fine.
        while not self._stop.wait(self._lease_ms / 3000):
            with self._lock:
                ids = list(self.held)
            if not ids:
                continue
            try:
                self._update(keys=[self._key(i) for i in ids], args=[self.token, self._lease_ms, 0])
            except redis.RedisError:
                log.debug("lease renewal failed; retrying at the next beat")
