"""The broker transport (`app.broker`): a worker outlives a lost Redis connection.

kombu closes a lost connection's channel by restoring its unacknowledged messages, and
a task that began before the drop acks on that old channel after the reconnect; both
found the connection released and raised AttributeError, which stopped the worker for
good ("Unrecoverable error": the healing benchmark's Redis restart left both workers
dead). Real Redis, kombu's own machinery, the connection released as the drop leaves it.
"""

from __future__ import annotations

from typing import Any

import pytest
from kombu import Connection  # pyright: ignore[reportMissingTypeStubs]
from kombu.transport import redis as kombu_redis  # pyright: ignore[reportMissingTypeStubs]

from app.broker import TRANSPORT
from tests.services import redis_url

pytestmark = pytest.mark.redis


def unacked_message(transport: Any) -> tuple[Any, Any]:
    """A channel holding one delivered, unacknowledged message, then its connection
    released as a dropped broker connection leaves it."""
    connection: Any = Connection(redis_url(), transport=transport)
    channel: Any = connection.channel()
    queue: Any = connection.SimpleQueue("broker-test", channel=channel)
    queue.put({"album": 1})
    message = queue.get(timeout=2)
    connection._transport.client = None  # pyright: ignore[reportPrivateUsage]  # what the drop does
    channel._pool = None  # pyright: ignore[reportPrivateUsage]
    return channel, message


def test_kombus_own_transport_raises_what_killed_the_worker() -> None:
    channel, message = unacked_message(kombu_redis.Transport)
    with pytest.raises(AttributeError):
        message.ack()
    with pytest.raises(AttributeError):
        channel.qos.restore_unacked()
    channel.qos._delivered.clear()  # pyright: ignore[reportPrivateUsage]  # nor at exit


def test_a_lost_connections_ack_and_restore_are_skipped_not_fatal() -> None:
    channel, message = unacked_message(TRANSPORT)
    message.ack()  # an old channel's ack after the reconnect: skipped
    channel.qos.restore_unacked()  # closing the lost connection: nothing to put back
    assert not channel.qos._delivered  # pyright: ignore[reportPrivateUsage]
