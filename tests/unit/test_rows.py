import pytest

from app.importer.rows import (
    Field,
    ImportFatalError,
    RowInvalidError,
    map_headers,
    parse_genres,
    parse_row,
    parse_table,
    parse_year,
)
from app.spotify.ids import album_url

ID = "6dVIqQ8qmQ5GBnJ9shOYGE"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["Artist", "Album", "Year"], {Field.ARTIST: 0, Field.TITLE: 1, Field.YEAR: 2}),
        (["  TITLE ", "artist name"], {Field.TITLE: 0, Field.ARTIST: 1}),
        (
            ["Band", "Album_Title", "Genres", "Spotify URL"],
            {Field.ARTIST: 0, Field.TITLE: 1, Field.GENRES: 2, Field.SPOTIFY: 3},
        ),
        (
            ["artist", "album", "spotify-link", "notes"],
            {Field.ARTIST: 0, Field.TITLE: 1, Field.SPOTIFY: 2},
        ),
        (["artist", "", "album", "  "], {Field.ARTIST: 0, Field.TITLE: 2}),
        (
            ["Artist", "Album", "Release Date", "Link"],
            {Field.ARTIST: 0, Field.TITLE: 1, Field.YEAR: 2, Field.SPOTIFY: 3},
        ),
    ],
)
def test_headers_map_case_insensitively_with_aliases(
    headers: list[str], expected: dict[Field, int]
) -> None:
    assert map_headers(headers) == expected


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (["Album", "Year"], "required column.*artist"),
        (["Artist", "Year"], "required column.*album"),
        ([], "required column"),
        (["Artist", "Album", "artist"], "duplicate column header 'artist'"),
        (["Artist", "Band", "Album"], "both look like the artist column"),
        (["Artist", "Album", "Spotify", "Link"], "both look like the spotify column"),
    ],
)
def test_bad_header_rows_are_fatal(headers: list[str], message: str) -> None:
    with pytest.raises(ImportFatalError, match=message):
        map_headers(headers)


@pytest.mark.parametrize(
    ("text", "year"),
    [("1997", 1997), (" 1997 ", 1997), ("1997-05-21", 1997), ("21/05/1997", 1997), ("", None)],
)
def test_year_forms(text: str, year: int | None) -> None:
    assert parse_year(text) == year


@pytest.mark.parametrize(
    ("text", "reason"), [("soon", "not a year"), ("97", "not a year"), ("3021", "out of range")]
)
def test_bad_years_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(RowInvalidError, match=reason):
        parse_year(text)


def test_genres_split_trim_and_dedupe() -> None:
    assert parse_genres(" Rock, alt rock; Electronic / rock ;; ") == (
        "Rock",
        "alt rock",
        "Electronic",
    )


COLUMNS = {Field.ARTIST: 0, Field.TITLE: 1, Field.YEAR: 2, Field.GENRES: 3, Field.SPOTIFY: 4}


def test_valid_row_is_trimmed_and_parsed() -> None:
    row = parse_row(
        7,
        [
            "  Radiohead ",
            "OK   Computer",
            "1997-05-21",
            "Rock/Art Rock",
            f"https://open.spotify.com/album/{ID}?si=x",
        ],
        COLUMNS,
    )
    assert row.row_number == 7
    assert (row.artist, row.title, row.year) == ("Radiohead", "OK Computer", 1997)
    assert row.genres == ("Rock", "Art Rock")
    assert row.spotify_album_id == ID
    assert album_url(row.spotify_album_id or "") == f"https://open.spotify.com/album/{ID}"


def test_short_row_reads_missing_cells_as_blank() -> None:
    row = parse_row(3, ["Björk", "Homogenic"], COLUMNS)
    assert (row.year, row.genres, row.spotify_album_id) == (None, (), None)


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        (["", "Kid A", "", "", ""], "artist is empty"),
        (["Radiohead", "  ", "", "", ""], "album title is empty"),
        (["Radiohead", "Kid A", "next year", "", ""], "year 'next year' is not a year"),
        (
            ["Radiohead", "Kid A", "", "", f"https://open.spotify.com/track/{ID}"],
            "Spotify link: a Spotify track link",
        ),
        (["Radiohead", "x" * 501, "", "", ""], "longer than 500"),
    ],
)
def test_bad_rows_give_reasons_when_strict(cells: list[str], reason: str) -> None:
    with pytest.raises(RowInvalidError, match=reason):
        parse_row(2, cells, COLUMNS, strict=True)


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        (["Radiohead", "Kid A", "n/a", "", ""], "year 'n/a' is not a year"),
        (
            ["Radiohead", "Kid A", "2000", "", "https://youtu.be/abc"],
            "Spotify link:",
        ),
    ],
)
def test_an_unusable_year_or_link_keeps_the_album_and_says_so(
    cells: list[str], reason: str
) -> None:
    dropped: list[str] = []
    row = parse_row(2, cells, COLUMNS, dropped=dropped)
    assert (row.artist, row.title) == ("Radiohead", "Kid A")
    assert len(dropped) == 1
    assert reason in dropped[0]
    assert "album imported" in dropped[0]


@pytest.mark.parametrize("cell", ["Kid\x00A", "Kid \ufffd A"])
def test_nul_or_undecodable_text_rejects_its_row(cell: str) -> None:
    with pytest.raises(RowInvalidError, match=r"NUL|not UTF-8"):
        parse_row(2, ["Radiohead", cell, "", "", ""], COLUMNS)


@pytest.mark.parametrize(
    ("header", "mapped"),
    [("Genre(s)", "genres"), ("Genres:", "genres"), ("Genre / Style", "genres")],
)
def test_punctuated_headers_still_find_their_column(header: str, mapped: str) -> None:
    parsed = parse_table(["Artist", "Album", header], [(2, ["Air", "Moon Safari", "Pop, Ambient"])])
    assert parsed.rows[0].genres == ("Pop", "Ambient")
    assert f'{mapped} ← "{header}"' in parsed.columns


def test_the_column_mapping_names_what_was_ignored() -> None:
    parsed = parse_table(["Band", "Title", "Notes", "Spotify URL:"], [])
    assert parsed.columns == (
        'columns: artist ← "Band", album ← "Title", spotify ← "Spotify URL:"; ignored: "Notes"'
    )


def test_table_reports_bad_rows_and_duplicates_by_row_number_and_ignores_blank_rows() -> None:
    parsed = parse_table(
        ["Artist", "Album"],
        [
            (2, ["Radiohead", "Kid A"]),
            (3, ["", ""]),
            (4, ["", "Amnesiac"]),
            (5, ["RADIOHEAD", "kid a"]),
            (6, ["Portishead", "Dummy"]),
        ],
    )
    assert [(r.row_number, r.title) for r in parsed.rows] == [(2, "Kid A"), (6, "Dummy")]
    assert [str(e) for e in parsed.errors] == [
        "row 4: artist is empty",
        "row 5: duplicate of row 2 (same artist and album)",
    ]
