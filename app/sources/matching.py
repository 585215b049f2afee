"""Whether an album offered by a cover source is the album the catalog means.

A wrong cover is worse than a placeholder, so this errs towards "no match": artist and
title must both agree, and live, karaoke, tribute and similar versions are other albums.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from rapidfuzz import fuzz, utils

from app.spotify.models import Image

MATCH_THRESHOLD = 0.9
EDITION_PENALTY = 0.02  # small: a remaster still matches, it just loses to the plain title
YEAR_PENALTY = 0.05  # small enough that a remaster dated by its reissue still matches
# "Led Zeppelin" vs "Led Zeppelin II" or "Greatest Hits" vs "... Vol. 2" look alike to
# fuzzy ratios; a different number is a different album, but kept for an administrator.
NUMBER_PENALTY = 0.25

_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ł": "l", "đ": "d"})
_APOSTROPHES = re.compile("['`\u2019\u02bc]")  # deleted, not spaced: "Pepper's" == "Peppers"
_AND = re.compile(r"[&+]")
# A trailing "(...)" / "[...]" / "{...}" or " - ..." part (spaced dash, so "Jay-Z" stays).
_SUFFIX = re.compile(
    r"^(?P<head>.*\S)\s*(?:[(\[{](?P<br>[^()\[\]{}]*)[)\]}]|\s[-\u2013\u2014]\s+(?P<dash>.+))\s*$"
)
_ORDINAL = re.compile(r"^\d+(?:st|nd|rd|th)?$")
_ROMAN = re.compile(r"^(x{0,3})(ix|iv|v?i{0,3})$")
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10}

_EDITION_WORDS = frozenset(
    (
        "remaster", "remastered", "remasters", "remastering", "deluxe", "expanded", "edition",
        "editions", "version", "anniversary", "super", "legacy", "bonus", "track", "tracks",
        "special", "mono", "stereo", "remix", "remixed", "mix", "limited", "collector",
        "collectors", "definitive", "reissue", "reissued", "original", "digital", "hd", "hi",
        "res", "audio", "mastered", "for", "itunes", "vinyl", "cd", "disc", "discs", "extended",
        "edit", "explicit", "clean", "uk", "us", "japan", "japanese", "international",
        "european", "box", "set", "restored",
    )
)  # fmt: skip
# Words that may sit in an edition suffix but do not make one by themselves.
_FILLER_WORDS = frozenset(("the", "and", "of", "with", "a"))
# One token or a spaced phrase of normalised text. Present in a candidate but absent from
# the wanted title (or artist), any of these means another recording or a cover act.
_VARIANT_MARKERS = (
    "live", "karaoke", "tribute", "tributes", "instrumental", "instrumentals", "acoustic",
    "unplugged", "lullaby", "lullabies", "rendition", "renditions", "covers", "made famous",
    "cover version", "cover versions", "in the style of", "8 bit", "8bit", "16 bit",
)  # fmt: skip
_VARIANT_PATTERNS = [(m, re.compile(rf"(?<!\S){re.escape(m)}(?!\S)")) for m in _VARIANT_MARKERS]
_VARIOUS = frozenset(("various artists", "various", "va", "varios artistas", "artistes divers",
                      "verschiedene interpreten", "various performers"))  # fmt: skip
_REQUIRED = ("source", "ref", "title", "artist")  # what from_json cannot do without


@dataclass(frozen=True, slots=True)
class Candidate:
    """An album as one source spells it."""

    source: str  # "spotify-search", "deezer", "coverartarchive", ...
    ref: str  # the source's own id (Spotify album, Deezer album, MusicBrainz release group)
    title: str
    artist: str
    year: int | None = None
    images: tuple[Image, ...] = ()
    url: str | None = None  # the album's page on the source's site, for attribution
    upc: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ref": self.ref,
            "title": self.title,
            "artist": self.artist,
            "year": self.year,
            "images": [image.to_json() for image in self.images],
            "url": self.url,
            "upc": self.upc,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Candidate | None:
        """The candidate `to_json` wrote; None when the data is not one (stored JSON drifts)."""
        data: Any = raw
        if not isinstance(data, dict):
            return None
        data = cast(dict[str, Any], data)
        source, ref, title, artist = (_str(data.get(k)) for k in _REQUIRED)
        if not (source and ref and title and artist):
            return None
        images = tuple(
            Image(url, _int(item.get("width")), _int(item.get("height")))
            for item in _dicts(data.get("images"))
            if (url := _str(item.get("url")))
        )
        return cls(source, ref, title, artist, _int(data.get("year")), images,
                   _str(data.get("url")), _str(data.get("upc")))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Match:
    candidate: Candidate
    score: float  # 0..1
    exact_title: bool  # the normalised titles are equal without stripping an edition suffix


def normalise(text: str) -> str:
    """Case, accents, punctuation, "&"/"and", a leading "The" and spacing folded away."""
    folded = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS))
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    folded = _AND.sub(" and ", _APOSTROPHES.sub("", folded))
    words = utils.default_process(folded).split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    # Titles like Ed Sheeran's "÷" have no letters at all: compare them as written.
    return " ".join(words) or " ".join(text.casefold().split())


def strip_edition(title: str) -> tuple[str, bool]:
    """The title without trailing edition parts ("(Remastered 2011)", "- Deluxe Edition")."""
    removed = False
    while (found := _SUFFIX.match(title)) and _is_edition(found["br"] or found["dash"] or ""):
        title, removed = found["head"], True
    return title, removed


def is_variant(title: str) -> bool:
    """Whether a title names a live, karaoke, tribute, instrumental, cover... version."""
    return bool(_markers(title))


def score(title: str, artist: str, year: int | None, candidate: Candidate) -> float | None:
    """How well a candidate fits the wanted album, 0..1; None when it is another album."""
    assessed = _assess(title, artist, year, candidate)
    return None if assessed is None else assessed[0]


def best_match(
    title: str,
    artist: str,
    year: int | None,
    candidates: Iterable[Candidate],
    threshold: float = MATCH_THRESHOLD,
) -> Match | None:
    """The candidate to use, or None when none is surely the wanted album."""
    ranked: list[tuple[tuple[bool, int, float, int], Match]] = []
    for index, candidate in enumerate(candidates):
        assessed = _assess(title, artist, year, candidate)
        if assessed is None or assessed[0] < threshold:
            continue
        value, exact = assessed
        # Exact title first, then a plausible year, then the score, then the source's order.
        key = (exact, _year_rank(year, candidate.year), value, -index)
        ranked.append((key, Match(candidate, value, exact)))
    return max(ranked, key=lambda pair: pair[0])[1] if ranked else None


def _assess(
    title: str, artist: str, year: int | None, candidate: Candidate
) -> tuple[float, bool] | None:
    """(score, exact title), or None when the candidate is disqualified."""
    wanted_artist, their_artist = normalise(artist), normalise(candidate.artist)
    if their_artist in _VARIOUS and wanted_artist not in _VARIOUS:
        return None
    if _markers(candidate.title) - _markers(title) or _markers(candidate.artist) - _markers(artist):
        return None
    wanted_base, wanted_cut = strip_edition(title)
    their_base, their_cut = strip_edition(candidate.title)
    wanted_norm, their_norm = _numbered(normalise(wanted_base)), _numbered(normalise(their_base))
    exact = normalise(title) == normalise(candidate.title)
    value = min(_similarity(wanted_norm, their_norm), _similarity(wanted_artist, their_artist))
    if not exact and (wanted_cut or their_cut):
        value -= EDITION_PENALTY
    if _year_rank(year, candidate.year) == 0:
        value -= YEAR_PENALTY
    if _digits(wanted_norm) != _digits(their_norm):
        value -= NUMBER_PENALTY
    return max(0.0, min(1.0, value)), exact


def _similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    # token_set_ratio alone scores any subset as 100 ("Abbey Road" vs "Abbey Road
    # Sessions"); averaging in the order-free whole-string ratio makes extra words count.
    return (fuzz.token_set_ratio(a, b) + fuzz.token_sort_ratio(a, b)) / 200


def _is_edition(part: str) -> bool:
    words = normalise(part).split()
    if not words:
        return False
    plain = [w for w in words if w not in _FILLER_WORDS and not _ORDINAL.match(w)]
    return bool(plain) and all(w in _EDITION_WORDS for w in plain)


def _markers(text: str) -> Counter[str]:
    """Variant markers in a text, counted: "Live Forever (Live)" has "live" twice."""
    words = normalise(text)
    return Counter({m: n for m, pattern in _VARIANT_PATTERNS if (n := len(pattern.findall(words)))})


def _numbered(normalised: str) -> str:
    """Numbers spelled one way ("II", "2nd" -> "2"): they set sequels and volumes apart."""
    words = normalised.split()
    for i, word in enumerate(words):
        if _ORDINAL.match(word):
            words[i] = str(int(word.rstrip("stndrh")))
        elif word and _ROMAN.match(word):
            words[i] = str(_roman(word))
    return " ".join(words)


def _digits(text: str) -> Counter[str]:
    return Counter(word for word in text.split() if word.isdigit())


def _roman(word: str) -> int:
    values = [_ROMAN_VALUES[c] for c in word]
    return sum(-v if v < nxt else v for v, nxt in zip(values, [*values[1:], 0], strict=True))


def _year_rank(wanted: int | None, theirs: int | None) -> int:
    """2 within a year either way, 1 when either is unknown, 0 further apart."""
    if wanted is None or theirs is None:
        return 1
    return 2 if abs(wanted - theirs) <= 1 else 0


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    items = cast(list[Any], value) if isinstance(value, list) else []
    return [cast(dict[str, Any], item) for item in items if isinstance(item, dict)]
