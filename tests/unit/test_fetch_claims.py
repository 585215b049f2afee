"""Fetch locks: one worker per album, leases that lapse when a worker dies, hand-backs."""

from __future__ import annotations

import time

import pytest
import redis

from app import create_app
from app.cache.fetch_lock import Claim, lock_key, newest_key, pending_key, take_newest
from app.config import TestConfig
from worker.batch import _hand_back  # pyright: ignore[reportPrivateUsage]
from worker.failures import transient_backoff


@pytest.fixture
def client(any_redis: redis.Redis) -> redis.Redis:
    """fakeredis and the real server (the `any_redis` fixture)."""
    return any_redis


NS = "claims-test:"  # a REDIS_PREFIX, as the worker passes its app's


def lock(client: redis.Redis, album_id: int) -> str | None:
    value = client.get(lock_key(album_id, NS))
    return value.decode() if isinstance(value, bytes) else None


def test_an_album_queued_by_a_viewer_is_taken_and_leaves_the_batch_queue(
    client: redis.Redis,
) -> None:
    client.set(lock_key(1, NS), "queued", ex=10)
    client.zadd(pending_key(NS), {"1": 1.0, "2": 2.0})
    with Claim(client, lease_seconds=5, queued_seconds=10, prefix=NS) as claim:
        assert claim.take([1]) == [1]
        assert lock(client, 1) == f"fetching:{claim.token}"
        assert client.zrange(pending_key(NS), 0, -1) == [b"2"]
    assert lock(client, 1) is None  # done: the next viewer may queue it again


def test_an_album_another_worker_fetches_is_left_alone(client: redis.Redis) -> None:
    with Claim(client, 5, 10, prefix=NS) as first, Claim(client, 5, 10, prefix=NS) as second:
        assert first.take([1, 2]) == [1, 2]
        assert second.take([2, 3]) == [3]
        second.release([2])  # not second's to release
        assert lock(client, 2) == f"fetching:{first.token}"


def test_a_lease_is_renewed_while_the_worker_lives(client: redis.Redis) -> None:
    with Claim(client, lease_seconds=0.3, queued_seconds=10, prefix=NS) as claim:
        claim.take([1])
        time.sleep(0.8)  # well past one lease: only renewals keep it
        assert lock(client, 1) == f"fetching:{claim.token}"


def test_a_dead_workers_lease_lapses_so_the_album_can_be_queued_again(
    client: redis.Redis,
) -> None:
    dead = Claim(client, lease_seconds=0.3, queued_seconds=10, prefix=NS)
    dead.take([1])
    dead._stop.set()  # pyright: ignore[reportPrivateUsage]  # the process died: no renewals
    time.sleep(0.5)
    assert lock(client, 1) is None
    assert client.set(lock_key(1, NS), "queued", nx=True, ex=10)  # the next poll's enqueue


def test_a_requeued_album_reads_queued_until_its_task_is_due(client: redis.Redis) -> None:
    with Claim(client, lease_seconds=5, queued_seconds=10, prefix=NS) as claim:
        claim.take([1])
        claim.requeued([1], countdown=30)
        assert lock(client, 1) == "queued"
        assert 39_000 < int(client.pttl(lock_key(1, NS))) <= 40_000  # pyright: ignore[reportArgumentType]
    assert lock(client, 1) == "queued"  # closing the claim does not drop the hand-back


def test_a_lapsed_queued_lock_can_be_taken_by_a_late_task(client: redis.Redis) -> None:
    with Claim(client, 5, 10, prefix=NS) as claim:
        assert claim.take([7]) == [7]  # no lock at all: the task still fetches


def test_transient_failures_back_off_from_half_a_second_to_two_with_jitter() -> None:
    # Soon, well under a tile's patience: a longer outage opens the shared circuit, and
    # albums then wait for its probe, not for their own backoff (worker.fetch).
    app = create_app(TestConfig())
    with app.app_context():
        waits = [[transient_backoff(n) for n in range(1, 11)] for _ in range(20)]
    firsts = [run[0] for run in waits]
    assert all(0.5 <= w <= 1 for w in firsts)  # base 0.5 s plus up to 0.5 s of jitter
    assert len({round(w, 3) for w in firsts}) > 1  # jittered: albums do not retry together
    for run in waits:
        assert run[1] >= 1  # 0.5, 1, 2, ...
        assert all(2 <= w <= 2.5 for w in run[2:])  # capped at 2 s: a tile never waits long
    assert 15 < sum(waits[0][:9]) < 22  # ten tries span about twenty seconds


def test_a_handed_back_album_can_be_taken_by_its_new_task_at_once(client: redis.Redis) -> None:
    batch = Claim(client, lease_seconds=5, queued_seconds=10, prefix=NS)
    batch.take([1])
    taken_by_new_task: list[int] = []

    def send_and_start_at_once(album_id: int, _requested_at: float, _countdown: float) -> bool:
        # The new task starts before the hand-back returns, as a free thread would.
        taken_by_new_task.extend(Claim(client, 5, 10, prefix=NS).take([album_id]))
        return True

    _hand_back(batch, {1: "spotify-id"}, 0, send_and_start_at_once)

    assert taken_by_new_task == [1]  # not refused by the old worker's lease
    batch.close()
    assert (lock(client, 1) or "").startswith("fetching:")  # the new task's lease stays


def test_first_tries_fetch_the_newest_queued_album_and_leave_none_behind(
    client: redis.Redis,
) -> None:
    """The interactive queue runs oldest first; a visitor scrolling on wants the tiles
    on screen now. Each first try takes the newest queued album, every album once."""
    for album_id in (1, 2, 3, 4):
        client.set(lock_key(album_id, NS), "queued", ex=10)
    now_ms = time.time() * 1000
    client.zadd(newest_key(NS), {str(i): now_ms - 1000 + i for i in (1, 2, 3, 4)})
    client.zadd(newest_key(NS), {"9": now_ms - 3_600_000})  # an hour old: nobody waits
    client.delete(lock_key(2, NS))  # 2 was fetched meanwhile by a promotion: skipped
    # Tasks run in the order their messages were sent: 1, 2, 3, 4.
    fetched = [take_newest(client, own, NS) for own in (1, 2, 3, 4)]
    # The last task finds the set empty: the first task took its album, nothing to do.
    assert fetched == [4, 3, 1, 0]
    assert client.zcard(newest_key(NS)) == 0


def test_a_first_try_never_cuts_short_the_backoff_of_its_own_album(
    client: redis.Redis,
) -> None:
    """Another first try took album 1 and failed: 1 is queued again after a backoff.
    Its own first-try task, starting late, must not fetch it before the backoff ends."""
    client.set(lock_key(1, NS), "queued", px=500)  # re-queued for a retry in 0.4 s
    assert take_newest(client, 1, NS) == 0
    # With the set lost (a Redis restart, no lock either) a task fetches its own album.
    client.delete(lock_key(1, NS))
    assert take_newest(client, 1, NS) == 1
