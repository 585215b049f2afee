"""The shared Spotify circuit (`app.spotify.circuit`): while Spotify fails, one probe at a
time, paced by how long it has been failing, so an outage cannot spend the day's budget."""

from __future__ import annotations

import time

import pytest
import redis

from app.spotify.circuit import PROBE_MAX_SECONDS, Circuit
from app.spotify.limiter import LimiterBusyError


@pytest.fixture
def circuit(any_redis: redis.Redis) -> Circuit:
    return Circuit(any_redis, namespace="t:", failures=3, seconds=30)


def open_it(circuit: Circuit) -> None:
    for _ in range(3):
        assert circuit.allow() is False  # closed: calls go, none is a probe
        circuit.failed(probe=False)
    assert circuit.is_open()


def test_a_failed_probe_keeps_the_way_shut_until_its_pause_is_over(circuit: Circuit) -> None:
    open_it(circuit)
    assert circuit.allow() is True  # the first probe
    circuit.failed(probe=True)

    # Back to back, the albums waiting in an outage probed as fast as they were retried.
    with pytest.raises(LimiterBusyError):
        circuit.allow()
    time.sleep(1.1)  # the shortest pause
    assert circuit.allow() is True
    assert circuit.is_open()


def test_the_pause_grows_with_the_outage_and_has_a_ceiling(
    circuit: Circuit, any_redis: redis.Redis
) -> None:
    open_it(circuit)
    assert circuit.probe_pause() == 1.0
    any_redis.set(circuit.since_key, str(time.time() - 600))  # failing for ten minutes
    assert circuit.probe_pause() == pytest.approx(30, abs=0.5)
    any_redis.set(circuit.since_key, str(time.time() - 86_400))
    assert circuit.probe_pause() == PROBE_MAX_SECONDS
    # The circuit stays open at least until the next probe may go.
    assert circuit.allow() is True
    circuit.failed(probe=True)
    assert int(any_redis.ttl(circuit.open_key)) >= PROBE_MAX_SECONDS  # pyright: ignore[reportArgumentType]


def test_a_probe_that_succeeds_closes_the_circuit_and_forgets_the_outage(
    circuit: Circuit, any_redis: redis.Redis
) -> None:
    open_it(circuit)
    any_redis.set(circuit.since_key, str(time.time() - 600))
    assert circuit.allow() is True
    circuit.succeeded(probe=True)

    assert not circuit.is_open()
    assert circuit.allow() is False  # every call goes again
    open_it(circuit)  # a new outage starts from the shortest pause
    assert circuit.probe_pause() == 1.0
