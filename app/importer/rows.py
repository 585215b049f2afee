"""Header mapping and row validation: raw spreadsheet cells to `AlbumRow`s."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from app.models import GENRE_MAX, NAME_MAX, TITLE_MAX, name_key
from app.spotify.ids import SpotifyLinkError, parse_album_id

T = TypeVar("T")


class ImportFatalError(Exception):
    """A problem with the whole source: nothing is imported."""


class Field(enum.StrEnum):
    ARTIST = "artist"
    TITLE = "album"
    YEAR = "year"
    GENRES = "genre"
    SPOTIFY = "spotify"


# Header spellings people use, compared after lower-casing and folding _ and - to spaces.
HEADER_ALIASES: dict[Field, frozenset[str]] = {
    Field.ARTIST: frozenset({"artist", "artists", "artist name", "band", "performer"}),
    Field.TITLE: frozenset({"album", "title", "album title", "album name", "record"}),
    Field.YEAR: frozenset({"year", "release year", "released", "release date", "date"}),
    Field.GENRES: frozenset({"genre", "genres", "style", "styles"}),
    Field.SPOTIFY: frozenset(
        {
            "spotify",
            "spotify url",
            "spotify link",
            "spotify uri",
            "spotify album",
            "spotify id",
            "link",
            "url",
        }
    ),
}
REQUIRED_FIELDS = (Field.ARTIST, Field.TITLE)
_GENRE_SPLIT = re.compile(r"[,;/]")
_YEAR_RE = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def _fold_header(header: str) -> str:
    """`Genre(s)` → `genres`, `Spotify URL:` → `spotify url`, `release_year` → `release year`."""
    text = re.sub(r"\(s\)", "s", header.casefold())
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


# Words that name a field inside a longer header (`Genre / Style`, `Artist (main)`).
WORD_HINTS: dict[str, Field] = {
    "artist": Field.ARTIST,
    "artists": Field.ARTIST,
    "band": Field.ARTIST,
    "album": Field.TITLE,
    "title": Field.TITLE,
    "year": Field.YEAR,
    "genre": Field.GENRES,
    "genres": Field.GENRES,
    "style": Field.GENRES,
    "styles": Field.GENRES,
    "spotify": Field.SPOTIFY,
}


def _hinted_field(folded: str) -> Field | None:
    """The one field a header's words point to; None when none or several do."""
    fields = {WORD_HINTS[word] for word in folded.split() if word in WORD_HINTS}
    return fields.pop() if len(fields) == 1 else None


def _add_hinted(headers: Sequence[str], mapping: dict[Field, int]) -> None:
    """Fields no header names exactly, taken from the one header whose words name them."""
    mapped = set(mapping.values())
    candidates: dict[Field, list[int]] = {}
    for index, header in enumerate(headers):
        field_ = _hinted_field(_fold_header(header)) if index not in mapped else None
        if field_ is not None and field_ not in mapping:
            candidates.setdefault(field_, []).append(index)
    for field_, indexes in candidates.items():
        if len(indexes) == 1:  # two candidates: neither is taken, both are reported
            mapping[field_] = indexes[0]


def describe_columns(headers: Sequence[str], columns: dict[Field, int]) -> str:
    """`artist ← "Band", genres ← "Genre(s)"; ignored: "Notes"` for the import's output."""
    names = {Field.GENRES: "genres"}
    used = ", ".join(
        f'{names.get(f, f.value)} ← "{headers[i].strip()}"'
        for f, i in sorted(columns.items(), key=lambda item: item[1])
    )
    mapped = set(columns.values())
    ignored = [f'"{h.strip()}"' for i, h in enumerate(headers) if i not in mapped and h.strip()]
    return f"columns: {used}" + (f"; ignored: {', '.join(ignored)}" if ignored else "")


def map_headers(headers: Sequence[str]) -> dict[Field, int]:
    """Column index of each known field; raises ImportFatalError on a bad header row."""
    lookup = {alias: f for f, aliases in HEADER_ALIASES.items() for alias in aliases}
    mapping: dict[Field, int] = {}
    seen: dict[str, int] = {}
    for index, header in enumerate(headers):
        folded = _fold_header(header)
        if not folded:
            continue  # blank header: an unused column
        if folded in seen:
            raise ImportFatalError(
                f"duplicate column header {header.strip()!r} "
                f"(columns {seen[folded] + 1} and {index + 1})"
            )
        seen[folded] = index
        found = lookup.get(folded)
        if found is None:
            continue
        if found in mapping:
            other = headers[mapping[found]].strip()
            raise ImportFatalError(
                f"columns {other!r} and {header.strip()!r} both look like the {found} column"
            )
        mapping[found] = index
    _add_hinted(headers, mapping)
    missing = [f.value for f in REQUIRED_FIELDS if f not in mapping]
    if missing:
        shown = ", ".join(repr(h.strip()) for h in headers if h.strip()) or "none"
        raise ImportFatalError(
            f"required column(s) missing: {', '.join(missing)} (headers found: {shown})"
        )
    return mapping


@dataclass(frozen=True, slots=True)
class AlbumRow:
    """One valid album from the source."""

    row_number: int
    artist: str
    title: str
    year: int | None
    genres: tuple[str, ...]
    spotify_album_id: str | None

    @property
    def key(self) -> tuple[str, str]:
        return (name_key(self.artist), name_key(self.title))


@dataclass(frozen=True, slots=True)
class RowError:
    row_number: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"


@dataclass(slots=True)
class ParsedSource:
    rows: list[AlbumRow] = field(default_factory=lambda: list[AlbumRow]())
    errors: list[RowError] = field(default_factory=lambda: list[RowError]())
    # Rows imported with one cell dropped (an unusable year or Spotify link).
    warnings: list[RowError] = field(default_factory=lambda: list[RowError]())
    columns: str = ""  # what each column was taken for, and what was ignored


class RowInvalidError(ValueError):
    """One row cannot be imported; the message is the reason shown to the user."""


def _clean(text: str) -> str:
    return " ".join(text.split())


def parse_year(text: str) -> int | None:
    """`1997`, `1997-05-21`, `21/05/1997` → 1997; blank → None."""
    text = text.strip()
    if not text:
        return None
    match = _YEAR_RE.search(text)
    if match is None:
        raise RowInvalidError(f"year {text!r} is not a year")
    year = int(match.group(1))
    if not 1000 <= year <= datetime.now(UTC).year + 1:
        raise RowInvalidError(f"year {year} is out of range")
    return year


def parse_genres(text: str) -> tuple[str, ...]:
    """Split on `,` `;` `/`, trim, and drop blanks and case-insensitive repeats."""
    result: list[str] = []
    keys: set[str] = set()
    for part in _GENRE_SPLIT.split(text):
        genre = _clean(part)
        if not genre or name_key(genre) in keys:
            continue
        if len(genre) > GENRE_MAX:
            raise RowInvalidError(f"genre {genre[:20]!r}… is longer than {GENRE_MAX} characters")
        keys.add(name_key(genre))
        result.append(genre)
    return tuple(result)


def _optional(parse: Callable[[], T], dropped: list[str], strict: bool) -> T | None:
    """An optional cell: unusable means dropped with a warning (or, strict, the row)."""
    try:
        return parse()
    except RowInvalidError as exc:
        if strict:
            raise
        dropped.append(f"{exc} (cell left empty, album imported)")
        return None


def parse_row(
    row_number: int,
    cells: Sequence[str],
    columns: dict[Field, int],
    *,
    strict: bool = False,
    dropped: list[str] | None = None,
) -> AlbumRow:
    """Validate one data row; raises RowInvalidError with a reason.

    A year or Spotify link that cannot be used drops that cell (its reason is added
    to `dropped`) and keeps the album; with `strict` the whole row is rejected.
    """
    dropped = [] if dropped is None else dropped
    for text in cells:
        if "\x00" in text:
            raise RowInvalidError("contains a NUL character")
        if "\ufffd" in text:
            raise RowInvalidError("contains bytes that are not UTF-8 text")

    def cell(f: Field) -> str:
        index = columns.get(f)
        if index is None or index >= len(cells):
            return ""
        return cells[index]

    artist = _clean(cell(Field.ARTIST))
    title = _clean(cell(Field.TITLE))
    if not artist and not title:
        raise RowInvalidError("artist and album are both empty")
    if not artist:
        raise RowInvalidError("artist is empty")
    if not title:
        raise RowInvalidError("album title is empty")
    if len(artist) > NAME_MAX:
        raise RowInvalidError(f"artist is longer than {NAME_MAX} characters")
    if len(title) > TITLE_MAX:
        raise RowInvalidError(f"album title is longer than {TITLE_MAX} characters")
    link = cell(Field.SPOTIFY).strip()

    def spotify_id() -> str | None:
        try:
            return parse_album_id(link) if link else None
        except SpotifyLinkError as exc:
            raise RowInvalidError(f"Spotify link: {exc}") from exc

    return AlbumRow(
        row_number=row_number,
        artist=artist,
        title=title,
        year=_optional(lambda: parse_year(cell(Field.YEAR)), dropped, strict),
        genres=parse_genres(cell(Field.GENRES)),
        spotify_album_id=_optional(spotify_id, dropped, strict),
    )


def parse_table(
    headers: Sequence[str], records: Iterable[tuple[int, Sequence[str]]], *, strict: bool = False
) -> ParsedSource:
    """Validate every record; blank rows are ignored, bad rows and repeats reported."""
    columns = map_headers(headers)
    parsed = ParsedSource(columns=describe_columns(headers, columns))
    first_seen: dict[tuple[str, str], int] = {}
    for row_number, cells in records:
        if not any(c.strip() for c in cells):
            continue
        dropped: list[str] = []
        try:
            row = parse_row(row_number, cells, columns, strict=strict, dropped=dropped)
        except RowInvalidError as exc:
            parsed.errors.append(RowError(row_number, str(exc)))
            continue
        parsed.warnings.extend(RowError(row_number, reason) for reason in dropped)
        earlier = first_seen.get(row.key)
        if earlier is not None:
            parsed.errors.append(
                RowError(row_number, f"duplicate of row {earlier} (same artist and album)")
            )
            continue
        first_seen[row.key] = row_number
        parsed.rows.append(row)
    return parsed
