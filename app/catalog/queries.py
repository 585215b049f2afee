"""Catalog queries: filtering, sorting and eager loading for the album grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload, selectinload

from app.models import Album, Artist, Genre, name_key

SortKey = Literal["artist", "title", "year", "recent"]
SORT_LABELS: dict[SortKey, str] = {
    "artist": "Artist",
    "title": "Title",
    "year": "Year",
    "recent": "Recently added",
}
MAX_QUERY_LENGTH = 200
# NUL and other control characters: PostgreSQL refuses NUL in text, and no name has them.
_CONTROL = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])


def clean_text(value: str) -> str:
    """A query parameter without control characters (they match nothing anyway)."""
    return value.translate(_CONTROL)


@dataclass(frozen=True, slots=True)
class CatalogFilters:
    q: str = ""
    genre: str = ""
    artist: str = ""
    sort: SortKey = "artist"

    @classmethod
    def from_args(cls, args: dict[str, str]) -> CatalogFilters:
        sort = args.get("sort", "artist")
        checked: SortKey = sort if sort in SORT_LABELS else "artist"  # type: ignore[assignment]
        return cls(
            q=" ".join(clean_text(args.get("q", "")).split())[:MAX_QUERY_LENGTH],
            genre=clean_text(args.get("genre", "")).strip()[:MAX_QUERY_LENGTH],
            artist=clean_text(args.get("artist", "")).strip()[:MAX_QUERY_LENGTH],
            sort=checked,
        )

    def is_filtered(self) -> bool:
        return bool(self.q or self.genre or self.artist)


def catalog_select(filters: CatalogFilters) -> Select[Album]:
    """Albums matching `filters`, artist joined and genres batch-loaded."""
    stmt = (
        select(Album)
        .join(Album.artist)
        .options(joinedload(Album.artist), selectinload(Album.genres))
    )
    if filters.q:
        stmt = stmt.where(
            Album.title.icontains(filters.q, autoescape=True)
            | Artist.name.icontains(filters.q, autoescape=True)
        )
    if filters.artist:
        stmt = stmt.where(Artist.name_key == name_key(filters.artist))
    if filters.genre:
        stmt = stmt.where(Album.genres.any(Genre.name_key == name_key(filters.genre)))
    order = {
        "artist": (Artist.name_key, Album.year.is_(None), Album.year, Album.title_key),
        "title": (Album.title_key, Artist.name_key),
        "year": (Album.year.is_(None), Album.year.desc(), Artist.name_key, Album.title_key),
        "recent": (Album.created_at.desc(),),
    }[filters.sort]
    # The id makes the order total, so pages never repeat or skip an album.
    return stmt.order_by(*order, Album.id.desc() if filters.sort == "recent" else Album.id)


def genre_choices() -> Select[str, int]:
    """Genre names with how many albums each has, for the filter menu."""
    return (
        select(Genre.name, func.count())
        .join(Genre.albums)
        .group_by(Genre.id, Genre.name, Genre.name_key)
        .order_by(Genre.name_key)
    )
