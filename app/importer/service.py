"""One import run over a table already read: validate its rows, upsert them in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.cache import versions as catalog_versions
from app.cache.entries import forget
from app.importer.rows import ImportFatalError, RowError, parse_table
from app.importer.sources import Table
from app.importer.upsert import UpsertCounts, upsert_albums


@dataclass(slots=True)
class ImportResult(UpsertCounts):
    """The upsert's counts, plus what validating the rows found."""

    errors: list[RowError] = field(default_factory=lambda: list[RowError]())
    warnings: list[RowError] = field(default_factory=lambda: list[RowError]())
    columns: str = ""

    @property
    def album_ids(self) -> set[int]:
        """Every album the import created or matched."""
        return self.seen_album_ids

    @property
    def skipped(self) -> int:
        return len(self.errors)

    def summary(self) -> str:
        return (
            f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
            f"skipped {self.skipped}, removed {self.removed}"
        )


def run_import(
    session: Session,
    table: Table,
    *,
    dry_run: bool = False,
    prune: bool = False,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
    strict: bool = False,
) -> ImportResult:
    """Import `table`; commit unless `dry_run`. Any exception rolls everything back.

    After a commit, the Redis entries of albums whose Spotify data was cleared or
    removed are dropped too (so this needs an app context, as the session does).
    """
    parsed = parse_table(table.headers, table.records, strict=strict)
    result = ImportResult(errors=parsed.errors, warnings=parsed.warnings, columns=parsed.columns)
    try:
        upsert_albums(
            session,
            parsed.rows,
            batch_size=batch_size,
            prune=prune,
            progress=progress,
            counts=result,
        )
        if dry_run:
            session.rollback()
        else:
            session.commit()
            catalog_versions.bump("albums")  # cached counts, menus and pages are now old
    except SQLAlchemyError as exc:
        session.rollback()
        orig: object = getattr(exc, "orig", None) or exc  # the driver's own message
        reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(exc).__name__
        raise ImportFatalError(f"database error: {reason}") from exc
    except BaseException:
        session.rollback()
        raise
    if not dry_run:
        forget(result.stale_cache_ids)
    return result
