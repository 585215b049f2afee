"""Small builders shared by tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from app.extensions import db
from app.models import Album, Artist, Genre, name_key, sort_columns

DATA = Path(__file__).parent / "data"


def write_csv(path: Path, rows: Iterable[Sequence[object]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def album_by_title(title: str) -> Album:
    album = db.session.execute(select(Album).where(Album.title_key == name_key(title))).scalar_one()
    return album


def add_album(
    title: str,
    artist: str,
    *,
    year: int | None = None,
    genres: Sequence[str] = (),
    spotify_id: str | None = None,
    cover_url: str | None = None,
) -> Album:
    """Insert one album directly (for page tests that need no import)."""
    artist_row = db.session.execute(
        select(Artist).where(Artist.name_key == name_key(artist))
    ).scalar_one_or_none() or Artist(name=artist, name_key=name_key(artist))
    genre_rows: list[Genre] = []
    for genre in genres:
        found = db.session.execute(
            select(Genre).where(Genre.name_key == name_key(genre))
        ).scalar_one_or_none()
        genre_rows.append(found or Genre(name=genre, name_key=name_key(genre)))
    album = Album(
        title=title,
        title_key=name_key(title),
        artist=artist_row,
        year=year,
        spotify_album_id=spotify_id,
        genres=genre_rows,
        **sort_columns(title, artist, year),
    )
    if cover_url:
        album.cover_url = cover_url
        album.cover_cached_at = datetime.now(UTC)
        album.cover_images = [
            {"url": cover_url + "-640", "width": 640, "height": 640},
            {"url": cover_url, "width": 300, "height": 300},
            {"url": cover_url + "-64", "width": 64, "height": 64},
        ]
    db.session.add(album)
    db.session.commit()
    return album
