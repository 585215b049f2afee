"""The grid at any size: keyset pages, page-number links, ranked search, cached totals
and pages, and the parts htmx swaps in."""

from __future__ import annotations

import base64
import html as html_lib
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.cache import versions
from app.extensions import db
from app.importer.service import run_import
from app.importer.sources import Table
from app.models import Album, search_fold
from tests.helpers import add_album


def tile_ids(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'data-album-id="(\d+)"', html)]


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return html_lib.unescape(found.group(1)) if found else None


def import_rows(rows: list[list[str]]) -> None:
    records = [(n + 2, row) for n, row in enumerate(rows)]
    run_import(db.session(), Table(["Artist", "Album", "Year", "Genre"], records, "test"))


def varied_catalog(count: int = 130) -> None:
    """Shared artists, shared years, albums without a year: ties everywhere."""
    import_rows(
        [
            [f"Artist {n % 9}", f"Album {n:03d}", "" if n % 11 == 0 else str(1970 + n % 6), "Rock"]
            for n in range(count)
        ]
    )


def walk(client: FlaskClient, start: str, rel: str) -> list[list[int]]:
    pages: list[list[int]] = []
    url: str | None = start
    while url is not None:
        html = client.get(url).get_data(as_text=True)
        pages.append(tile_ids(html))
        url = link(html, rel)
        assert len(pages) < 20, "the links should come to an end"
    return pages


@pytest.mark.parametrize("sort", ["artist", "title", "year", "recent"])
def test_next_and_previous_links_visit_every_album_once_in_order(
    client: FlaskClient, sort: str
) -> None:
    varied_catalog()
    forward = walk(client, f"/catalog/?sort={sort}", "next")
    ids = [i for page in forward for i in page]
    assert [len(p) for p in forward] == [48, 48, 34]
    assert sorted(ids) == list(range(1, 131))  # every album once

    albums = {a.id: a for a in db.session.scalars(db.select(Album)).all()}
    no_year = 10_000

    def expected_key(i: int) -> tuple[Any, ...]:
        a = albums[i]
        year = a.year if a.year is not None else no_year
        return {
            "artist": (a.artist.name.casefold(), year, a.title_key, i),
            "title": (a.title_key, a.artist.name.casefold(), i),
            "year": (
                -a.year if a.year is not None else no_year,
                a.artist.name.casefold(),
                a.title_key,
                i,
            ),
            "recent": (-i,),
        }[sort]

    assert ids == sorted(ids, key=expected_key)

    last_page_url = f"/catalog/?sort={sort}&page=3"
    backward = walk(client, last_page_url, "prev")
    assert backward == forward[::-1]  # previous links retrace the same pages
    # A page-number link shows what the cursor walk showed.
    second = tile_ids(client.get(f"/catalog/?sort={sort}&page=2").get_data(as_text=True))
    assert second == forward[1]


def test_page_numbers_and_a_page_past_the_end(client: FlaskClient) -> None:
    varied_catalog(100)
    html = client.get("/catalog/").get_data(as_text=True)
    assert 'aria-current="page">1<' in html
    assert 'href="/catalog/?page=3"' in html  # the last page, by number
    next_page = client.get(link(html, "next") or "").get_data(as_text=True)
    assert 'aria-current="page">2<' in next_page
    assert "There is no page 9" in client.get("/catalog/?page=9").get_data(as_text=True)


def test_a_tampered_cursor_starts_from_the_first_page(client: FlaskClient) -> None:
    varied_catalog(60)
    first = tile_ids(client.get("/catalog/").get_data(as_text=True))
    crafted = [
        base64.urlsafe_b64encode(raw).decode().rstrip("=")
        for raw in (b'["\\ud800",1970,"x",5]', b"[" * 1500, b'["a",1e400,"x",5]')
    ]
    for cursor in (
        "",
        "%%%",
        "W10",
        "WyJhIiwxXQ",
        "eyJhIjoxfQ",
        "WzEsMiwzLDRd",
        "A" * 5000,
        *crafted,
    ):
        response = client.get("/catalog/", query_string={"after": cursor})
        assert response.status_code == 200
        assert tile_ids(response.get_data(as_text=True)) == first, cursor


def test_search_ignores_accents_and_case_and_ranks_best_matches_first(
    client: FlaskClient,
) -> None:
    import_rows(
        [
            ["Beyoncé", "Lemonade", "2016", "Pop"],
            ["Sigur Rós", "Ágætis byrjun", "1999", "Post-rock"],
            ["Zed", "Crushed Velvet", "2001", "Rock"],
            ["Aaron", "Redvelvet Cake", "2002", "Rock"],
            ["Mia", "Velvet Goldmine", "1998", "Rock"],
            ["Yves", "Velvet", "2003", "Rock"],
            ["The Velvet Underground", "Loaded", "1970", "Rock"],
        ]
    )

    def titles(q: str) -> list[str]:
        html = client.get("/catalog/", query_string={"q": q}).get_data(as_text=True)
        return re.findall(r'class="tile__link" href="[^"]*">(.*?)</a>', html)

    assert titles("beyonce") == ["Lemonade"]
    assert titles("BEYONCÉ lemonade") == ["Lemonade"]  # every word, title or artist
    assert titles("agaetis") == ["Ágætis byrjun"]
    assert titles("sigur ros") == ["Ágætis byrjun"]
    # exact title, then titles/artists starting with it, then a word, then inside a word
    assert titles("velvet") == [
        "Velvet",
        "Velvet Goldmine",
        "Loaded",
        "Crushed Velvet",
        "Redvelvet Cake",
    ]
    assert titles("100%") == []  # LIKE wildcards are literal
    assert search_fold("Beyoncé  Knowles") == "beyonce knowles"


@pytest.mark.parametrize("where", ["/catalog/", "/catalog/?page=2", "/catalog/?q=album"])
def test_sql_per_page_is_constant_and_totals_are_counted_once(
    client: FlaskClient, count_queries: Callable[[], Any], where: str
) -> None:
    varied_catalog(120)
    with count_queries() as first:
        html = client.get(where).get_data(as_text=True)
    assert tile_ids(html)
    # what the page's tiles show (sort keys alongside), the rows of the tiles not
    # rendered yet, the total, the genre menu; a first numbered page also stores the
    # order's ids (`app.catalog.orders`), a search counts in its page query
    expected = 5 if "page=" in where else (3 if "q=" in where else 4)
    assert len(first.statements) == expected, first.statements

    other = link(html, "next") or link(html, "prev")
    assert other is not None
    with count_queries() as then:
        assert tile_ids(client.get(other).get_data(as_text=True))
    # total and menu come from Redis; the new page's tiles are rendered (one query)
    assert len(then.statements) == 2, then.statements

    with count_queries() as again:
        client.get(where)
    assert again.statements == []  # the same page again: rendered once, served from Redis


def test_totals_and_pages_follow_an_import_at_once(client: FlaskClient) -> None:
    varied_catalog(10)
    assert 'data-total="10"' in client.get("/catalog/").get_data(as_text=True)
    import_rows([["New Artist", "New Album", "2020", "Jazz"]])
    html = client.get("/catalog/").get_data(as_text=True)
    assert 'data-total="11"' in html
    assert "Jazz (1)" in html  # the genre menu too
    add_album("Added by hand", "Someone")
    assert 'data-total="12"' in client.get("/catalog/").get_data(as_text=True)


def test_a_browser_revalidates_with_the_etag_until_a_cover_arrives(
    client: FlaskClient,
) -> None:
    varied_catalog(5)
    first = client.get("/catalog/")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    again = client.get("/catalog/", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    versions.bump("covers")  # what the worker does when it stores a cover
    changed = client.get("/catalog/", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag


def test_htmx_gets_only_the_part_it_swaps(client: FlaskClient) -> None:
    varied_catalog(60)
    headers = {"HX-Request": "true", "HX-Target": "results"}
    results = client.get("/catalog/?q=album", headers=headers).get_data(as_text=True)
    assert results.lstrip().startswith('<div id="results"')
    assert "<html" not in results
    assert 'data-total="60"' in results

    page = client.get("/catalog/").get_data(as_text=True)
    more = re.search(r'<a id="more" class="more" href="([^"]+)"', page)
    assert more is not None
    headers = {"HX-Request": "true", "HX-Target": "more"}
    tiles = client.get(html_lib.unescape(more.group(1)), headers=headers).get_data(as_text=True)
    assert tiles.lstrip().startswith('<article class="tile"')
    assert len(tile_ids(tiles)) == 12
    assert 'id="more"' not in tiles  # the last page: no more to load
    assert "<html" not in tiles
    assert "pager" not in tiles
