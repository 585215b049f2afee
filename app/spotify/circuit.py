"""A shared circuit for Spotify calls: when most recent calls fail, stop and probe.

Every worker on every machine reads the same Redis keys. After CIRCUIT_FAILURES
transient failures in a row (5xx, timeouts) the circuit opens: calls wait instead of
failing (a short `LimiterBusyError`, re-queued in about a second, never counted as a
failure of the album), and one call at a time is let through as a probe. The first
probe that succeeds closes the circuit, so everything queued resumes at once when
Spotify is back; a failed probe keeps it open.
"""

from __future__ import annotations

import random

import redis

from app.spotify.limiter import LimiterBusyError

PROBE_MS = 5_000  # a probe that never reports back frees the way after this
WAIT_SECONDS = 1.0  # how soon a call held back by an open circuit tries again


class Circuit:
    def __init__(
        self, client: redis.Redis, *, namespace: str, failures: int, seconds: float
    ) -> None:
        self.redis = client
        self.failures = max(1, failures)
        self.seconds = seconds
        base = f"{namespace}spotify:circuit:"
        self.open_key, self.count_key, self.probe_key = (
            base + "open",
            base + "failures",
            base + "probe",
        )

    def is_open(self) -> bool:
        return bool(self.redis.exists(self.open_key))

    def allow(self) -> bool:
        """True for a call that may go; raises LimiterBusyError while the circuit is open
        and another call is the probe. Returns whether this call is the probe."""
        if not self.redis.exists(self.open_key):
            return False
        if self.redis.set(self.probe_key, "1", nx=True, px=PROBE_MS):
            return True
        raise LimiterBusyError(WAIT_SECONDS + random.uniform(0, 0.5), "circuit")

    def release_probe(self) -> None:
        self.redis.delete(self.probe_key)

    def succeeded(self, probe: bool) -> None:
        """A call answered: the circuit closes (after a probe) and the count restarts."""
        pipe = self.redis.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
        pipe.delete(self.count_key)
        if probe:
            pipe.delete(self.open_key, self.probe_key)
        pipe.execute()

    def failed(self, probe: bool) -> bool:
        """A transient failure; True when the circuit is (now) open."""
        pipe = self.redis.pipeline(transaction=True)  # pyright: ignore[reportUnknownMemberType]
        pipe.incr(self.count_key)
        pipe.expire(self.count_key, int(self.seconds) + 1)
        count = int(pipe.execute()[0])
        if probe or count >= self.failures:
            self.redis.set(self.open_key, "1", ex=max(1, int(self.seconds)))
            if probe:
                self.redis.delete(self.probe_key)
            return True
        return False
