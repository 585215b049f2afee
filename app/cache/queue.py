"""Single flight on the read side: one queued fetch per album, however many viewers.

`mark_queued` takes the album's short "queued" lock and puts it in the batch queue;
the worker package sends the task (`worker.queue.enqueue_fetch`). If the task is lost
the lock lapses after FETCH_LOCK_SECONDS and the next poll queues another.
"""

from __future__ import annotations

import contextlib

import redis

from app.cache.keys import QUEUE_SCRIPT, lock_key, pending_key
from app.config import setting
from app.extensions import available_redis, mark_redis_down

# Delete the lock only while it still says "queued": a worker may have taken the album
# meanwhile, and its lease must stay.
_DROP_QUEUED = """
if redis.call('GET', KEYS[1]) == 'queued' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


def mark_queued(album_id: int) -> bool:
    """Take the album's "queued" lock; False when a fetch is already queued or running."""
    client = available_redis()
    if client is None:
        return False
    try:
        if not client.set(lock_key(album_id), "queued", nx=True, ex=setting("FETCH_LOCK_SECONDS")):
            return False
        client.eval(QUEUE_SCRIPT, 1, pending_key(), album_id)
    except redis.RedisError:
        mark_redis_down()
        return False  # no Redis means no broker either; the next poll tries again
    return True


def drop_queued_lock(album_id: int) -> None:
    """The task for this album could not be sent: let the next poll queue one."""
    client = available_redis()
    if client is None:
        return
    with contextlib.suppress(redis.RedisError):
        client.eval(_DROP_QUEUED, 2, lock_key(album_id), pending_key(), album_id)
