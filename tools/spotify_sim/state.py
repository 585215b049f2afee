"""The simulator's switches and its record of calls (thread-safe)."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tools.sim_common import Call, WindowState

__all__ = ["BUCKETS", "Bucket", "Call", "Mode", "SimSettings", "SimState"]

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


class SimState(WindowState[SimSettings]):
    """The common state plus Spotify's daily quota (whole or per endpoint group) and tokens."""

    def __init__(self, settings: SimSettings | None = None) -> None:
        super().__init__(settings or SimSettings())
        self.quota_exhausted = False
        self.exhausted_buckets: set[Bucket] = set()
        self.tokens: set[str] = set()

    def _setting(self, name: str, value: Any) -> Any:
        return set(value) if name == "missing_ids" else value

    def _cleared(self) -> None:
        super()._cleared()
        self.quota_exhausted = False
        self.exhausted_buckets.clear()

    def set_quota(self, exhausted: bool, bucket: Bucket | None = None) -> None:
        """Exhaust (or restore) the whole daily quota, or only one endpoint group's."""
        with self.lock:
            if bucket is None:
                self.quota_exhausted = exhausted
            elif exhausted:
                self.exhausted_buckets.add(bucket)
            else:
                self.exhausted_buckets.discard(bucket)

    def api_calls(self, prefix: str = "/v1/") -> list[Call]:
        return super().api_calls(prefix)

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
            settings = self.settings
            wait = self._take_slot(now, settings.window_seconds, settings.window_limit)
            return None if wait is None else (max(1, math.ceil(wait)), False)
