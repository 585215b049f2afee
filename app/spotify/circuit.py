"""A shared circuit for Spotify calls: when most recent calls fail, stop and probe.

Every worker on every machine reads the same Redis keys. After CIRCUIT_FAILURES
transient failures in a row (5xx, timeouts) the circuit opens: calls wait instead of
failing (a short `LimiterBusyError`, re-queued in about a second, never counted as a
failure of the album), and one call at a time is let through as a probe. The first
probe that succeeds closes the circuit, so everything queued resumes at once when
Spotify is back; a failed probe keeps it open.

Probes are paced: the next one goes a twentieth of the time Spotify has been failing
after the last (at least PROBE_MIN_SECONDS, at most PROBE_MAX_SECONDS). Back to back,
the albums waiting during a 35-second outage made 500 probes, the whole daily budget of
a development-mode app; paced, that outage costs about 30 calls, an hour about 130 and a
whole day about 400, and Spotify's return is noticed within a twentieth of the outage's
length (five minutes at most).
"""

from __future__ import annotations

import random
import time

import redis

from app.spotify.limiter import LimiterBusyError

PROBE_MS = 5_000  # a probe that never reports back frees the way after this
PROBE_FRACTION = 20  # the next probe waits 1/20 of how long the outage has lasted
PROBE_MIN_SECONDS = 1.0
PROBE_MAX_SECONDS = 300.0
SINCE_TTL_SECONDS = 86_400
WAIT_SECONDS = 1.0  # how soon a call held back by an open circuit tries again


class Circuit:
    def __init__(
        self, client: redis.Redis, *, namespace: str, failures: int, seconds: float
    ) -> None:
        self.redis = client
        self.failures = max(1, failures)
        self.seconds = seconds
        base = f"{namespace}spotify:circuit:"
        self.open_key, self.count_key, self.probe_key, self.since_key = (
            base + "open",
            base + "failures",
            base + "probe",
            base + "failing-since",  # when the circuit opened (epoch seconds)
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
        pipe.delete(self.count_key, self.since_key)
        if probe:
            pipe.delete(self.open_key, self.probe_key)
        pipe.execute()

    def probe_pause(self) -> float:
        """Seconds before the next probe: a twentieth of how long Spotify has been failing."""
        raw = self.redis.get(self.since_key)
        try:
            failing_for = time.time() - float(raw) if isinstance(raw, bytes) else 0.0
        except ValueError:
            failing_for = 0.0
        return min(PROBE_MAX_SECONDS, max(PROBE_MIN_SECONDS, failing_for / PROBE_FRACTION))

    def failed(self, probe: bool) -> bool:
        """A transient failure; True when the circuit is (now) open."""
        pipe = self.redis.pipeline(transaction=True)  # pyright: ignore[reportUnknownMemberType]
        pipe.incr(self.count_key)
        pipe.expire(self.count_key, int(self.seconds) + 1)
        count = int(pipe.execute()[0])
        if not (probe or count >= self.failures):
            return False
        self.redis.set(self.since_key, str(time.time()), nx=True, ex=SINCE_TTL_SECONDS)
        pause = self.probe_pause() if probe else 0.0
        # Open at least until the next probe may go, so no gap lets every call through.
        self.redis.set(self.open_key, "1", ex=max(1, int(self.seconds), int(pause) + 5))
        if probe:
            # The way stays shut for the pause: the next probe goes after it.
            self.redis.set(self.probe_key, "paused", px=max(1, int(pause * 1000)))
        return True
