"""`GET /metrics`: Prometheus text built from the shared counters and album counts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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
        counts, counters, run = self.found.albums, self.found.counters, self.found.run
        yield _by_label(
            GaugeMetricFamily,
            "albums",
            "Albums by Spotify cache state",
            "state",
            [
                ("cover_cached", counts.cover_cached),
                ("metadata_cached", counts.metadata_cached),
                ("not_fetched", counts.not_fetched),
                ("not_found", counts.not_found),
                ("failing", counts.failing),
                ("no_spotify", counts.no_spotify),
            ],
        )
        sources = self.found.sources
        yield _by_label(
            GaugeMetricFamily,
            "covers_by_source",
            "Cached covers by the source they came from",
            "source",
            sources.covers.items(),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_spotify_matches",
            "Albums given a Spotify id by search",
            value=sources.spotify_matches,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_no_cover_anywhere",
            "Albums no source has a cover for",
            value=sources.no_cover_anywhere,
        )
        calls = CounterMetricFamily(
            f"{PREFIX}_source_calls",
            "Calls to cover sources other than Spotify's album lookup, by outcome",
            labels=["source", "outcome"],
        )
        for source, outcomes in counters.source_calls().items():
            for outcome, value in outcomes.items():
                calls.add_metric([source, outcome], value)
        yield calls
        lookups = CounterMetricFamily(
            f"{PREFIX}_cache_lookups", "Cover/metadata lookups by layer", labels=["layer", "kind"]
        )
        for layer, kind, value in counters.lookups_by_kind():
            lookups.add_metric([layer, kind], value)
        yield lookups
        yield _by_label(
            CounterMetricFamily,
            "spotify_calls",
            "Spotify HTTP calls by outcome",
            "outcome",
            counters.spotify_calls().items(),
        )
        yield CounterMetricFamily(
            f"{PREFIX}_spotify_rate_limited",
            "429 answers from Spotify",
            value=counters.get(RATE_LIMITED),
        )
        yield CounterMetricFamily(
            f"{PREFIX}_limiter_wait_seconds",
            "Time workers spent waiting for the global limiter",
            value=counters.get(LIMITER_WAIT_SECONDS),
        )
        yield _by_label(
            GaugeMetricFamily,
            "lane_queued",
            "Fetch tasks waiting in each lane",
            "lane",
            self.found.queue_depths.items(),
        )
        yield _by_label(
            CounterMetricFamily,
            "lane_calls",
            "Limiter tokens spent by each lane",
            "lane",
            counters.lane_calls().items(),
        )
        yield _by_label(
            GaugeMetricFamily,
            "background_run_albums",
            "The background refresh by state",
            "state",
            [
                ("total", run.total if run else 0),
                ("done", run.done if run else 0),
                ("remaining", run.remaining if run else 0),
            ],
        )
        for name, doc, value in (
            ("spotify_quota_used", "Spotify calls in the last 24 h, by bucket", "used"),
            ("spotify_quota_budget", "SPOTIFY_DAILY_BUDGET, by bucket", "budget"),
            (
                "spotify_quota_oldest_leaves_seconds",
                "Seconds until the oldest call of the 24 h window leaves it",
                "oldest_leaves_in",
            ),
            ("spotify_quota_locked_seconds", "Seconds a QUOTA_EXCEEDED still locks", "locked_for"),
        ):
            yield _by_label(
                GaugeMetricFamily,
                name,
                doc,
                "bucket",
                [(u.bucket, float(getattr(u, value) or 0)) for u in self.found.quota],
            )
        yield GaugeMetricFamily(
            f"{PREFIX}_redis_up",
            "1 when the counters could be read",
            value=int(self.found.redis_ok),
        )


def _by_label(
    family: type[GaugeMetricFamily] | type[CounterMetricFamily],
    name: str,
    documentation: str,
    label: str,
    values: Iterable[tuple[str, float]],
) -> Metric:
    metric = family(f"{PREFIX}_{name}", documentation, labels=[label])
    for key, value in values:
        metric.add_metric([key], value)
    return metric


@bp.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CacheCollector(collect()))
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
