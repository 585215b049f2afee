"""Database models: Artist, Album, Genre (+ association), Admin and AuditEntry."""

from __future__ import annotations

import enum
import unicodedata
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Base
from app.spotify.ids import album_url

TITLE_MAX = 500
NAME_MAX = 300
GENRE_MAX = 100
URL_MAX = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Timestamps are stored in UTC, but SQLite hands them back without a zone."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def name_key(value: str) -> str:
    """The case- and space-insensitive form used for uniqueness and lookups."""
    return " ".join(value.split()).casefold()


# Letters NFKD does not split into a base letter and an accent.
_FOLD = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe"})
NO_YEAR_KEY = 10_000  # albums without a year sort after every year, in both directions


def search_fold(value: str) -> str:
    """Case- and accent-insensitive form for search: "Beyoncé" and "beyonce" agree."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.translate(_FOLD).split())


SORT_KEY_COLUMNS = ("artist_key", "year_key", "year_desc_key", "search_key")


def sort_columns(title: str, artist: str, year: int | None) -> dict[str, Any]:
    """The album's denormalised sort and search keys, written with its title and year.

    Every catalog order is then a plain ascending walk of one index, so a page costs
    the same wherever it is (keyset pagination compares these values).
    """
    return {
        "artist_key": name_key(artist),
        "year_key": year if year is not None else NO_YEAR_KEY,
        "year_desc_key": -year if year is not None else NO_YEAR_KEY,
        "search_key": f"{search_fold(title)} / {search_fold(artist)}",
    }


class FetchStatus(enum.StrEnum):
    """Outcome of the last Spotify fetch for an album."""

    OK = "ok"
    NOT_FOUND = "not_found"  # permanent: Spotify has no such album
    ERROR = "error"  # temporary: retry after spotify_next_retry_at


album_genres = Table(
    "album_genres",
    Base.metadata,
    # The primary key (album_id, genre_id) already indexes album_id.
    Column("album_id", Integer, ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "genre_id",
        Integer,
        ForeignKey("genres.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class Artist(Base):
    __tablename__ = "artists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    # casefolded name: makes "The Beatles" and "the beatles" one artist on every database
    name_key: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)

    albums: Mapped[list[Album]] = relationship(back_populates="artist")

    def __repr__(self) -> str:
        return f"<Artist {self.id} {self.name!r}>"


class Genre(Base):
    __tablename__ = "genres"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(GENRE_MAX))
    name_key: Mapped[str] = mapped_column(String(GENRE_MAX), unique=True)

    albums: Mapped[list[Album]] = relationship(secondary=album_genres, back_populates="genres")

    def __repr__(self) -> str:
        return f"<Genre {self.id} {self.name!r}>"


class Album(Base):
    __tablename__ = "albums"
    __table_args__ = (
        # One index per catalog order (queries.SORTS): pages walk these, never sort.
        Index("ix_albums_sort_artist", "artist_key", "year_key", "title_key", "id"),
        Index("ix_albums_sort_title", "title_key", "artist_key", "id"),
        Index("ix_albums_sort_year", "year_desc_key", "artist_key", "title_key", "id"),
        # Re-importing the same sheet finds the same row: one album per artist and title.
        UniqueConstraint("artist_id", "title_key", name="uq_albums_artist_title"),
        # A cached value and its timestamp are set together or not at all.
        CheckConstraint(
            "(cover_url IS NULL) = (cover_cached_at IS NULL)",
            name="cover_cache_consistent",
        ),
        CheckConstraint(
            "(spotify_metadata_json IS NULL) = (spotify_metadata_cached_at IS NULL)",
            name="metadata_cache_consistent",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    # Indexed as the first key of ix_albums_sort_title (and artist_id below as the first of
    # uq_albums_artist_title): no index of their own (migration 0006).
    title_key: Mapped[str] = mapped_column(String(TITLE_MAX))
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"))
    year: Mapped[int | None] = mapped_column(Integer)
    # Written with title and year (sort_columns): the artist's name key, the year for
    # ascending and descending orders (no year last), and the folded "title / artist".
    artist_key: Mapped[str] = mapped_column(String(NAME_MAX))
    year_key: Mapped[int] = mapped_column(Integer)
    year_desc_key: Mapped[int] = mapped_column(Integer)
    search_key: Mapped[str] = mapped_column(Text)
    # The link the sheet gave; a Spotify search match is kept apart (never overwritten
    # by a re-import unless the sheet now has a link).
    spotify_album_id: Mapped[str | None] = mapped_column(String(22), index=True)
    spotify_match_id: Mapped[str | None] = mapped_column(String(22))

    # The cover, whichever source it came from (provider-neutral).
    cover_source: Mapped[str | None] = mapped_column(String(32))
    cover_url: Mapped[str | None] = mapped_column(String(URL_MAX))
    cover_cached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    cover_images: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    # "none" (no source has a cover) or "error" (a source failed), until cover_retry_at.
    cover_status: Mapped[str | None] = mapped_column(String(16))
    cover_retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last outcome per source: {source: {"outcome", "at", "retry_at"?, "ref"?}}.
    cover_outcomes: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # An administrator's cover (source "manual"): while set, no job writes the cover.
    cover_pinned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    cover_pinned_by: Mapped[str | None] = mapped_column(String(NAME_MAX))
    # Matches an administrator said are another album: {source: [ref, ...]}, never again.
    cover_rejected: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    spotify_metadata_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    spotify_metadata_cached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    spotify_fetch_status: Mapped[str | None] = mapped_column(String(16))
    spotify_last_error: Mapped[str | None] = mapped_column(Text)
    spotify_next_retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        default=utcnow,
        onupdate=utcnow,
        server_default=func.now(),
    )

    artist: Mapped[Artist] = relationship(back_populates="albums")
    genres: Mapped[list[Genre]] = relationship(
        secondary=album_genres, back_populates="albums", order_by="Genre.name_key"
    )

    @property
    def spotify_id(self) -> str | None:
        """The Spotify album this row stands for: the sheet's link, else a search match."""
        return self.spotify_album_id or self.spotify_match_id

    @property
    def spotify_link(self) -> str | None:
        """The album's page on Spotify (for attribution and the detail page)."""
        return album_url(self.spotify_id) if self.spotify_id else None

    @property
    def cover_pinned(self) -> bool:
        return self.cover_pinned_at is not None

    @property
    def cover_alt(self) -> str:
        return f"Cover of {self.title} by {self.artist.name}"

    def __repr__(self) -> str:
        return f"<Album {self.id} {self.title!r}>"


# The columns that make up an album's cover: a pinned album's are written only by
# an administrator (`app.curation.pins`), never by a job.
COVER_COLUMNS: tuple[str, ...] = (
    "cover_source",
    "cover_url",
    "cover_cached_at",
    "cover_images",
    "cover_status",
    "cover_retry_at",
)

# Cache columns cleared when an album's Spotify id changes (its cover may have come
# from the old link, and a search match no longer applies). A pinned cover stays.
SPOTIFY_CACHE_COLUMNS: tuple[str, ...] = (
    "spotify_match_id",
    *COVER_COLUMNS,
    "cover_outcomes",
    "spotify_metadata_json",
    "spotify_metadata_cached_at",
    "spotify_fetch_status",
    "spotify_last_error",
    "spotify_next_retry_at",
)


class Admin(Base):
    """An administrator: signs in to fix covers (`flask admin create NAME`)."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<Admin {self.id} {self.name!r}>"


class AuditEntry(Base):
    """What an administrator did (or tried): who, when, the album, old and new cover."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), index=True
    )
    actor: Mapped[str] = mapped_column(String(NAME_MAX))  # an admin's name, or "cli:<user>"
    action: Mapped[str] = mapped_column(String(32))
    # No foreign key: the history of an album outlives it.
    album_id: Mapped[int | None] = mapped_column(Integer, index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    old_cover: Mapped[str | None] = mapped_column(Text)
    new_cover: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action} {self.album_id}>"


# Made by migration 0003 on PostgreSQL only (a pg_trgm GIN index), not by the models.
DATABASE_ONLY_INDEXES = frozenset({"ix_albums_search_trgm"})


def in_models(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's include_object: compare everything but the database-only indexes."""
    return not (type_ == "index" and reflected and name in DATABASE_ONLY_INDEXES)
