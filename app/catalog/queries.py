"""Catalog queries: filters, the order of each sort, ranked search and cached totals.

Every order is a list of keys the database walks with one index (see
`app.models.sort_columns`); a search puts its rank in front. Pages compare key values
(keyset pagination, `app.catalog.paging`), so the 500th page costs what the first does.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, TypeVar, cast

import redis
from flask import g
from sqlalchemy import ColumnElement, Select, case, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from app.cache import versions
from app.cache.memo import remembered
from app.extensions import available_redis, db, mark_redis_down, redis_key
from app.models import Album, Genre, album_genres, name_key, search_fold

log = logging.getLogger(__name__)
S = TypeVar("S", bound=Select[Any])
SortKey = Literal["artist", "title", "year", "recent"]
SORT_LABELS: dict[SortKey, str] = {
    "artist": "Artist",
    "title": "Title",
    "year": "Year",
    "recent": "Recently added",
}
MAX_QUERY_LENGTH = 200
MAX_QUERY_WORDS = 8  # each word is one more index condition
CACHE_SECONDS = 300  # counts and the genre menu; a catalog change retires them at once
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

    def url_args(self) -> dict[str, str]:
        """The filters as query parameters (empty ones and the default sort left out)."""
        args = {"q": self.q, "genre": self.genre, "artist": self.artist}
        found = {k: v for k, v in args.items() if v}
        return found | ({"sort": self.sort} if self.sort != "artist" else {})

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Order:
    """The keys a page is ordered by, all ascending or all descending; the last is unique."""

    keys: tuple[ColumnElement[Any], ...]
    descending: bool = False


def _keys(*columns: InstrumentedAttribute[Any]) -> tuple[ColumnElement[Any], ...]:
    return tuple(column.expression for column in columns)


_SORTS: dict[SortKey, tuple[ColumnElement[Any], ...]] = {
    "artist": _keys(Album.artist_key, Album.year_key, Album.title_key, Album.id),
    "title": _keys(Album.title_key, Album.artist_key, Album.id),
    "year": _keys(Album.year_desc_key, Album.artist_key, Album.title_key, Album.id),
    "recent": _keys(Album.id),  # ids grow as albums are added
}


def _like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _words(q: str) -> list[str]:
    return search_fold(q).split()[:MAX_QUERY_WORDS]


def search_rank(q: str) -> ColumnElement[int]:
    """0 exact title or artist, 1 title or artist starts with it, 2 a word does, 3 inside."""
    e = _like(search_fold(q))
    key = Album.search_key
    return case(
        (or_(key.like(f"{e} / %", escape="\\"), key.like(f"% / {e}", escape="\\")), 0),
        (or_(key.like(f"{e}%", escape="\\"), key.like(f"% / {e}%", escape="\\")), 1),
        (key.like(f"% {e}%", escape="\\"), 2),
        else_=3,
    )


def order_for(filters: CatalogFilters) -> Order:
    keys = _SORTS[filters.sort]
    if not _words(filters.q):
        return Order(keys, descending=filters.sort == "recent")
    # Best matches first, then the chosen order; "recent" flips the id to stay ascending.
    rank = search_rank(filters.q)
    if filters.sort == "recent":
        return Order((rank, literal(0) - Album.id))
    return Order((rank, *keys))


def filtered(stmt: S, filters: CatalogFilters) -> S:
    """`stmt` (over albums) restricted to the albums matching `filters`."""
    for word in _words(filters.q):
        # A trigram index answers this on PostgreSQL (migration 0003).
        stmt = stmt.where(Album.search_key.like(f"%{_like(word)}%", escape="\\"))
    if filters.artist:
        stmt = stmt.where(Album.artist_key == name_key(filters.artist))
    if filters.genre:
        # The id itself, from the cached menu: with a literal the planner knows how
        # common the genre is (a subquery left it guessing, and it chose a hash join
        # over all albums for a deep page of a big genre). A genre the cached menu does
        # not know yet (its version bump was lost) is looked up by name instead.
        key = name_key(filters.genre)
        known = genre_ids().get(key)
        genre_id = (
            known
            if known is not None
            else select(Genre.id).where(Genre.name_key == key).scalar_subquery()
        )
        in_genre = select(album_genres.c.album_id).where(album_genres.c.genre_id == genre_id)
        stmt = stmt.where(Album.id.in_(in_genre))
    return stmt


def _version_key(name: str) -> str | None:
    # Only the albums version: an arriving cover changes no total and no menu.
    version = versions.current()
    return redis_key(f"catalog:{name}:{version[0]}") if version is not None else None


def _cached_json(name: str, compute: Callable[[], Any]) -> Any:
    """A JSON value cached in Redis under the catalog's version; computed without Redis."""
    return json.loads(remembered(_version_key(name), CACHE_SECONDS, lambda: json.dumps(compute())))


def _count_name(filters: CatalogFilters) -> str:
    return f"count:{replace(filters, sort='artist').digest()}"  # a total has no order


def count_albums(filters: CatalogFilters) -> int:
    """How many albums match: counted once per catalog version and filter, then cached."""

    def compute() -> int:
        stmt = filtered(select(func.count()).select_from(Album), filters)
        return db.session.execute(stmt).scalar_one()

    return int(_cached_json(_count_name(filters), compute))


def known_count(filters: CatalogFilters) -> int | None:
    """The cached total, or None when nobody counted it yet (or Redis is away)."""
    key, client = _version_key(_count_name(filters)), available_redis()
    if key is None or client is None:
        return None
    try:
        raw = client.get(key)
    except redis.RedisError:
        mark_redis_down()
        return None
    return int(json.loads(raw)) if isinstance(raw, bytes) else None


def remember_count(filters: CatalogFilters, total: int) -> None:
    """A total the page query counted along (a search reads every match anyway)."""
    key, client = _version_key(_count_name(filters)), available_redis()
    if key is None or client is None:
        return
    try:
        client.set(key, json.dumps(total), ex=CACHE_SECONDS)
    except redis.RedisError:
        mark_redis_down()


def _genres() -> list[list[Any]]:
    """[id, name, name key, albums] per genre that has albums: cached, read once a request."""
    if "catalog_genres" not in g:

        def compute() -> list[list[object]]:
            stmt = (
                select(Genre.id, Genre.name, Genre.name_key, func.count())
                .join(Genre.albums)
                .group_by(Genre.id, Genre.name, Genre.name_key)
                .order_by(Genre.name_key)
            )
            return [list(row) for row in db.session.execute(stmt)]

        g.catalog_genres = _cached_json("genres", compute)
    return cast(list[list[Any]], g.catalog_genres)


def genre_choices() -> list[tuple[str, int]]:
    """Genre names with how many albums each has, for the filter menu."""
    return [(str(name), int(count)) for _id, name, _key, count in _genres()]


def genre_ids() -> dict[str, int]:
    """Genre id by name key, for every genre that has albums."""
    return {str(key): int(genre_id) for genre_id, _name, key, _count in _genres()}
