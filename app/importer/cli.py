"""`flask --app wsgi import-albums …`: the importer on the command line."""

from __future__ import annotations

import logging
import sys

import click
from sqlalchemy import select

from app.cache.states import missing_cover
from app.config import setting
from app.extensions import db
from app.importer.rows import ImportFatalError
from app.importer.service import ImportResult, run_import
from app.importer.sources import Table, read_csv_file, read_sheet
from app.models import Album
from app.progress import progress
from worker.queue import start_background_run

log = logging.getLogger(__name__)


def _read_source(csv_path: str | None, sheet: str | None, worksheet: str | None) -> Table:
    if csv_path is not None:
        return read_csv_file(csv_path)
    assert sheet is not None
    return read_sheet(sheet, worksheet, setting("GOOGLE_SERVICE_ACCOUNT_FILE"))


def _queue_fetches(album_ids: set[int]) -> int:
    """Queue a background fetch for imported albums with a link but no cached cover."""
    wanted: list[int] = []
    ordered = sorted(album_ids)
    for start in range(0, len(ordered), 500):  # bounded IN lists, for SQLite's sake
        chunk = ordered[start : start + 500]
        stmt = select(Album.id).where(Album.id.in_(chunk), missing_cover()).order_by(Album.id)
        wanted.extend(db.session.execute(stmt).scalars())
    return start_background_run(wanted) if wanted else 0


def _print_result(result: ImportResult, *, dry_run: bool) -> None:
    prefix = "dry run, nothing written: would have " if dry_run else ""
    click.echo(result.columns)  # a wrong mapping is seen before anything else
    click.echo(prefix + result.summary())
    for error in result.errors:
        click.echo(str(error))
    for warning in result.warnings:
        click.echo(f"{warning} (warning)")


@click.command("import-albums")
@click.option("--csv", "csv_path", metavar="PATH", help="CSV file to import ('-' for stdin).")
@click.option("--sheet", metavar="KEY_OR_URL", help="Google Sheet key or URL.")
@click.option("--worksheet", metavar="NAME", help="Worksheet (tab) name; default the first.")
@click.option(
    "--skip-spotify/--no-skip-spotify",
    default=True,
    show_default=True,
    help="Skip Spotify entirely, or queue fetches for the worker after the import.",
)
@click.option("--dry-run", is_flag=True, help="Validate and count, write nothing.")
@click.option("--prune", is_flag=True, help="Remove albums that are no longer in the source.")
@click.option("--strict", is_flag=True, help="Reject a row whose year or Spotify link is unusable.")
def import_albums(
    csv_path: str | None,
    sheet: str | None,
    worksheet: str | None,
    skip_spotify: bool,
    dry_run: bool,
    prune: bool,
    strict: bool,
) -> None:
    """Import albums from a CSV file or a Google Sheet. Makes no Spotify calls.

    \b
    Examples:
      flask --app wsgi import-albums --csv albums.csv
      flask --app wsgi import-albums --sheet https://docs.google.com/spreadsheets/d/KEY/edit
      flask --app wsgi import-albums --csv albums.csv --prune --dry-run
    """
    if (csv_path is None) == (sheet is None):
        raise click.UsageError("give exactly one of --csv PATH or --sheet KEY_OR_URL")
    if worksheet and csv_path is not None:
        raise click.UsageError("--worksheet applies to --sheet only")
    try:
        table = _read_source(csv_path, sheet, worksheet)
        with progress(len(table.records), "Importing") as advance:
            result = run_import(
                db.session(),
                table,
                dry_run=dry_run,
                prune=prune,
                batch_size=setting("IMPORT_BATCH_SIZE"),
                progress=advance,
                strict=strict,
            )
    except ImportFatalError as exc:
        click.echo(f"Error: {exc}. Nothing was imported.", err=True)
        sys.exit(1)
    _print_result(result, dry_run=dry_run)
    if skip_spotify or dry_run:
        log.info("import made no Spotify calls")
        click.echo("Spotify: no calls made; covers are fetched when albums are viewed.")
    else:
        queued = _queue_fetches(result.album_ids)
        click.echo(f"Spotify: no calls made; {queued} albums queued for a background fetch.")
