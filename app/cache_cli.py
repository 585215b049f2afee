"""`flask refresh-cache` and `flask cache-stats`."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import asdict

import click
from flask import Flask
from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from app.cache import enqueue_fetch
from app.cache_stats import collect
from app.cli import progress
from app.config import setting
from app.extensions import db
from app.fetch import FetchRequest, Outcome, RequeueError, fetch_album
from app.models import Album, Artist, Genre, name_key

# The CLI waits for the limiter like a patient worker would, but not for hours.
INLINE_MAX_WAIT = 30.0
# Someone is watching the progress bar: a few backed-off tries, not the workers' minutes.
INLINE_ATTEMPTS = 3


def _label(album: Album) -> str:
    return f"#{album.id} {album.artist.name} - {album.title}"


def _selection(
    album_ids: tuple[int, ...], artist: str | None, genre: str | None, missing: bool
) -> Select[Album]:
    stmt = select(Album).join(Album.artist).options(joinedload(Album.artist)).order_by(Album.id)
    if album_ids:
        stmt = stmt.where(Album.id.in_(album_ids))
    if artist:
        stmt = stmt.where(Artist.name_key == name_key(artist))
    if genre:
        stmt = stmt.where(Album.genres.any(Genre.name_key == name_key(genre)))
    if missing:
        stmt = stmt.where(
            Album.spotify_album_id.is_not(None), Album.spotify_cover_cached_at.is_(None)
        )
    return stmt


def _fetch_inline(album_id: int) -> Outcome:
    """Fetch one album, waiting out short limiter waits and backoffs; give up on long ones."""
    request = FetchRequest(album_id, refresh=True, attempts=INLINE_ATTEMPTS)
    while True:
        try:
            return fetch_album(request, max_wait=INLINE_MAX_WAIT)
        except RequeueError as exc:
            if exc.countdown > float(setting("REQUEUE_MAX_SECONDS")):
                return Outcome.DEFERRED
            request = exc.request
            time.sleep(exc.countdown)


@click.command("refresh-cache")
@click.option("--album-id", "album_ids", type=int, multiple=True, help="Album id (repeatable).")
@click.option("--artist", metavar="NAME", help="Albums by this artist.")
@click.option("--genre", metavar="NAME", help="Albums in this genre.")
@click.option("--missing", is_flag=True, help="Albums with a Spotify link but no cached cover.")
@click.option("--all", "everything", is_flag=True, help="Every album with a Spotify link.")
@click.option("--dry-run", is_flag=True, help="List what would be refreshed; call nothing.")
@click.option("--enqueue", is_flag=True, help="Hand the work to the Celery workers.")
def refresh_cache(
    album_ids: tuple[int, ...],
    artist: str | None,
    genre: str | None,
    missing: bool,
    everything: bool,
    dry_run: bool,
    enqueue: bool,
) -> None:
    """Refresh cover art and metadata from Spotify, under the global rate limiter.

    Selections combine (an artist's albums still missing a cover: --artist X --missing).
    By default it runs here, with a progress bar and a summary; --enqueue queues the
    work for the workers instead.

    \b
    Examples:
      flask --app wsgi refresh-cache --album-id 12 --album-id 40
      flask --app wsgi refresh-cache --artist "Radiohead" --dry-run
      flask --app wsgi refresh-cache --genre jazz --enqueue
      flask --app wsgi refresh-cache --missing
      flask --app wsgi refresh-cache --all --enqueue
    """
    if not (album_ids or artist or genre or missing or everything):
        raise click.UsageError(
            "say which albums: --album-id N (repeatable), --artist NAME, --genre NAME, "
            "--missing (no cached cover yet) or --all"
        )
    albums = list(db.session.execute(_selection(album_ids, artist, genre, missing)).scalars())
    for unknown in sorted(set(album_ids) - {a.id for a in albums}):
        click.echo(f"album {unknown}: no such album", err=True)
    linked = [a for a in albums if a.spotify_album_id]
    unlinked = len(albums) - len(linked)
    if dry_run:
        click.echo(f"dry run: would refresh {len(linked)} albums (no Spotify calls made)")
        for album in linked:
            click.echo(f"  {_label(album)} (spotify:album:{album.spotify_album_id})")
        if unlinked:
            click.echo(f"  {unlinked} selected albums have no Spotify link and would be skipped")
        return
    if enqueue:
        queued = sum(enqueue_fetch(a.id, refresh=True) for a in linked)
        click.echo(
            f"queued {queued} albums for the workers"
            f" ({len(linked) - queued} already queued, {unlinked} without a Spotify link)"
        )
        return

    labels = {a.id: _label(a) for a in linked}
    outcomes: Counter[Outcome] = Counter()
    failed: list[int] = []
    deferred = False
    with progress(len(linked), "Refreshing") as advance:
        for album_id in labels:
            if deferred:
                outcomes[Outcome.SKIPPED] += 1
                continue
            outcome = _fetch_inline(album_id)
            outcomes[outcome] += 1
            if outcome in (Outcome.FAILED, Outcome.DEFERRED):
                failed.append(album_id)
            # Spotify asked for a long pause: stop rather than hammer it.
            deferred = outcome == Outcome.DEFERRED
            advance(1)
    refreshed = outcomes[Outcome.REFRESHED] + outcomes[Outcome.CACHED]
    click.echo(
        f"refreshed {refreshed}, not found {outcomes[Outcome.NOT_FOUND]}, "
        f"failed {outcomes[Outcome.FAILED] + outcomes[Outcome.DEFERRED]}, "
        f"skipped {outcomes[Outcome.SKIPPED] + unlinked}"
    )
    if deferred:
        click.echo("Spotify asked us to pause for a long time; the rest was skipped.")
    if failed:
        rows = db.session.execute(
            select(Album.id, Album.spotify_last_error).where(Album.id.in_(failed))
        )
        reasons = {row[0]: row[1] for row in rows}
        click.echo("failed albums:")
        for album_id in failed:
            click.echo(f"  {labels[album_id]}: {reasons.get(album_id) or 'unknown error'}")


@click.command("cache-stats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cache_stats(as_json: bool) -> None:
    """Albums cached/pending/unavailable, hit rate by layer, Spotify calls by outcome."""
    found = collect()
    counts = found.albums
    if as_json:
        body = {
            "albums": asdict(counts) | {"no_spotify": counts.no_spotify},
            "hit_rate": found.hit_rate,
            "lookups": {
                "redis": found.lookups("hit:redis"),
                "database": found.lookups("hit:db"),
                "miss": found.lookups("miss"),
            },
            "spotify_calls": found.spotify_calls(),
            "rate_limited_429": int(found.counters.get("spotify:429", 0)),
            "limiter_wait_seconds": round(found.counters.get("limiter:wait_seconds", 0.0), 3),
            "redis_ok": found.redis_ok,
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
    if not found.redis_ok:
        click.echo("counters: Redis is unreachable")
        return
    rate = found.hit_rate
    click.echo(
        f"lookups: redis {found.lookups('hit:redis')}, database {found.lookups('hit:db')}, "
        f"miss {found.lookups('miss')}; hit rate "
        + (f"{rate:.1%}" if rate is not None else "n/a (no lookups yet)")
    )
    calls = found.spotify_calls()
    shown = ", ".join(f"{k} {v}" for k, v in calls.items()) or "none"
    click.echo(f"spotify calls: {shown}")
    click.echo(
        f"rate limited (429): {int(found.counters.get('spotify:429', 0))}; "
        f"time waiting for the limiter: {found.counters.get('limiter:wait_seconds', 0.0):.1f} s"
    )


def register_cache_cli(app: Flask) -> None:
    app.cli.add_command(refresh_cache)
    app.cli.add_command(cache_stats)
