"""`flask covers`: what an administrator does on the album page, from the command line."""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.curation import audit, pins
from app.curation.uploads import MAX_UPLOAD_BYTES, UploadRefusedError
from app.extensions import db
from app.models import Album
from worker import candidates as cover_candidates


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _listed(album_id: int, *, again: bool = False) -> cover_candidates.CandidateList:
    """The album's candidates: as listed (so numbers match the panel's), else gathered now."""
    found = None if again else cover_candidates.stored(album_id)
    if found is None or found.state != "ready":
        found = cover_candidates.gather(album_id)
        if found is None:
            raise click.ClickException(f"There is no album {album_id}.")
        cover_candidates.save(album_id, found)
    return found


@click.group("covers")
def covers_cli() -> None:
    """Pinned covers: pin, unpin, list, candidates, history."""


@covers_cli.command("pin")
@click.argument("album_id", type=int)
@click.option("--url", help="An https image address from an allowed host.")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A JPEG, PNG or WebP file (up to 10 MB).")  # fmt: skip
@click.option("--candidate", type=int, help="Candidate N of `flask covers candidates`.")
@with_appcontext
def pin(album_id: int, url: str | None, path: Path | None, candidate: int | None) -> None:
    """Pin ALBUM_ID's cover: no import, refresh or source replaces it."""
    chosen = [name for name, value in (("--url", url), ("--file", path), ("--candidate", candidate))
              if value is not None]  # fmt: skip
    if len(chosen) != 1:
        raise click.UsageError("Give exactly one of --url, --file or --candidate.")
    actor = _actor()
    try:
        if url is not None:
            album = pins.pin_url(album_id, url, actor=actor)
        elif path is not None:
            with path.open("rb") as handle:
                data = handle.read(MAX_UPLOAD_BYTES + 1)
            album = pins.pin_upload(album_id, data, actor=actor)
        else:
            _listed(album_id)
            album = pins.pin_candidate(album_id, int(candidate or 0), actor=actor)
    except (pins.PinRefusedError, UploadRefusedError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Album {album_id} ({album.title}): cover pinned, {album.cover_url}")


@covers_cli.command("unpin")
@click.argument("album_id", type=int)
@with_appcontext
def unpin(album_id: int) -> None:
    """Give ALBUM_ID back to automatic resolution (the sources are asked again)."""
    try:
        album = pins.unpin(album_id, actor=_actor())
    except pins.PinRefusedError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Album {album_id} ({album.title}): unpinned; its cover is looked for again.")


@covers_cli.command("list")
@click.option("--pinned", is_flag=True, required=True, help="Albums with a pinned cover.")
@with_appcontext
def list_covers(pinned: bool) -> None:
    """Albums whose cover an administrator pinned, newest pin first."""
    albums = db.session.scalars(
        select(Album)
        .where(Album.cover_pinned_at.is_not(None))
        .options(joinedload(Album.artist))
        .order_by(Album.cover_pinned_at.desc())
    ).all()
    if not albums:
        click.echo("No pinned covers.")
    for album in albums:
        at = album.cover_pinned_at.strftime("%Y-%m-%d %H:%M") if album.cover_pinned_at else ""
        click.echo(
            f"{album.id}\t{album.artist.name} - {album.title}\t{at}\t{album.cover_pinned_by}"
            f"\t{album.cover_url}"
        )


@covers_cli.command("candidates")
@click.argument("album_id", type=int)
@click.option("--again", is_flag=True, help="Ask the sources again, not the listed ones.")
@with_appcontext
def candidates(album_id: int, again: bool) -> None:
    """What every enabled source offers for ALBUM_ID, numbered for `pin --candidate N`."""
    listed = _listed(album_id, again=again)
    if not listed.candidates:
        click.echo("No source offered a candidate with an image.")
    for number, item in enumerate(listed.candidates, start=1):
        year = f" ({item.get('year')})" if item.get("year") else ""
        fit = item.get("score")
        fit_text = f"  fit {fit * 100:.0f} %" if isinstance(fit, int | float) else ""
        click.echo(f"{number}. [{item.get('source')}] {item.get('artist')} - {item.get('title')}"
                   f"{year}{fit_text}")  # fmt: skip
    for source, error in listed.errors.items():
        click.echo(f"({source} could not answer: {error})", err=True)


@covers_cli.command("history")
@click.argument("album_id", type=int)
@with_appcontext
def history(album_id: int) -> None:
    """Every pin, unpin, upload and wrong match of ALBUM_ID: who, when, old and new cover."""
    entries = audit.history(album_id)
    if not entries:
        click.echo(f"Nothing recorded for album {album_id}.")
    for entry in entries:
        click.echo(
            f"{entry.at.strftime('%Y-%m-%d %H:%M:%S')}\t{entry.actor}\t{entry.action}"
            f"\t{entry.old_cover or '-'} -> {entry.new_cover or '-'}"
            + (f"\t{entry.detail}" if entry.detail else "")
        )
