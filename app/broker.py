"""Celery's Redis transport, made to outlive a Redis restart under a busy worker.

When the broker connection drops, kombu 5.7 closes the channel by first putting its
unacknowledged messages back (`QoS.restore_unacked`). With the threads pool, a task
thread acking at that moment races the close: the channel's connection is already
released, kombu raises AttributeError ("'NoneType' object has no attribute
'hostname'"), which is not a connection error, and the worker stops for good
("Unrecoverable error"). Measured: a Redis restart with ten fetches in flight left
both workers dead and 17 of 20 covers never fetched.

Putting those messages back is best effort anyway: every fetch is held by a lease and
queued again by the next poll (`app.cache.fetch_lock`), and a Redis that restarted
empty has lost the queue they were in. So a restore that finds its connection gone is
logged and skipped, and the consumer reconnects as after any lost connection. So is
the ack of a task that began before the drop and ends after the reconnect: its message
belongs to the old channel (it would raise the same AttributeError, in the event loop).
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis  # pyright: ignore[reportMissingTypeStubs]

log = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):  # pyright: ignore[reportUntypedBaseClass]
    """kombu's, except on a channel whose connection is gone (see the module)."""

    def ack(self, delivery_tag: Any) -> None:
        try:
            super().ack(delivery_tag)  # pyright: ignore[reportUnknownMemberType]
        except AttributeError:
            # A task that began before the connection dropped ends after the consumer
            # reconnected: its message belongs to the old channel, which cannot ack.
            log.info("ack of a message from a lost broker connection skipped")

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue)  # pyright: ignore[reportUnknownMemberType]
        except AttributeError:
            log.info("reject of a message from a lost broker connection skipped")

    def restore_unacked(self, client: Any = None) -> None:
        try:
            super().restore_unacked(client)  # pyright: ignore[reportUnknownMemberType]
        except AttributeError:
            delivered: Any = self._delivered  # pyright: ignore[reportUnknownMemberType]
            log.warning(
                "broker connection gone: %d unacknowledged message(s) not restored; "
                "their albums are queued again by the next poll",
                len(delivered),
            )
            delivered.clear()


class Channel(kombu_redis.Channel):  # pyright: ignore[reportUntypedBaseClass]
    QoS = QoS


class Transport(kombu_redis.Transport):  # pyright: ignore[reportUntypedBaseClass]
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"  # Celery's `broker_transport` for redis:// URLs
