"""`flask refresh-cache`: refresh covers and metadata, here or through the workers."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import click
import redis
from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from app.cache.states import missing_cover
from app.config import setting
from app.extensions import db, get_redis
from app.models import Album, Artist, Genre, name_key
from app.progress import progress
from worker.fetch import fetch_album
from worker.job import FetchRequest, Outcome, RequeueError
from worker.lanes import run_status
from worker.queue import cancel_background_run, start_background_run
from worker.service import spotify_service
from worker.tasks import send_refresh_task

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
        stmt = stmt.where(missing_cover())
    return stmt


def _fetch_inline(album_id: int) -> Outcome:
    """Fetch one album, waiting out short limiter waits and backoffs; give up on long ones."""
    request = FetchRequest(album_id, refresh=True, attempts=INLINE_ATTEMPTS)
    while True:
        try:
            return fetch_album(
                request, max_wait=INLINE_MAX_WAIT, send=send_refresh_task, lane="background"
            )
        except RequeueError as exc:
            if exc.countdown > float(setting("REQUEUE_MAX_SECONDS")):
                return Outcome.DEFERRED
            request = exc.request
            time.sleep(exc.countdown)


@dataclass
class RefreshRun:
    """What an inline refresh did, album by album."""

    labels: dict[int, str]
    outcomes: Counter[Outcome] = field(default_factory=lambda: Counter[Outcome]())
    failed: list[int] = field(default_factory=lambda: list[int]())
    deferred: bool = False  # Spotify asked for a long pause; the rest was skipped


def _run_inline(labels: dict[int, str]) -> RefreshRun:
    run = RefreshRun(labels)
    with progress(len(labels), "Refreshing") as advance:
        for album_id in labels:
            if run.deferred:
                run.outcomes[Outcome.SKIPPED] += 1
                continue
            outcome = _fetch_inline(album_id)
            run.outcomes[outcome] += 1
            if outcome in (Outcome.FAILED, Outcome.DEFERRED):
                run.failed.append(album_id)
            # Spotify asked for a long pause: stop rather than hammer it.
            run.deferred = outcome == Outcome.DEFERRED
            advance(1)
    return run


def _report(run: RefreshRun) -> None:
    outcomes = run.outcomes
    refreshed = outcomes[Outcome.REFRESHED] + outcomes[Outcome.CACHED]
    click.echo(
        f"refreshed {refreshed}, not found {outcomes[Outcome.NOT_FOUND]}, "
        f"failed {outcomes[Outcome.FAILED] + outcomes[Outcome.DEFERRED]}, "
        f"skipped {outcomes[Outcome.SKIPPED]}"
    )
    if run.deferred:
        click.echo("Spotify asked us to pause for a long time; the rest was skipped.")
    if run.failed:
        rows = db.session.execute(
            select(Album.id, Album.spotify_last_error).where(Album.id.in_(run.failed))
        )
        reasons = {row[0]: row[1] for row in rows}
        click.echo("failed albums:")
        for album_id in run.failed:
            click.echo(f"  {run.labels[album_id]}: {reasons.get(album_id) or 'unknown error'}")


def _dry_run(albums: list[Album], unlinked: int) -> None:
    click.echo(f"dry run: would refresh {len(albums)} albums (no Spotify calls made)")
    for album in albums:
        where = f"spotify:album:{album.spotify_id}" if album.spotify_id else "no link"
        click.echo(f"  {_label(album)} ({where})")
    if unlinked:
        click.echo(
            f"  {unlinked} of them have no Spotify link: looked for by Spotify search and the"
            " other cover sources"
        )


def _enqueue(albums: list[Album], unlinked: int) -> None:
    queued = start_background_run(a.id for a in albums)
    rate = float(setting("SPOTIFY_RATE_PER_SEC"))
    status = run_status(get_redis())
    left = status.remaining if status else queued
    click.echo(
        f"queued {queued} albums for a background refresh ({unlinked} without a Spotify link);"
        f" {left} to go, at least {_duration(left / rate)} at {rate:g} calls/s."
        " Visitors go first; `flask cache-stats` shows progress, --cancel stops it."
    )
    lookups = spotify_service().quota.bucket_usage("albums")
    if lookups.background_left < left:
        later = lookups.oldest_leaves_in or 24 * 3600.0
        click.echo(
            f"today's budget allows about {lookups.background_left} more album lookups in the"
            f" background ({lookups.background_limit} of SPOTIFY_DAILY_BUDGET={lookups.budget}"
            f" a day; visitors keep the rest): the run pauses then and continues as calls"
            f" leave the 24 h window, the first in {_duration(later)}."
        )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


@click.command("refresh-cache")
@click.option("--album-id", "album_ids", type=int, multiple=True, help="Album id (repeatable).")
@click.option("--artist", metavar="NAME", help="Albums by this artist.")
@click.option("--genre", metavar="NAME", help="Albums in this genre.")
@click.option("--missing", is_flag=True, help="Albums without a cached cover (every source).")
@click.option("--all", "everything", is_flag=True, help="Every album.")
@click.option("--dry-run", is_flag=True, help="List what would be refreshed; call nothing.")
@click.option("--enqueue", is_flag=True, help="Hand the work to the workers' background lane.")
@click.option("--cancel", is_flag=True, help="Stop the background refresh now under way.")
def refresh_cache(
    album_ids: tuple[int, ...],
    artist: str | None,
    genre: str | None,
    missing: bool,
    everything: bool,
    dry_run: bool,
    enqueue: bool,
    cancel: bool,
) -> None:
    """Refresh cover art and metadata from Spotify, under the global rate limiter.

    Selections combine (an artist's albums still missing a cover: --artist X --missing).
    By default it runs here, with a progress bar and a summary; --enqueue hands the
    work to the workers' background lane, which spends only the budget visitors leave
    (--cancel stops it). Inline runs use the background share of the budget too.

    \b
    Examples:
      flask --app wsgi refresh-cache --album-id 12 --album-id 40
      flask --app wsgi refresh-cache --artist "Radiohead" --dry-run
      flask --app wsgi refresh-cache --genre jazz --enqueue
      flask --app wsgi refresh-cache --missing
      flask --app wsgi refresh-cache --all --enqueue
      flask --app wsgi refresh-cache --cancel
    """
    if cancel:
        click.echo(f"cancelled the background refresh: {cancel_background_run()} albums dropped")
        return
    if not (album_ids or artist or genre or missing or everything):
        raise click.UsageError(
            "say which albums: --album-id N (repeatable), --artist NAME, --genre NAME, "
            "--missing (no cached cover yet) or --all (or --cancel a background refresh)"
        )
    albums = list(db.session.execute(_selection(album_ids, artist, genre, missing)).scalars())
    for unknown in sorted(set(album_ids) - {a.id for a in albums}):
        click.echo(f"album {unknown}: no such album", err=True)
    # Albums without a link are refreshed too: search and the other sources look for them.
    unlinked = sum(1 for a in albums if not a.spotify_id)
    if dry_run:
        _dry_run(albums, unlinked)
    elif enqueue:
        try:
            _enqueue(albums, unlinked)
        except redis.RedisError as exc:
            raise click.ClickException(
                f"cannot reach Redis to queue the refresh ({exc}); nothing was queued"
            ) from exc
    else:
        _report(_run_inline({a.id: _label(a) for a in albums}))
