"""`GET /metrics`: Prometheus text built from the shared counters and album counts."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from app.ops.counters import LIMITER_WAIT_SECONDS, RATE_LIMITED
from app.ops.report import CacheStats, collect

bp = Blueprint("metrics", __name__)
PREFIX = "album_catalog"


class CacheCollector(Collector):
    """Reads the counters at scrape time; nothing is kept in this process."""

    def __init__(self, found: CacheStats) -> None:
        self.found = found

    def collect(self) -> Iterator[Metric]:
        counts = self.found.albums
        albums = GaugeMetricFamily(
            f"{PREFIX}_albums", "Albums by Spotify cache state", labels=["state"]
        )
        for state, value in (
            ("cover_cached", counts.cover_cached),
            ("metadata_cached", counts.metadata_cached),
            ("not_fetched", counts.not_fetched),
            ("not_found", counts.not_found),
            ("failing", counts.failing),
            ("no_spotify", counts.no_spotify),
        ):
            albums.add_metric([state], value)
        yield albums

        lookups = CounterMetricFamily(
            f"{PREFIX}_cache_lookups", "Cover/metadata lookups by layer", labels=["layer", "kind"]
        )
        for layer, kind, value in self.found.counters.lookups_by_kind():
            lookups.add_metric([layer, kind], value)
        yield lookups
        calls = CounterMetricFamily(
            f"{PREFIX}_spotify_calls", "Spotify HTTP calls by outcome", labels=["outcome"]
        )
        for outcome, value in self.found.counters.spotify_calls().items():
            calls.add_metric([outcome], value)
        yield calls
        yield CounterMetricFamily(
            f"{PREFIX}_spotify_rate_limited",
            "429 answers from Spotify",
            value=self.found.counters.get(RATE_LIMITED),
        )
        yield CounterMetricFamily(
            f"{PREFIX}_limiter_wait_seconds",
            "Time workers spent waiting for the global limiter",
            value=self.found.counters.get(LIMITER_WAIT_SECONDS),
        )
        depth = GaugeMetricFamily(
            f"{PREFIX}_lane_queued", "Fetch tasks waiting in each lane", labels=["lane"]
        )
        for lane, value in self.found.queue_depths.items():
            depth.add_metric([lane], value)
        yield depth
        tokens = CounterMetricFamily(
            f"{PREFIX}_lane_calls", "Limiter tokens spent by each lane", labels=["lane"]
        )
        for lane, value in self.found.counters.lane_calls().items():
            tokens.add_metric([lane], value)
        yield tokens
        run = self.found.run
        progress = GaugeMetricFamily(
            f"{PREFIX}_background_run_albums", "The background refresh by state", labels=["state"]
        )
        for state, value in (
            ("total", run.total if run else 0),
            ("done", run.done if run else 0),
            ("remaining", run.remaining if run else 0),
        ):
            progress.add_metric([state], value)
        yield progress
        yield GaugeMetricFamily(
            f"{PREFIX}_redis_up",
            "1 when the counters could be read",
            value=int(self.found.redis_ok),
        )


@bp.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CacheCollector(collect()))
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
