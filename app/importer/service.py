"""One import run over a table already read: validate its rows, upsert them in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.cache import versions as catalog_versions
from app.importer.rows import ImportFatalError, RowError, parse_table
from app.importer.sources import Table
from app.importer.upsert import upsert_albums


@dataclass(slots=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    errors: list[RowError] = field(default_factory=lambda: list[RowError]())
    warnings: list[RowError] = field(default_factory=lambda: list[RowError]())
    columns: str = ""
    album_ids: set[int] = field(default_factory=lambda: set[int]())
    stale_cache_ids: list[int] = field(default_factory=lambda: list[int]())

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
    """Import `table`; commit unless `dry_run`. Any exception rolls everything back."""
    parsed = parse_table(table.headers, table.records, strict=strict)
    result = ImportResult(errors=parsed.errors, warnings=parsed.warnings, columns=parsed.columns)
    try:
        counts = upsert_albums(
            session, parsed.rows, batch_size=batch_size, prune=prune, progress=progress
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
    result.created = counts.created
    result.updated = counts.updated
    result.unchanged = counts.unchanged
    result.removed = counts.removed
    result.album_ids = counts.seen_album_ids
    result.stale_cache_ids = counts.stale_cache_ids
    return result
