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


def newest_key(prefix: str | None = None) -> str:
    """Visitors' first tries in the interactive lane, scored by when they were queued
    (Redis clock, ms): a task starting takes the newest (`take_newest`)."""
    return f"{_namespace(prefix)}fetch:interactive"


def asks_key(album_id: int, prefix: str | None = None) -> str:
    """How many times the album was asked for since its fetch was queued (1: only the
    first ask; 2 or more: a viewer is polling it)."""
    return f"{_lock_prefix(prefix)}{album_id}:asks"


def deferred_key(album_id: int, prefix: str | None = None) -> str:
    """Set while the album's first, sparing try waits for a viewer's poll: the poll then
    sends a task at once (`mark_queued` answers PROMOTE)."""
    return f"{_lock_prefix(prefix)}{album_id}:deferred"


def viewed_key(album_id: int, prefix: str | None = None) -> str:
    """Set for a few seconds after a page showed the album's tile (or its page)."""
    return f"{_lock_prefix(prefix)}{album_id}:viewed"


VIEWED_SECONDS = 10  # a page's tiles ask for their covers within this


def mark_viewed(album_ids: list[int]) -> None:
    """A page showed these albums waiting for their covers: a visitor is looking, so
    their first fetch is made at once, like a polled one (not sparing)."""
    client = available_redis()
    if client is None or not album_ids:
        return
    try:
        pipe = client.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
        for album_id in album_ids:
            pipe.set(viewed_key(album_id), 1, ex=VIEWED_SECONDS)
        pipe.execute()
    except redis.RedisError:
        mark_redis_down()


def wanted_key(prefix: str | None = None) -> str:
    """Album -> when someone last asked for it (a poll, a view; Redis clock, ms)."""
    return f"{_namespace(prefix)}fetch:wanted"


def client_key(client: str, prefix: str | None = None) -> str:
    """Albums one client asked for lately (its outstanding misses), by when."""
    return f"{_namespace(prefix)}fetch:client:{client}"


def _lua(body: str) -> str:
    """A script with the lock's states filled in, and `now` (Redis clock) defined."""
    return with_clock(body.replace("$QUEUED", QUEUED).replace("$FETCHING", FETCHING))


# `held(value, mine)`: another worker's live lease.
_HELD = """
local function held(value, mine)
  return value and string.sub(value, 1, #'$FETCHING') == '$FETCHING' and value ~= mine
end
"""

# The web side: the album is wanted now (KEYS[3], pruned of marks older than ARGV[3] ms);
# take the "queued" lock (NX, ARGV[2] s) and queue the album for a batch.
# KEYS[4] counts the asks since it was queued (a new queue starts it at 1); a deferred
# first try (KEYS[5]) is promoted by the next ask: 2.
_MARK_QUEUED = _lua("""
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[3]))
if not redis.call('SET', KEYS[1], '$QUEUED', 'NX', 'EX', ARGV[2]) then
  redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], 60)
  if redis.call('DEL', KEYS[5]) == 1 then return 2 end
  return 0
end
redis.call('SET', KEYS[4], 1, 'EX', 60)
redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1])
return 1
""")

# Whether someone asked for the album within ARGV[2] ms.
_WANTED = _lua("""
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
return (at and now - tonumber(at) <= tonumber(ARGV[2])) and 1 or 0
""")

# A client's misses of the last ARGV[3] ms, this one (ARGV[1]) included: how many are
# still outstanding (their fetch lock, ARGV[4] .. id .. ARGV[5], still held).
_CLIENT_MISSES = _lua("""
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local outstanding = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[4] .. id .. ARGV[5]) == 1 then
    outstanding = outstanding + 1
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return outstanding
""")
WANTED_KEEP_MS = 600_000  # marks older than this are pruned (nobody waits 10 minutes)

# Newest first: the interactive queue is a Celery list (oldest first), so each first-try
# task fetches the album queued last whose lock still says "queued" (what is on screen
# now), leaving its own album in the set for a later first try: every first try takes
# one entry, so none is left behind. Entries no longer queued (fetched by a promotion,
# a lapsed lock) or older than ARGV[2] ms are dropped on the way. With the set empty,
# another first try took this task's own album: 0 (nothing to do) while its lock still
# says "queued" (that task holds it, or re-queued it after a failure with a backoff that
# must not be cut short), else ARGV[1] (its own album: the set was lost, a Redis restart).
_TAKE_NEWEST = _lua("""
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
while true do
  local top = redis.call('ZPOPMAX', KEYS[1])
  if #top == 0 then
    if redis.call('GET', ARGV[3] .. ARGV[1] .. ARGV[4]) == '$QUEUED' then return 0 end
    return tonumber(ARGV[1])
  end
  if redis.call('GET', ARGV[3] .. top[1] .. ARGV[4]) == '$QUEUED' then
    return tonumber(top[1])
  end
end
""")
NEWEST_KEEP_MS = 600_000


# Delete the lock only while it still says "queued": a worker may have taken the album
# meanwhile, and its lease must stay.
_DROP_QUEUED = _lua("""
if redis.call('GET', KEYS[1]) == '$QUEUED' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
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


# What `mark_queued` answers.
TAKEN, HELD, PROMOTE = 1, 0, 2


def mark_queued(album_id: int) -> int:
    """Someone wants this album now; take its "queued" lock.

    TAKEN: queue a fetch. HELD: one is queued or running already (the ask still counts:
    the fetch is still wanted). PROMOTE: its first try waits for a poll, and this is
    it: send a task now (the lock stays as it is)."""
    client = available_redis()
    if client is None:
        return HELD
    keys = [
        lock_key(album_id), pending_key(), wanted_key(), asks_key(album_id),
        deferred_key(album_id),
    ]  # fmt: skip
    lock_seconds = setting("FETCH_LOCK_SECONDS")
    try:
        reply = client.eval(_MARK_QUEUED, 5, *keys, album_id, lock_seconds, WANTED_KEEP_MS)  # pyright: ignore[reportUnknownMemberType]
    except redis.RedisError:
        mark_redis_down()
        return HELD  # no Redis means no broker either; the next poll tries again
    return int(cast(int, reply))


# Defer (KEYS[1], ARGV[1] ms) unless asked again meanwhile (KEYS[2] >= 2) or viewed
# (KEYS[3]): then 0.
_DEFER = """
if tonumber(redis.call('GET', KEYS[2]) or '0') >= 2 then return 0 end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('SET', KEYS[1], 1, 'PX', ARGV[1])
return 1
"""


def defer_first_try(client: redis.Redis, album_id: int, seconds: float, prefix: str) -> bool:
    """The first try found no token to spare: the viewer's next ask promotes it. False
    when that ask came already (go on at once, as for any polled album)."""
    keys = [
        deferred_key(album_id, prefix),
        asks_key(album_id, prefix),
        viewed_key(album_id, prefix),
    ]
    return bool(client.eval(_DEFER, 3, *keys, max(1, int(seconds * 1000))))  # pyright: ignore[reportUnknownMemberType]


def fetch_scheduled(album_id: int) -> bool:
    """Whether a fetch of this album is queued or running (its lock is held)."""
    client = available_redis()
    if client is None:
        return False
    try:
        return bool(client.exists(lock_key(album_id)))
    except redis.RedisError:
        mark_redis_down()
        return False


def client_misses(client_id: str, album_id: int, window_seconds: float) -> int:
    """Count this miss for its client; how many of its misses are still outstanding
    (queued or being fetched), this one included."""
    client = available_redis()
    if client is None:
        return 0
    args = [album_id, 0, int(window_seconds * 1000), _lock_prefix(), _LOCK_SUFFIX]
    try:
        reply = client.eval(_CLIENT_MISSES, 1, client_key(client_id), *args)  # pyright: ignore[reportUnknownMemberType]
    except redis.RedisError:
        mark_redis_down()
        return 0
    return int(cast(int, reply))


def asked_again(client: redis.Redis, album_id: int, prefix: str) -> bool:
    """Whether a visitor is looking: a page showed the album just now, or someone asked
    for it again since its fetch was queued (a polling tile does within a quarter of a
    second; a script that asks once never does)."""
    asks, viewed = cast(
        list[bytes | None], client.mget([asks_key(album_id, prefix), viewed_key(album_id, prefix)])
    )
    return viewed is not None or int(asks or 0) >= 2


def queue_first_try(album_id: int) -> None:
    """A visitor's first try goes to the interactive lane: it joins the newest-first set."""
    client = available_redis()
    if client is None:
        return
    try:
        client.eval(_ADD_NOW, 1, newest_key(), album_id)  # pyright: ignore[reportUnknownMemberType]
    except redis.RedisError:
        mark_redis_down()


_ADD_NOW = with_clock("redis.call('ZADD', KEYS[1], now, ARGV[1])")


def take_newest(client: redis.Redis, album_id: int, prefix: str) -> int:
    """The album a first-try task for `album_id` should fetch: the newest still queued
    (0: none, another task has its own album)."""
    args = [album_id, NEWEST_KEEP_MS, _lock_prefix(prefix), _LOCK_SUFFIX]
    return int(cast(int, client.eval(_TAKE_NEWEST, 1, newest_key(prefix), *args)))  # pyright: ignore[reportUnknownMemberType]


def is_wanted(client: redis.Redis, album_id: int, within_seconds: float, prefix: str) -> bool:
    """Whether anyone asked for this album (polled it, viewed it) within the window."""
    args = [album_id, int(within_seconds * 1000)]
    return bool(client.eval(_WANTED, 1, wanted_key(prefix), *args))  # pyright: ignore[reportUnknownMemberType]


def drop_queued(
    album_id: int, prefix: str | None = None, client: redis.Redis | None = None
) -> None:
    """The task for this album could not be sent: let the next poll queue one."""
    client = client or available_redis()
    if client is None:
        return
    with contextlib.suppress(redis.RedisError):
        keys = [lock_key(album_id, prefix), pending_key(prefix), newest_key(prefix)]
        client.eval(_DROP_QUEUED, 3, *keys, album_id)  # pyright: ignore[reportUnknownMemberType]


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
