"""The simulator's switches and its record of calls (thread-safe)."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Mode = Literal["development", "extended"]
# Endpoint groups whose quota can run out on its own (`POST /_sim/quota` with a bucket).
Bucket = Literal["search", "albums", "tracks"]
BUCKETS: tuple[Bucket, ...] = ("search", "albums", "tracks")


@dataclass
class SimSettings:
    mode: Mode = "development"
    latency_ms: float = 0.0
    error_ratio: float = 0.0
    # Spotify's limit is a rolling 30 s window; None means no limit.
    window_seconds: float = 30.0
    window_limit: int | None = None
    missing_ids: set[str] = field(default_factory=lambda: set[str]())
    client_id: str = "sim-client"
    client_secret: str = "sim-secret"
    seed: int | None = None

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["missing_ids"] = sorted(self.missing_ids)
        return data


@dataclass(frozen=True)
class Call:
    at: float
    method: str
    path: str
    status: int


class SimState:
    def __init__(self, settings: SimSettings | None = None) -> None:
        self.settings = settings or SimSettings()
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.accepted: deque[float] = deque()
        self.throttle_until = 0.0
        self.quota_exhausted = False
        self.exhausted_buckets: set[Bucket] = set()
        self.tokens: set[str] = set()
        self.random = random.Random(self.settings.seed)

    def update(self, **changes: Any) -> None:
        with self.lock:
            for name, value in changes.items():
                if not hasattr(self.settings, name):
                    raise ValueError(f"unknown setting {name!r}")
                if name == "missing_ids":
                    value = set(value)
                setattr(self.settings, name, value)
            if "seed" in changes:
                self.random = random.Random(self.settings.seed)

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.accepted.clear()
            self.throttle_until = 0.0
            self.quota_exhausted = False
            self.exhausted_buckets.clear()

    def throttle(self, seconds: float) -> None:
        """Answer every API call with 429 for `seconds`."""
        with self.lock:
            self.throttle_until = time.monotonic() + seconds

    def set_quota(self, exhausted: bool, bucket: Bucket | None = None) -> None:
        """Exhaust (or restore) the whole daily quota, or only one endpoint group's."""
        with self.lock:
            if bucket is None:
                self.quota_exhausted = exhausted
            elif exhausted:
                self.exhausted_buckets.add(bucket)
            else:
                self.exhausted_buckets.discard(bucket)

    def record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.calls.append(Call(time.time(), method, path, status))

    def api_calls(self, prefix: str = "/v1/") -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path.startswith(prefix)]

    def rate_limit(self, bucket: Bucket | None = None) -> tuple[int, bool] | None:
        """(Retry-After seconds, quota exhausted) when this call must get a 429, else None.

        `bucket` is the endpoint group of the call. A call that is let through counts
        towards the rolling window.
        """
        now = time.monotonic()
        with self.lock:
            if self.quota_exhausted or (bucket is not None and bucket in self.exhausted_buckets):
                return 86_400, True
            if now < self.throttle_until:
                return max(1, math.ceil(self.throttle_until - now)), False
            window = self.settings.window_seconds
            while self.accepted and self.accepted[0] <= now - window:
                self.accepted.popleft()
            limit = self.settings.window_limit
            if limit is not None and len(self.accepted) >= limit:
                return max(1, math.ceil(self.accepted[0] + window - now)), False
            self.accepted.append(now)
            return None

    def should_fail(self) -> bool:
        with self.lock:
            return self.random.random() < self.settings.error_ratio
