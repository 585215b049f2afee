"""Bulk upsert of validated rows: a constant number of statements per batch.

Nothing here commits: the caller owns the transaction, so a fatal error or a dry
run rolls everything back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.importer.rows import AlbumRow, ImportFatalError
from app.models import SPOTIFY_CACHE_COLUMNS, Album, Artist, Genre, album_genres, name_key, utcnow

ALBUMS: Table = Album.__table__  # pyright: ignore[reportAssignmentType]
ARTISTS: Table = Artist.__table__  # pyright: ignore[reportAssignmentType]
GENRES: Table = Genre.__table__  # pyright: ignore[reportAssignmentType]
_DELETE_CHUNK = 1000


@dataclass(slots=True)
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    seen_album_ids: set[int] = field(default_factory=lambda: set[int]())
    # Albums whose Spotify data was cleared or removed: their Redis entries must go too.
    stale_cache_ids: list[int] = field(default_factory=lambda: list[int]())


@dataclass(frozen=True, slots=True)
class _Existing:
    id: int
    title: str
    year: int | None
    spotify_album_id: str | None


def _insert(session: Session, table: Table) -> Any:
    """An INSERT that supports ON CONFLICT on this database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ImportFatalError(f"unsupported database {dialect!r}")


def _upsert_names(session: Session, table: Table, names: dict[str, str]) -> dict[str, int]:
    """Insert missing names (updating a changed spelling) and return key → id."""
    if not names:
        return {}
    stmt = _insert(session, table).values(
        [{"name": name, "name_key": key} for key, name in names.items()]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["name_key"],
        set_={"name": stmt.excluded.name},
        # Unchanged names are not rewritten, so a re-import touches nothing.
        where=table.c.name != stmt.excluded.name,
    )
    session.execute(stmt)
    found = session.execute(
        select(table.c.name_key, table.c.id).where(table.c.name_key.in_(list(names)))
    )
    return {row[0]: row[1] for row in found}


def _upsert_batch(session: Session, rows: Sequence[AlbumRow], counts: UpsertCounts) -> None:
    now = utcnow()
    artist_names: dict[str, str] = {}
    genre_names: dict[str, str] = {}
    for row in rows:
        artist_names.setdefault(name_key(row.artist), row.artist)
        for genre in row.genres:
            genre_names.setdefault(name_key(genre), genre)
    artist_ids = _upsert_names(session, ARTISTS, artist_names)
    genre_ids = _upsert_names(session, GENRES, genre_names)

    title_keys = list({name_key(row.title) for row in rows})
    existing: dict[tuple[int, str], _Existing] = {}
    for r in session.execute(
        select(
            ALBUMS.c.id,
            ALBUMS.c.artist_id,
            ALBUMS.c.title_key,
            ALBUMS.c.title,
            ALBUMS.c.year,
            ALBUMS.c.spotify_album_id,
        ).where(
            ALBUMS.c.title_key.in_(title_keys), ALBUMS.c.artist_id.in_(set(artist_ids.values()))
        )
    ):
        existing[(r.artist_id, r.title_key)] = _Existing(r.id, r.title, r.year, r.spotify_album_id)
    current_genres: dict[int, set[int]] = {e.id: set() for e in existing.values()}
    if current_genres:
        for album_id, genre_id in session.execute(
            select(album_genres.c.album_id, album_genres.c.genre_id).where(
                album_genres.c.album_id.in_(list(current_genres))
            )
        ):
            current_genres[album_id].add(genre_id)

    new_rows: list[dict[str, Any]] = []
    new_genres: list[set[int]] = []
    keep_cache: list[dict[str, Any]] = []
    clear_cache: list[dict[str, Any]] = []
    regenre: dict[int, set[int]] = {}
    for row in rows:
        artist_id = artist_ids[name_key(row.artist)]
        wanted_genres = {genre_ids[name_key(g)] for g in row.genres}
        old = existing.get((artist_id, name_key(row.title)))
        if old is None:
            new_rows.append(_album_values(row, artist_id, now) | {"created_at": now})
            new_genres.append(wanted_genres)
            continue
        counts.seen_album_ids.add(old.id)
        fields_same = (old.title, old.year, old.spotify_album_id) == (
            row.title,
            row.year,
            row.spotify_album_id,
        )
        genres_same = current_genres[old.id] == wanted_genres
        if fields_same and genres_same:
            counts.unchanged += 1
            continue
        counts.updated += 1
        if not genres_same:
            regenre[old.id] = wanted_genres
        if fields_same:
            continue
        values = _album_values(row, artist_id, now) | {"_id": old.id}
        if old.spotify_album_id != row.spotify_album_id:
            # Another Spotify album: its cached cover and metadata no longer apply.
            clear_cache.append(values)
            counts.stale_cache_ids.append(old.id)
        else:
            keep_cache.append(values)

    if new_rows:
        inserted = session.execute(
            ALBUMS.insert().returning(ALBUMS.c.id, sort_by_parameter_order=True), new_rows
        )
        for (album_id,), genres in zip(inserted, new_genres, strict=True):
            counts.seen_album_ids.add(album_id)
            if genres:
                regenre[album_id] = genres
        counts.created += len(new_rows)
    _update_albums(session, keep_cache, clear=False)
    _update_albums(session, clear_cache, clear=True)
    _replace_genres(session, regenre)


def _album_values(row: AlbumRow, artist_id: int, now: datetime) -> dict[str, Any]:
    return {
        "title": row.title,
        "title_key": name_key(row.title),
        "artist_id": artist_id,
        "year": row.year,
        "spotify_album_id": row.spotify_album_id,
        "updated_at": now,
    }


def _update_albums(session: Session, values: list[dict[str, Any]], *, clear: bool) -> None:
    if not values:
        return
    assignments: dict[str, Any] = {
        column: bindparam(column) for column in ("title", "year", "spotify_album_id", "updated_at")
    }
    if clear:
        assignments |= dict.fromkeys(SPOTIFY_CACHE_COLUMNS)
    stmt = update(ALBUMS).where(ALBUMS.c.id == bindparam("_id")).values(assignments)
    session.execute(stmt, values)


def _replace_genres(session: Session, genres_by_album: dict[int, set[int]]) -> None:
    if not genres_by_album:
        return
    session.execute(delete(album_genres).where(album_genres.c.album_id.in_(list(genres_by_album))))
    pairs = [
        {"album_id": album_id, "genre_id": genre_id}
        for album_id, genre_ids in genres_by_album.items()
        for genre_id in genre_ids
    ]
    if pairs:
        session.execute(album_genres.insert(), pairs)


def _prune(session: Session, keep: set[int]) -> list[int]:
    """Delete albums not in `keep`, then artists and genres left without albums."""
    all_ids = set(session.execute(select(ALBUMS.c.id)).scalars())
    doomed = sorted(all_ids - keep)
    for start in range(0, len(doomed), _DELETE_CHUNK):
        chunk = doomed[start : start + _DELETE_CHUNK]
        # Explicit, because SQLite enforces ON DELETE CASCADE only with a pragma.
        session.execute(delete(album_genres).where(album_genres.c.album_id.in_(chunk)))
        session.execute(delete(ALBUMS).where(ALBUMS.c.id.in_(chunk)))
    if doomed:
        session.execute(delete(ARTISTS).where(~exists().where(ALBUMS.c.artist_id == ARTISTS.c.id)))
        session.execute(
            delete(GENRES).where(~exists().where(album_genres.c.genre_id == GENRES.c.id))
        )
    return doomed


def upsert_albums(
    session: Session,
    rows: Iterable[AlbumRow],
    *,
    batch_size: int = 1000,
    prune: bool = False,
    progress: Callable[[int], None] | None = None,
) -> UpsertCounts:
    """Create, update or keep each album; with `prune`, remove the ones not in `rows`."""
    counts = UpsertCounts()
    batch: list[AlbumRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            _upsert_batch(session, batch, counts)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        _upsert_batch(session, batch, counts)
        if progress:
            progress(len(batch))
    if prune:
        removed = _prune(session, counts.seen_album_ids)
        counts.removed = len(removed)
        counts.stale_cache_ids.extend(removed)
    return counts
