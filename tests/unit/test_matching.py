"""Which album a cover source offers is taken as the catalog's album (app.sources.matching)."""

from __future__ import annotations

from typing import Any

import pytest

from app.sources.matching import (
    MATCH_THRESHOLD,
    Candidate,
    Match,
    best_match,
    is_variant,
    normalise,
    score,
    strip_edition,
)
from app.spotify.models import Image


def album(title: str, artist: str, year: int | None = None, ref: str = "ref") -> Candidate:
    return Candidate(source="deezer", ref=ref, title=title, artist=artist, year=year)


def chosen(title: str, artist: str, year: int | None, *candidates: Candidate) -> Candidate | None:
    found = best_match(title, artist, year, candidates)
    return found.candidate if found else None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Beyoncé", "BEYONCE"),
        ("Simon & Garfunkel", "Simon and Garfunkel"),
        ("Crosby, Stills + Nash", "Crosby Stills and Nash"),
        ("The Beatles", "Beatles"),
        ("Sigur Rós", "sigur ros"),
        ("Røyksopp", "Royksopp"),
        ("Sgt. Pepper\u2019s Lonely Hearts Club Band", "Sgt Peppers Lonely Hearts Club Band"),
        ("Łódź  Straße", "lodz strasse"),
        ("Æther Œuvre", "aether oeuvre"),
    ],
)
def test_normalise_makes_spellings_equal(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


def test_normalise_keeps_titles_without_letters() -> None:
    assert normalise("÷") == "÷"
    assert normalise("The The") == "the"


@pytest.mark.parametrize(
    ("title", "base"),
    [
        ("Abbey Road (Remastered 2019)", "Abbey Road"),
        ("Abbey Road [Remastered]", "Abbey Road"),
        ("Abbey Road - 2009 Remaster", "Abbey Road"),
        ("Rumours \u2013 Deluxe Edition", "Rumours"),
        ("Nevermind (Deluxe)", "Nevermind"),
        ("Thriller (25th Anniversary Super Deluxe)", "Thriller"),
        ("Pet Sounds (Mono & Stereo)", "Pet Sounds"),
        ("Nevermind (2015 Remix) [Bonus Track Version]", "Nevermind"),
        ("Kind of Blue (Legacy Edition)", "Kind of Blue"),
    ],
)
def test_strip_edition_removes_edition_suffixes(title: str, base: str) -> None:
    assert strip_edition(title) == (base, True)


@pytest.mark.parametrize(
    "title", ["Jay-Z - The Blueprint", "Abbey Road (Live)", "Greatest Hits (1970-2002)", "(Deluxe)"]
)
def test_strip_edition_keeps_other_parts(title: str) -> None:
    assert strip_edition(title) == (title, False)


@pytest.mark.parametrize(
    "title",
    [
        "Live at Leeds",
        "Abbey Road (Live)",
        "Abbey Road - Live",
        "Abbey Road - Karaoke Version",
        "Abbey Road (Instrumental)",
        "A Tribute to Abbey Road",
        "Abbey Road (Acoustic Version)",
        "Abbey Road as Made Famous by The Beatles",
        "Abbey Road: Cover Versions",
        "8-Bit Abbey Road",
        "Lullaby Renditions of The Beatles",
    ],
)
def test_is_variant_spots_other_recordings(title: str) -> None:
    assert is_variant(title)


def test_is_variant_leaves_plain_and_edition_titles() -> None:
    assert not is_variant("Abbey Road")
    assert not is_variant("Abbey Road (Super Deluxe Edition)")


def test_remaster_by_the_beatles_without_the_matches() -> None:
    found = best_match(
        "Abbey Road", "The Beatles", 1969, [album("Abbey Road (Remastered 2019)", "Beatles")]
    )
    assert found is not None
    assert found.score >= MATCH_THRESHOLD
    assert not found.exact_title


def test_accents_and_ampersands_do_not_stop_a_match() -> None:
    assert chosen("Lemonade", "Beyoncé", None, album("Lemonade", "Beyonce"))
    assert chosen("Bookends", "Simon & Garfunkel", None, album("Bookends", "Simon and Garfunkel"))


@pytest.mark.parametrize(
    "artist", ["Various Artists", "The Beatles Tribute Band", "A Tribute to The Beatles",
               "Karaoke Beatles", "Made Famous by The Beatles"]
)  # fmt: skip
def test_compilations_and_cover_acts_are_never_chosen(artist: str) -> None:
    assert score("Abbey Road", "The Beatles", 1969, album("Abbey Road", artist)) is None
    assert chosen("Abbey Road", "The Beatles", 1969, album("Abbey Road", artist)) is None


def test_various_artists_matches_a_various_artists_compilation() -> None:
    assert chosen("Now 100", "Various Artists", None, album("Now 100", "Various Artists"))


@pytest.mark.parametrize(
    "title",
    ["Abbey Road (Live)", "Abbey Road - Karaoke Version", "Abbey Road (Instrumental)",
     "Abbey Road - Acoustic Version", "Abbey Road (8-Bit Version)"],
)  # fmt: skip
def test_live_karaoke_and_instrumental_versions_are_never_chosen(title: str) -> None:
    assert score("Abbey Road", "The Beatles", 1969, album(title, "The Beatles")) is None
    assert chosen("Abbey Road", "The Beatles", 1969, album(title, "The Beatles")) is None


def test_plain_title_beats_a_remaster_offered_first() -> None:
    remaster = album("Abbey Road (Remastered 2019)", "The Beatles", 1969, ref="remaster")
    plain = album("Abbey Road", "The Beatles", 1969, ref="plain")
    found = best_match("Abbey Road", "The Beatles", 1969, [remaster, plain])
    assert found == Match(plain, 1.0, True)


def test_same_title_by_another_artist_is_no_match() -> None:
    assert chosen("Abbey Road", "The Beatles", 1969, album("Abbey Road", "George Benson")) is None
    assert chosen("Greatest Hits", "Queen", None, album("Greatest Hits", "Queen Latifah")) is None


def test_the_album_from_the_wanted_year_wins() -> None:
    old = album("Weezer", "Weezer", 1994, ref="blue")
    new = album("Weezer", "Weezer", 2008, ref="red")
    assert chosen("Weezer", "Weezer", 2008, old, new) == new
    assert chosen("Weezer", "Weezer", 1994, new, old) == old


def test_a_remaster_dated_by_its_reissue_still_matches() -> None:
    reissue = album("Sgt. Pepper's Lonely Hearts Club Band - Remastered 2009", "The Beatles", 2009)
    assert chosen("Sgt. Pepper's Lonely Hearts Club Band", "The Beatles", 1967, reissue)


def test_a_live_album_matches_itself_and_its_editions() -> None:
    assert chosen("Live at Leeds", "The Who", 1970, album("Live at Leeds", "The Who", 1970))
    assert chosen("Live at Leeds", "The Who", 1970, album("Live at Leeds (Deluxe Edition)", "Who"))


def test_unplugged_matches_itself_but_not_a_studio_album() -> None:
    unplugged = album("MTV Unplugged in New York", "Nirvana", 1994)
    assert chosen("MTV Unplugged in New York", "Nirvana", 1994, unplugged) == unplugged
    assert score("Nevermind", "Nirvana", 1991, album("Nevermind (Unplugged)", "Nirvana")) is None


def test_a_live_version_of_a_live_album_is_still_another_album() -> None:
    assert score("Live Forever", "Oasis", None, album("Live Forever (Live)", "Oasis")) is None


@pytest.mark.parametrize(
    ("wanted", "offered"),
    [("Led Zeppelin", "Led Zeppelin II"), ("Greatest Hits", "Greatest Hits Vol. 2"),
     ("Abbey Road", "Abbey Road Sessions"), ("Let It Be", "Let It Be... Naked")],
)  # fmt: skip
def test_an_album_with_extra_words_or_another_number_is_not_chosen(
    wanted: str, offered: str
) -> None:
    offered_score = score(wanted, "Band", None, album(offered, "Band"))
    assert offered_score is not None  # kept for an administrator to pick
    assert offered_score < MATCH_THRESHOLD
    assert chosen(wanted, "Band", None, album(offered, "Band")) is None


def test_roman_and_arabic_numbers_are_the_same_number() -> None:
    found = best_match("Led Zeppelin III", "Led Zeppelin", None, [album("Led Zeppelin 3", "LZ")])
    assert found is None  # the artist differs
    assert chosen("Led Zeppelin III", "Led Zeppelin", None, album("Led Zeppelin 3", "Led Zeppelin"))


def test_no_candidates_is_no_match() -> None:
    assert best_match("Abbey Road", "The Beatles", 1969, []) is None


def test_threshold_can_be_lowered_for_an_administrators_shortlist() -> None:
    naked = album("Let It Be... Naked", "The Beatles")
    assert best_match("Let It Be", "The Beatles", None, [naked]) is None
    assert best_match("Let It Be", "The Beatles", None, [naked], threshold=0.5) is not None


def test_scores_stay_between_zero_and_one() -> None:
    for offered in ("Abbey Road", "Abbey Road (Remastered)", "Help!", "÷", "Led Zeppelin IV"):
        value = score("Abbey Road", "The Beatles", 1969, album(offered, "The Beatles", 2019))
        assert value is not None
        assert 0.0 <= value <= 1.0


def test_candidate_json_round_trip() -> None:
    candidate = Candidate(
        source="coverartarchive",
        ref="9162580e-5df4-32de-80cc-f45a8d8a9b1d",
        title="Abbey Road",
        artist="The Beatles",
        year=1969,
        images=(Image("https://x/1200.jpg", 1200, 1200), Image("https://x/250.jpg", None, None)),
        url="https://musicbrainz.org/release-group/9162580e-5df4-32de-80cc-f45a8d8a9b1d",
        upc="0094638246817",
    )
    assert Candidate.from_json(candidate.to_json()) == candidate
    bare = album("Abbey Road", "The Beatles")
    assert Candidate.from_json(bare.to_json()) == bare


@pytest.mark.parametrize(
    "raw",
    [{}, {"source": "deezer"}, {"source": "deezer", "ref": "1", "title": "", "artist": "X"},
     {"source": 3, "ref": "1", "title": "T", "artist": "A"}, [], "junk", None],
)  # fmt: skip
def test_unusable_json_is_none(raw: Any) -> None:
    assert Candidate.from_json(raw) is None


def test_json_with_bad_optional_fields_keeps_what_is_usable() -> None:
    raw: dict[str, Any] = {
        "source": "deezer",
        "ref": "302127",
        "title": "Discovery",
        "artist": "Daft Punk",
        "year": "2001",
        "images": [{"url": "https://x/a.jpg", "width": "big"}, {"width": 5}, "junk"],
        "url": 7,
    }
    assert Candidate.from_json(raw) == Candidate(
        "deezer", "302127", "Discovery", "Daft Punk", images=(Image("https://x/a.jpg", None, None),)
    )
