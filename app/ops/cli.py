"""`flask cache-stats`: the stats report on the command line."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from app.config import setting
from app.ops.counters import LIMITER_WAIT_SECONDS, RATE_LIMITED
from app.ops.report import CacheStats, collect
from worker.lanes import LANES, RunStatus


def _run_json(run: RunStatus | None, rate: float) -> dict[str, float] | None:
    if run is None:
        return None
    return {
        "total": run.total,
        "done": run.done,
        "waiting": run.waiting,
        "in_lane": run.in_lane,
        "eta_seconds": round(run.eta_seconds(rate), 1),
    }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _quota_line(found: CacheStats) -> str:
    parts: list[str] = []
    for u in found.quota:
        part = f"{u.bucket} {u.used}/{u.budget} (background stops at {u.background_limit})"
        if u.locked_for:
            part += f", locked by Spotify for {u.locked_for / 3600:.1f} h"
        elif u.oldest_leaves_in is not None:
            part += f", oldest call leaves in {u.oldest_leaves_in / 3600:.1f} h"
        parts.append(part)
    return "spotify calls in the last 24 h: " + "; ".join(parts)


@click.command("cache-stats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cache_stats(as_json: bool) -> None:
    """Albums cached/pending/unavailable, hit rate by layer, Spotify calls by outcome."""
    found = collect()
    counts = found.albums
    rate = float(setting("SPOTIFY_RATE_PER_SEC"))
    if as_json:
        body = {
            "albums": asdict(counts) | {"no_spotify": counts.no_spotify},
            "hit_rate": found.hit_rate,
            "lookups": {
                "redis": found.counters.lookups("redis"),
                "database": found.counters.lookups("db"),
                "miss": found.counters.lookups("miss"),
            },
            "spotify_calls": found.counters.spotify_calls(),
            "covers_by_source": found.sources.covers,
            "spotify_matches": found.sources.spotify_matches,
            "no_cover_anywhere": found.sources.no_cover_anywhere,
            "source_calls": found.counters.source_calls(),
            "rate_limited_429": int(found.counters.get(RATE_LIMITED)),
            "limiter_wait_seconds": round(found.counters.get(LIMITER_WAIT_SECONDS), 3),
            "redis_ok": found.redis_ok,
            "spotify_quota": {
                u.bucket: {
                    "used": u.used,
                    "budget": u.budget,
                    "background_limit": u.background_limit,
                    "oldest_leaves_in_seconds": _rounded(u.oldest_leaves_in),
                    "locked_for_seconds": _rounded(u.locked_for),
                }
                for u in found.quota
            },
            "lanes": {
                "queued": found.queue_depths,
                "limiter_tokens": found.counters.lane_calls(),
                "background_run": _run_json(found.run, rate),
            },
        }
        json.dump(body, sys.stdout, indent=2)
        click.echo()
        return
    click.echo(
        f"albums: {counts.total} total, {counts.with_spotify} with a Spotify link, "
        f"{counts.no_spotify} without"
    )
    click.echo(
        f"  cover cached {counts.cover_cached}, metadata cached {counts.metadata_cached}, "
        f"not fetched yet {counts.not_fetched}, not found {counts.not_found}, "
        f"failing {counts.failing}"
    )
    by_source = ", ".join(f"{k} {v}" for k, v in found.sources.covers.items()) or "none yet"
    click.echo(
        f"covers by source: {by_source}; found by Spotify search: "
        f"{found.sources.spotify_matches}; no cover anywhere: {found.sources.no_cover_anywhere}"
    )
    if not found.redis_ok:
        click.echo("counters: Redis is unreachable")
        return
    hit_rate = found.hit_rate
    lookups = found.counters.lookups
    click.echo(
        f"lookups: redis {lookups('redis')}, database {lookups('db')}, "
        f"miss {lookups('miss')}; hit rate "
        + (f"{hit_rate:.1%}" if hit_rate is not None else "n/a (no lookups yet)")
    )
    calls = found.counters.spotify_calls()
    shown = ", ".join(f"{k} {v}" for k, v in calls.items()) or "none"
    click.echo(f"spotify calls: {shown}")
    for source, outcomes in found.counters.source_calls().items():
        click.echo(f"{source} calls: " + ", ".join(f"{k} {v}" for k, v in outcomes.items()))
    click.echo(
        f"rate limited (429): {int(found.counters.get(RATE_LIMITED))}; "
        f"time waiting for the limiter: {found.counters.get(LIMITER_WAIT_SECONDS):.1f} s"
    )
    click.echo(_quota_line(found))
    depths, spent = found.queue_depths, found.counters.lane_calls()
    click.echo(
        "lanes: "
        + ", ".join(
            f"{lane} {depths.get(lane, 0)} queued, {spent.get(lane, 0)} calls" for lane in LANES
        )
    )
    run = found.run
    if run is not None:
        click.echo(
            f"background refresh: {run.done} of {run.total} done, {run.remaining} to go"
            f" (about {run.eta_seconds(rate) / 60:.0f} min or more at {rate:g} calls/s)"
        )
