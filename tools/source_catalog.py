"""Which simulated cover source knows which album: one deterministic rule for all the sims.

Each album's fate is read from sha256 of its normalised "artist|title", so every run, every
sim and every test agrees without sharing state. Four independent slices of the digest
give four uniform numbers in [0, 1):

* Spotify search finds the album when u0 < 0.60;
* Deezer knows it when u1 < 0.80;
* MusicBrainz knows the release group when u2 < 0.875, and the Cover Art Archive has
  front art for it when u2 < 0.70 (so one MB-known group in five has no art).

The draws are independent, so the sources overlap as real ones do (most Spotify albums
are on Deezer too). Looked at as the app's fallback chain, that gives: Spotify finds 60 %,
Deezer 80 % of the rest, the Cover Art Archive 70 % of what is left, and the remaining
~2.4 % have a cover nowhere.

On top of the rule, each sim's `/_sim/albums` and `/_sim/forget` control endpoints add or
remove albums for that sim alone, so a test can build an exact scenario.

Every known album comes with look-alike decoys (live, karaoke, tribute, remastered,
same title by another artist, a Various Artists compilation) that the sims return next
to it, sometimes ranked above it, because real search APIs do exactly that.
"""

from __future__ import annotations

import csv
import hashlib
import re
import string
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from flask import Flask, Response, jsonify, request

Source = Literal["spotify", "deezer", "musicbrainz"]
DecoyKind = Literal["other_artist", "live", "karaoke", "tribute", "remaster", "compilation"]
Flavour = Literal["streaming", "musicbrainz"]
Id = TypeVar("Id", int, str)

SPOTIFY_SHARE = 0.60
DEEZER_SHARE = 0.80
COVER_ART_SHARE = 0.70
MB_ARTLESS_SHARE = 0.20  # of the groups MusicBrainz knows
MB_SHARE = COVER_ART_SHARE / (1 - MB_ARTLESS_SHARE)  # 0.875: art-less groups come on top

BASE62 = string.digits + string.ascii_letters
VARIOUS_ARTISTS = "Various Artists"
KARAOKE_ARTIST = "Karaoke Stars"
# Made-up acts for "same title by another artist": none is a real band in the sample.
OTHER_ARTISTS = (
    "The Velvet Echoes",
    "Marina Holt",
    "Paper Lanterns",
    "DJ Sundown",
    "The Glass Rivers",
    "Northern Lights Orchestra",
    "Kid Meridian",
    "Slow Gold",
)
REMASTER_YEARS = (2009, 2011, 2012, 2015, 2017, 2019, 2021)

_APOSTROPHES = re.compile("['`\u2019\u02bc]")
_NON_WORD = re.compile(r"[\W_]+")
# Letters NFKD does not take apart: "Ágætis" must be found by "agaetis".
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th"})


def normalise(text: str) -> str:
    """Lower case, accents and punctuation folded away, single spaces.

    Apostrophes are deleted rather than spaced so "Pepper's" and "Peppers" agree; letters
    of any script are kept.
    """
    folded = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS))
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    plain = " ".join(_NON_WORD.sub(" ", _APOSTROPHES.sub("", folded)).split())
    # A title with no letters at all (Ed Sheeran's "÷") is compared as written.
    return plain or " ".join(text.casefold().split())


@lru_cache(maxsize=65_536)
def words(text: str) -> tuple[str, ...]:
    """The normalised words of a text (cached: every search looks at every title)."""
    return tuple(normalise(text).split())


def album_key(artist: str, title: str) -> str:
    return f"{normalise(artist)}|{normalise(title)}"


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _unit(data: bytes, slot: int) -> float:
    """The `slot`-th 4-byte slice of a digest as a number in [0, 1)."""
    return int.from_bytes(data[4 * slot : 4 * slot + 4], "big") / 2**32


@dataclass(frozen=True)
class Coverage:
    """Which sources know one album, by the rule alone (no overrides)."""

    spotify: bool
    deezer: bool
    musicbrainz: bool
    cover_art: bool

    @property
    def first_source(self) -> Literal["spotify", "deezer", "caa"] | None:
        """Where the app's fallback chain (Spotify, Deezer, CAA) would find a cover."""
        if self.spotify:
            return "spotify"
        if self.deezer:
            return "deezer"
        return "caa" if self.cover_art else None


def coverage(artist: str, title: str) -> Coverage:
    data = digest(album_key(artist, title))
    mb = _unit(data, 2)
    return Coverage(
        spotify=_unit(data, 0) < SPOTIFY_SHARE,
        deezer=_unit(data, 1) < DEEZER_SHARE,
        musicbrainz=mb < MB_SHARE,
        cover_art=mb < COVER_ART_SHARE,
    )


def knows(source: Source, artist: str, title: str) -> bool:
    return getattr(coverage(artist, title), source)


# --- stable ids -------------------------------------------------------------------------


def base62_id(text: str) -> str:
    """22 base62 digits of sha256(text), least significant first (as data/README.md says)."""
    number = int.from_bytes(digest(text), "big")
    out: list[str] = []
    for _ in range(22):
        number, rest = divmod(number, 62)
        out.append(BASE62[rest])
    return "".join(out)


def int_id(text: str, low: int = 100_000, high: int = 999_999_999) -> int:
    return low + int.from_bytes(digest(text)[:8], "big") % (high - low)


def uuid_id(text: str) -> str:
    """A UUID-shaped id (version 4 bits set, as MusicBrainz's random MBIDs have)."""
    return str(uuid.UUID(bytes=digest(text)[:16], version=4))


def make_upc(key: str) -> str:
    """A 12-digit UPC-A with a valid check digit."""
    body = f"{int.from_bytes(digest('upc|' + key)[:8], 'big') % 10**11:011d}"
    odd = sum(int(d) for d in body[0::2])
    even = sum(int(d) for d in body[1::2])
    return body + str((10 - (odd * 3 + even) % 10) % 10)


# --- albums -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceAlbum:
    """An album one sim can return: a known one (kind "real") or a decoy imitating one."""

    artist: str
    title: str
    year: str = ""
    upc: str = ""
    kind: Literal["real"] | DecoyKind = "real"
    album_type: Literal["album", "compilation", "single"] = "album"
    secondary_types: tuple[str, ...] = ()
    # Further names an artist filter matches: the act a karaoke or compilation album
    # names on its tracks ("originally performed by ...").
    credited: tuple[str, ...] = ()
    popularity: int = 50
    has_art: bool = True
    # The key of the known album a decoy imitates (its own key for a known album).
    original: str = ""

    @property
    def key(self) -> str:
        return album_key(self.artist, self.title)

    @property
    def ident(self) -> str:
        """What a decoy's ids are derived from: MB decoys may share artist and title."""
        raw = f"{self.artist}|{self.title}"
        return raw if self.kind == "real" else f"{raw}|{self.kind}"

    @property
    def year_int(self) -> int | None:
        return int(self.year) if self.year.isdigit() else None

    def artist_words(self) -> tuple[str, ...]:
        return _words_of((self.artist, *self.credited))

    def title_words(self) -> tuple[str, ...]:
        return words(self.title)


@lru_cache(maxsize=65_536)
def _words_of(texts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for text in texts for w in words(text))


def known_album(
    artist: str, title: str, year: str | int = "", upc: str = "", *, has_art: bool | None = None
) -> SourceAlbum:
    """A real album; the upc and the cover art default to what the rule derives."""
    artist, title, year = artist.strip(), title.strip(), str(year).strip()
    key = album_key(artist, title)
    data = digest(key)
    return SourceAlbum(
        artist=artist,
        title=title,
        year=year,
        upc=upc or make_upc(key),
        popularity=35 + data[20] % 60,
        has_art=coverage(artist, title).cover_art if has_art is None else has_art,
        original=key,
    )


@lru_cache(maxsize=8192)
def decoys(album: SourceAlbum, flavour: Flavour = "streaming") -> tuple[SourceAlbum, ...]:
    """The look-alikes a search for `album` also turns up, in a fixed order.

    "streaming" (Spotify, Deezer) titles them as those shops do ("... (Live)",
    "... - Karaoke Version"); "musicbrainz" keeps the title and marks a live recording by
    its secondary type, which is how MusicBrainz tells them apart.
    """
    data = digest(f"decoys|{album.key}")
    year = album.year_int or 1970 + data[0] % 30
    later = year + 1 + data[1] % 25

    def pop(slot: int, low: int, high: int) -> int:
        return low + data[4 + slot] % (high - low)

    def made(artist: str, title: str, kind: DecoyKind, years_on: int, popularity: int,
             **more: Any) -> SourceAlbum:  # fmt: skip
        return SourceAlbum(
            artist=artist,
            title=title,
            year=str(years_on),
            upc=make_upc(f"{album.key}|{kind}"),
            kind=kind,
            popularity=popularity,
            original=album.key,
            **more,
        )

    others = [a for a in OTHER_ARTISTS if normalise(a) != normalise(album.artist)]
    other = others[data[2] % len(others)]
    remaster = next((y for y in REMASTER_YEARS if y > year), year + 10)
    if flavour == "musicbrainz":
        return (
            made(album.artist, album.title, "live", later, pop(0, 20, 100),
                 secondary_types=("Live",)),
            made(other, album.title, "other_artist", 1960 + data[3] % 60, pop(1, 10, 90)),
            made(f"A Tribute to {album.artist}", album.title, "tribute", later, pop(2, 5, 40)),
        )  # fmt: skip
    return (
        made(album.artist, f"{album.title} (Remastered {remaster})", "remaster", remaster,
             pop(0, 30, 100)),
        made(album.artist, f"{album.title} (Live)", "live", later, pop(1, 10, 70)),
        made(other, album.title, "other_artist", 1960 + data[3] % 60, pop(2, 5, 85)),
        made(KARAOKE_ARTIST, f"{album.title} - Karaoke Version", "karaoke", 2000 + data[8] % 20,
             pop(3, 0, 40), credited=(album.artist,)),
        made(f"A Tribute to {album.artist}", album.title, "tribute", later, pop(4, 0, 35)),
        made(VARIOUS_ARTISTS, f"{album.title} and More Hits of the {year // 10 * 10}s",
             "compilation", later, pop(5, 10, 60), album_type="compilation",
             credited=(album.artist,)),
    )  # fmt: skip


# --- the catalog CSV ------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogRow:
    artist: str
    title: str
    year: str
    link: str  # the Spotify URL column as written: maybe empty, maybe not a Spotify link


def load_rows(path: Path) -> list[CatalogRow]:
    """The (artist, title, year) rows of a catalog CSV (Artist, Album, Year headers)."""
    rows: list[CatalogRow] = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        for raw in csv.DictReader(f):
            # Header case and stray spaces vary between sheets.
            row = {(k or "").strip().casefold(): (v or "").strip() for k, v in raw.items()}
            artist, title = row.get("artist", ""), row.get("album", "")
            if artist and title:
                rows.append(
                    CatalogRow(artist, title, row.get("year", ""), row.get("spotify url", ""))
                )
    return rows


def catalog_albums(rows: Iterable[CatalogRow], source: Source) -> list[SourceAlbum]:
    """The rows `source` knows by the rule, as known albums (duplicates dropped)."""
    seen: set[str] = set()
    found: list[SourceAlbum] = []
    for row in rows:
        key = album_key(row.artist, row.title)
        if key not in seen and knows(source, row.artist, row.title):
            seen.add(key)
            found.append(known_album(row.artist, row.title, row.year))
    return found


def shares(rows: Iterable[CatalogRow]) -> dict[str, float]:
    """Per-source and fallback-chain shares of the distinct albums in `rows`."""
    unique = {album_key(r.artist, r.title): coverage(r.artist, r.title) for r in rows}
    cover = list(unique.values())
    total = len(cover) or 1

    def share(picked: list[Coverage], within: list[Coverage]) -> float:
        return len(picked) / (len(within) or 1)

    rest = [c for c in cover if not c.spotify]
    after_deezer = [c for c in rest if not c.deezer]
    mb = [c for c in cover if c.musicbrainz]
    return {
        "albums": float(len(cover)),
        "spotify": share([c for c in cover if c.spotify], cover),
        "deezer": share([c for c in cover if c.deezer], cover),
        "musicbrainz": share(mb, cover),
        "cover_art": share([c for c in cover if c.cover_art], cover),
        "mb_artless": share([c for c in mb if not c.cover_art], mb),
        "deezer_of_rest": share([c for c in rest if c.deezer], rest),
        "cover_art_of_rest": share([c for c in after_deezer if c.cover_art], after_deezer),
        "nowhere": sum(c.first_source is None for c in cover) / total,
    }


# --- what one sim knows -------------------------------------------------------------------


class KnownAlbums:
    """The albums one sim knows: its share of the catalog plus `/_sim/albums` overrides."""

    def __init__(self, albums: Iterable[SourceAlbum] = ()) -> None:
        self._lock = threading.Lock()
        self._albums: dict[str, SourceAlbum] = {a.key: a for a in albums}
        self._version = 0
        self._cache: dict[tuple[Flavour, int], tuple[SourceAlbum, ...]] = {}

    def add(self, albums: Iterable[SourceAlbum]) -> None:
        with self._lock:
            for album in albums:
                self._albums[album.key] = album
            self._version += 1

    def forget(self, keys: Iterable[str]) -> int:
        with self._lock:
            gone = [k for k in set(keys) if self._albums.pop(k, None) is not None]
            self._version += 1
            return len(gone)

    def albums(self) -> list[SourceAlbum]:
        with self._lock:
            return list(self._albums.values())

    @property
    def version(self) -> int:
        return self._version

    def candidates(self, flavour: Flavour = "streaming") -> tuple[SourceAlbum, ...]:
        """Every known album and every decoy, known ones first, each ident once."""
        with self._lock:
            cached = self._cache.get((flavour, self._version))
            if cached is not None:
                return cached
            known = list(self._albums.values())
            version = self._version
        # A decoy that is itself a known album (the same artist, title and kind of
        # recording) is dropped; two known albums may share a decoy, kept once.
        real = {(a.key, a.secondary_types) for a in known}
        seen: set[str] = {a.ident for a in known}
        out: list[SourceAlbum] = list(known)
        for decoy in (d for a in known for d in decoys(a, flavour)):
            if decoy.ident not in seen and (decoy.key, decoy.secondary_types) not in real:
                seen.add(decoy.ident)
                out.append(decoy)
        result = tuple(out)
        with self._lock:
            # Keep only current versions: each sim asks for one flavour anyway.
            self._cache = {k: v for k, v in self._cache.items() if k[1] == self._version}
            if version == self._version:
                self._cache[(flavour, version)] = result
        return result


def known_albums(catalog_csv: Path | None, source: Source) -> KnownAlbums:
    """A sim's albums from its catalog; without one it knows only what `/_sim/albums` adds."""
    return KnownAlbums(catalog_albums(load_rows(catalog_csv) if catalog_csv else [], source))


class AlbumsById(Generic[Id]):
    """The known albums and their decoys by a sim's id, rebuilt when the known ones change."""

    def __init__(
        self, known: KnownAlbums, flavour: Flavour, ident: Callable[[SourceAlbum], Id]
    ) -> None:
        self.known = known
        self._flavour: Flavour = flavour
        self._ident = ident
        self._lock = threading.Lock()
        self._built: tuple[int, dict[Id, SourceAlbum]] | None = None

    def by_id(self) -> dict[Id, SourceAlbum]:
        version = self.known.version
        with self._lock:
            if self._built is not None and self._built[0] == version:
                return self._built[1]
        built = {self._ident(a): a for a in self.known.candidates(self._flavour)}
        with self._lock:
            self._built = (version, built)
        return built


def parse_albums(payload: Any) -> list[SourceAlbum]:
    """Albums from a `/_sim/albums` body: a list of {artist, title, year?, upc?, has_art?}."""
    items: Any = payload.get("albums") if isinstance(payload, dict) else payload
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ValueError("expected a JSON list of {artist, title, year, upc?} objects")
    albums: list[SourceAlbum] = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("each album must be an object")
        fields: dict[str, Any] = {str(k): v for k, v in item.items()}
        artist, title = str(fields.get("artist") or ""), str(fields.get("title") or "")
        if not artist.strip() or not title.strip():
            raise ValueError("each album needs an artist and a title")
        has_art = fields.get("has_art")
        albums.append(
            known_album(
                artist,
                title,
                str(fields.get("year") or ""),
                str(fields.get("upc") or ""),
                # An explicitly added album has art unless the test says otherwise.
                has_art=True if has_art is None else bool(has_art),
            )
        )
    return albums


def register_album_controls(
    app: Flask, known: KnownAlbums, describe: Callable[[SourceAlbum], Mapping[str, Any]]
) -> None:
    """`/_sim/albums` (GET lists, POST adds) and `/_sim/forget` (POST removes) on a sim."""

    def with_posted(act: Callable[[list[SourceAlbum]], dict[str, Any]]) -> Response:
        """`{"ok": true, ...act(albums)}` for the posted albums; 400 for a bad body."""
        try:
            albums = parse_albums(request.get_json(force=True))
        except ValueError as exc:
            response = jsonify({"error": str(exc)})
            response.status_code = 400
            return response
        return jsonify({"ok": True, **act(albums)})

    def add(albums: list[SourceAlbum]) -> dict[str, Any]:
        known.add(albums)
        return {"added": [dict(describe(a)) for a in albums]}

    @app.get("/_sim/albums")
    def list_albums() -> Response:
        return jsonify([dict(describe(a)) for a in known.albums()])

    @app.post("/_sim/albums")
    def add_albums() -> Response:
        return with_posted(add)

    @app.post("/_sim/forget")
    def forget_albums() -> Response:
        return with_posted(lambda albums: {"forgotten": known.forget(a.key for a in albums)})


def describe_common(album: SourceAlbum) -> dict[str, Any]:
    return {"artist": album.artist, "title": album.title, "year": album.year, "upc": album.upc}


# --- queries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """One piece of a search query: `field:value`, `field:"a phrase"`, a word or a phrase."""

    field: str | None
    value: str
    required: bool = False  # "+" before it or an AND beside it (Lucene)
    prohibited: bool = False  # "-" or NOT before it
    quoted: bool = False  # a phrase: Lucene wants all of its words

    @property
    def words(self) -> tuple[str, ...]:
        return words(self.value)


_TERM = re.compile(
    r"""(?P<sign>[+-]?)(?:(?P<field>[A-Za-z_]+):)?"""
    r"""(?:"(?P<phrase>(?:[^"\\]|\\.)*)"?|(?P<word>(?:[^\s"\\]|\\.)+))"""
)
_ESCAPE = re.compile(r"\\(.)")
# A lone dash or ampersand between words is punctuation, not something to look for.
_SEPARATORS = "-\u2013\u2014&+/|:.,;!?"
_AND, _OR, _NOT = frozenset({"AND", "&&"}), frozenset({"OR", "||"}), frozenset({"NOT", "!"})


def parse_query(query: str) -> list[Clause]:
    """Split a search string into clauses, with Lucene's AND / OR / NOT / + / - marks.

    Backslash escapes are undone; unbalanced quotes and parentheses are forgiven, as the
    real services forgive them.
    """
    clauses: list[Clause] = []
    negate = and_next = False
    for found in _TERM.finditer(query.replace("(", " ").replace(")", " ")):
        phrase, word, field = found["phrase"], found["word"], found["field"]
        if phrase is None and field is None and found["sign"] == "" and word:
            if word in _AND:
                if clauses:
                    clauses[-1] = replace(clauses[-1], required=not clauses[-1].prohibited)
                and_next = True
                continue
            if word in _OR:
                continue
            if word in _NOT:
                negate = True
                continue
        value = _ESCAPE.sub(r"\1", phrase if phrase is not None else word or "").strip()
        if not value.strip(_SEPARATORS):
            continue
        prohibited = negate or found["sign"] == "-"
        required = not prohibited and (and_next or found["sign"] == "+")
        field = field.casefold() if field else None
        clauses.append(Clause(field, value, required, prohibited, phrase is not None))
        negate = and_next = False
    return clauses


def loose_match(wanted: Iterable[str], have: Iterable[str]) -> bool:
    """Every wanted word starts some word we have ("pepper" finds "peppers")."""
    have = tuple(have)
    return all(any(h.startswith(w) for h in have) for w in wanted)


def year_matches(spec: str, year: int | None) -> bool:
    """`1969` or `1960-1970` (inclusive); an album without a year matches no year filter."""
    if year is None:
        return False
    low, _, high = spec.partition("-")
    try:
        return int(low) <= year <= int(high or low)
    except ValueError:
        return False


def streaming_match(album: SourceAlbum, clauses: Iterable[Clause]) -> bool:
    """Spotify's and Deezer's matching: every clause must hold, loosely.

    Filters: album / artist (the album artist or a credited act) / year / upc; a bare word
    or phrase may sit in the title or the artist. Filters neither service can answer from
    album data (track, genre, tag, label, ...) are ignored.
    """
    for clause in clauses:
        field = clause.field
        if field == "album":
            ok = loose_match(clause.words, album.title_words())
        elif field == "artist":
            ok = loose_match(clause.words, album.artist_words())
        elif field == "year":
            ok = year_matches(clause.value, album.year_int)
        elif field == "upc":
            ok = clause.value.lstrip("0") == album.upc.lstrip("0")
        elif field is None:
            ok = loose_match(clause.words, (*album.title_words(), *album.artist_words()))
        else:
            continue
        if ok == clause.prohibited:
            return False
    return True


def by_popularity_key(album: SourceAlbum) -> tuple[int, str]:
    """Sort key, most popular first: a decoy more popular than the real album outranks it."""
    return (-album.popularity, album.ident)
