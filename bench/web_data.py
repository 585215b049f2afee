"""A seeded, realistic catalog CSV for the web benchmark (`bench/web_bench.py`).

The same seed and size always give the same file. About 8,000 artists at 50,000
albums (a few prolific, most with a handful), some names with accents, 40 genres
with a long tail, years 1950-2025 with some blanks, a 22-character Spotify id for
every album, and 3 % of albums matching the search term "velvet" (1,500 at 50,000,
as the "1,476 matches" of the issue) through an artist's name or a title.
"""

from __future__ import annotations

import csv
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEARCH_TERM = "velvet"
SEARCH_SHARE = 0.03  # of all albums: 1,500 at 50,000
ARTISTS_PER_ALBUM = 8_000 / 50_000
HEADER = ["Artist", "Title", "Year", "Genres", "Spotify"]
# An artist whose page the benchmark loads: exactly this many albums, accented name.
TEN_ALBUM_ARTIST, TEN = "Sigur Rós", 10
BASE62 = string.digits + string.ascii_letters

GENRES = [
    "Rock", "Pop", "Jazz", "Electronic", "Hip Hop", "Soul", "Folk", "Indie Rock",
    "Metal", "Blues", "Country", "R&B", "Punk", "Alternative", "Classical", "Funk",
    "Reggae", "House", "Techno", "Ambient", "Singer-Songwriter", "Hard Rock",
    "Psychedelic Rock", "Progressive Rock", "New Wave", "Synth-pop", "Disco", "Latin",
    "Bossa Nova", "Shoegaze", "Post-Rock", "Grunge", "Trip Hop", "Drum and Bass", "Dub",
    "Ska", "Gospel", "Bluegrass", "Krautrock", "World",
]  # fmt: skip
# Real names with accents, so filters and sorting see non-ASCII text.
ACCENTED_ARTISTS = [
    "Beyoncé", "Björk", "Motörhead", "Mötley Crüe", "Blue Öyster Cult", "Café Tacvba",
    "Françoise Hardy", "Édith Piaf", "Jóhann Jóhannsson", "Ólafur Arnalds", "Maná",
    "Zoé", "João Gilberto", "Antônio Carlos Jobim", "Rosalía", "Röyksopp", "Múm",
    "Hüsker Dü", "Queensrÿche", "Mø", "Agnès Obel", "Gesaffelstein & Chloé",
    "Amadou et Mariam Diabaté", "Jorge Drexler Ñandú", "Ibrahim Ferrer y Compañía",
]  # fmt: skip
# Artists whose names match the search term, with their album counts.
SEARCH_ARTISTS = {
    "The Velvet Underground": 14,
    "Velvet Revolver": 6,
    "Crushed Velvet": 5,
    "Velvet Crush": 7,
    "Black Velvet Band": 4,
    "The Velvettes": 3,
    "Velvet Acid Christ": 9,
    "Blue Velveteen": 2,
}
FIRST_NAMES = [
    "Ada", "Alice", "Amara", "André", "Anna", "Ben", "Billie", "Bruno", "Camille",
    "Carlos", "Chloé", "Clara", "Daniel", "David", "Dolores", "Elena", "Eli", "Emma",
    "Étienne", "Felix", "Frank", "Gil", "Grace", "Hannah", "Hugo", "Ines", "Isaac",
    "Jack", "James", "Jana", "José", "Julia", "Kai", "Kate", "Lars", "Lena", "Leon",
    "Lucía", "Luis", "Maja", "Marco", "María", "Max", "Mia", "Nadia", "Nick", "Nina",
    "Noah", "Nora", "Omar", "Oscar", "Paul", "Pedro", "Renée", "Rita", "Ruth", "Sam",
    "Sara", "Søren", "Tom", "Uma", "Victor", "Yara", "Zoë",
]  # fmt: skip
LAST_NAMES = [
    "Abbott", "Almeida", "Baker", "Berg", "Brooks", "Castro", "Chen", "Clarke", "Cohen",
    "Costa", "Dahl", "Diaz", "Dubois", "Evans", "Fischer", "Fontaine", "García", "Gray",
    "Hall", "Hansen", "Holm", "Ibáñez", "Jensen", "Jones", "Kaur", "Keller", "Kim",
    "Lambert", "Lee", "López", "Marsh", "Martín", "Meyer", "Moreau", "Müller", "Nakamura",
    "Novak", "Nuñez", "O'Brien", "Okafor", "Park", "Pereira", "Quinn", "Reyes", "Rossi",
    "Sánchez", "Schmidt", "Silva", "Søndergaard", "Stone", "Tanaka", "Torres", "Varga",
    "Walker", "Weiß", "Young", "Zhang",
]  # fmt: skip
ADJECTIVES = [
    "Black", "Blue", "Broken", "Burning", "Crystal", "Dark", "Distant", "Electric",
    "Empty", "Endless", "Fading", "Frozen", "Golden", "Hollow", "Holy", "Iron", "Lonely",
    "Lost", "Midnight", "Neon", "Northern", "Paper", "Pale", "Quiet", "Red", "Restless",
    "Rising", "Secret", "Silent", "Silver", "Slow", "Southern", "Strange", "Sweet",
    "Wild", "Young", "Tender", "Wooden", "Glass", "Static",
]  # fmt: skip
NOUNS = [
    "Angel", "Animal", "Bird", "Bridge", "City", "Cloud", "Coast", "Crown", "Dancer",
    "Dream", "Echo", "Engine", "Field", "Fire", "Flower", "Garden", "Ghost", "Harbor",
    "Heart", "Highway", "Horse", "House", "Island", "Kingdom", "Light", "Machine",
    "Mirror", "Moon", "Mountain", "Ocean", "River", "Road", "Room", "Shadow", "Signal",
    "Sky", "Star", "Storm", "Sun", "Tiger", "Tower", "Train", "Valley", "Wave", "Wolf",
    "Window", "Winter", "Year", "Summer", "Café", "Été", "Corazón",
]  # fmt: skip
PLACES = [
    "the Fillmore", "Budokan", "Montreux", "the Apollo", "Royal Albert Hall", "the Roxy",
    "Paradiso", "Red Rocks", "the Olympia", "Reykjavík", "São Paulo", "Köln",
]  # fmt: skip
NUMERALS = ["II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]


@dataclass(frozen=True, slots=True)
class Row:
    artist: str
    title: str
    year: str
    genres: str
    spotify: str


def search_count(albums: int) -> int:
    """How many albums match the search term at this size."""
    return round(albums * SEARCH_SHARE)


def _matches(text: str) -> bool:
    return SEARCH_TERM in text.casefold()


class Generator:
    """Draws names, titles, genres and ids from one seeded random source."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ids: set[str] = set()
        # A long tail, as real catalogs have: "Rock" on many albums, "Krautrock" on few.
        self.genre_weights = [1 / (rank + 1) ** 0.9 for rank in range(len(GENRES))]

    def spotify_link(self) -> str:
        while True:
            sid = "".join(self.rng.choices(BASE62, k=22))
            if sid not in self.ids:
                self.ids.add(sid)
                break
        form = self.rng.random()
        # The forms people paste; the importer reduces each to the id.
        if form < 0.8:
            return f"https://open.spotify.com/album/{sid}"
        if form < 0.95:
            return f"https://open.spotify.com/album/{sid}?si={self.rng.getrandbits(48):012x}"
        return f"spotify:album:{sid}"

    def artist_name(self) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.45:
            return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if kind < 0.65:
            return f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}s"
        if kind < 0.8:
            return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        if kind < 0.9:
            return f"{rng.choice(NOUNS)} {rng.choice(NOUNS)}"
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} & the {rng.choice(NOUNS)}s"

    def title(self) -> str:
        rng = self.rng
        kind = rng.random()
        adjective, noun, other = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(NOUNS)
        if kind < 0.35:
            return f"{adjective} {noun}"
        if kind < 0.5:
            return f"The {noun} of {other}"
        if kind < 0.6:
            return noun
        if kind < 0.7:
            return f"{adjective} {noun}s"
        if kind < 0.78:
            return f"{noun} & {other}"
        if kind < 0.85:
            return f"Songs from the {noun}"
        if kind < 0.9:
            return f"Live at {rng.choice(PLACES)}"
        if kind < 0.95:
            return f"{adjective} {noun} {rng.choice(NUMERALS)}"
        return f"{noun}, Vol. {rng.randint(1, 4)}"

    def plain_title(self) -> str:
        """A title without the search term (so the number of matches is exact)."""
        while True:
            title = self.title()
            if not _matches(title):
                return title

    def search_title(self) -> str:
        """A title with the search term in it, in the ways titles use the word."""
        rng = self.rng
        return rng.choice(
            [
                f"Velvet {rng.choice(NOUNS)}",
                f"{rng.choice(ADJECTIVES)} Velvet",
                f"The Velvet {rng.choice(NOUNS)}",
                f"{rng.choice(NOUNS)} in Velvet",
                f"Velvet {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}",
            ]
        )

    def genres(self) -> str:
        count = self.rng.choices([1, 2, 3], weights=[35, 45, 20])[0]
        picked: list[str] = []
        while len(picked) < count:
            genre = self.rng.choices(GENRES, weights=self.genre_weights)[0]
            if genre not in picked:
                picked.append(genre)
        # Both separators the importer accepts.
        return (", " if self.rng.random() < 0.7 else "; ").join(picked)

    def unique_title(self, taken: set[str], draw: Callable[[], str]) -> str:
        """A title this artist has not used yet (the importer rejects a repeat)."""
        for _ in range(20):
            title = draw()
            if title.casefold() not in taken:
                break
        else:
            title = f"{draw()} (Deluxe Edition {len(taken)})"
        taken.add(title.casefold())
        return title


def _album_counts(rng: random.Random, artists: int, albums: int) -> list[int]:
    """Albums per artist, summing to `albums`: most a few, some dozens (heavy tail)."""
    # Pareto minus its floor: many artists at 0 (one album), a few at the cap.
    weights = [min(rng.paretovariate(1.2) - 1, 40.0) for _ in range(artists)]
    spare = albums - artists  # everyone has at least one
    scale = spare / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    for index in rng.sample(range(artists), albums - sum(counts)):
        counts[index] += 1  # the rounding remainder, one each
    return counts


def generate(albums: int, seed: int = 2024) -> list[Row]:
    """`albums` rows in a shuffled (import-like) order."""
    gen = Generator(seed)
    fixed = {TEN_ALBUM_ARTIST: TEN} | SEARCH_ARTISTS
    if albums < 4 * sum(fixed.values()):
        raise ValueError(f"too few albums for a realistic catalog: {albums}")
    names = set(map(str.casefold, fixed))
    artists = [*fixed]
    target = max(len(fixed), round(albums * ARTISTS_PER_ALBUM))
    for name in ACCENTED_ARTISTS:
        if len(artists) < target:
            names.add(name.casefold())
            artists.append(name)
    while len(artists) < target:
        name = gen.artist_name()
        if name.casefold() not in names and not _matches(name):
            names.add(name.casefold())
            artists.append(name)
    free = artists[len(fixed) :]
    counts = list(fixed.values()) + _album_counts(gen.rng, len(free), albums - sum(fixed.values()))

    # Which albums of other artists get a title with the search term.
    slots = [(a, i) for a, n in enumerate(counts) if a >= len(fixed) for i in range(n)]
    wanted = search_count(albums) - sum(SEARCH_ARTISTS.values())
    search_slots = set(gen.rng.sample(slots, max(0, wanted)))

    rows: list[Row] = []
    for index, (artist, count) in enumerate(zip(artists, counts, strict=True)):
        taken: set[str] = set()
        # A career that fits before 2025: about an album a year, some years two.
        year = gen.rng.randint(1950, max(1950, 2025 - count))
        for number in range(count):
            year = min(2025, year + gen.rng.choice((0, 1, 1, 1, 2)))
            if (index, number) in search_slots:
                title = gen.unique_title(taken, gen.search_title)
            else:
                title = gen.unique_title(taken, gen.plain_title)
            shown = "" if gen.rng.random() < 0.05 else str(year)
            rows.append(Row(artist, title, shown, gen.genres(), gen.spotify_link()))
    gen.rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[Row]) -> None:
    """The rows as a CSV the importer reads, header first."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow([row.artist, row.title, row.year, row.genres, row.spotify])
