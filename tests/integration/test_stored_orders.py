"""Numbered pages from stored orders (`app.catalog.orders`): page N of any sort, genre
or artist is read from Redis, shows what walking the pages shows, and follows imports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import make_redis_client, set_redis
from tests.integration.test_catalog_paging import import_rows, link, tile_ids, varied_catalog


def walk_ids(client: FlaskClient, url: str) -> list[list[int]]:
    """Every page's tiles, following the "next" links (cursors, never page numbers)."""
    pages: list[list[int]] = []
    next_url: str | None = url
    while next_url is not None:
        html = client.get(next_url).get_data(as_text=True)
        pages.append(tile_ids(html))
        next_url = link(html, "next")
    return pages


def mixed_catalog() -> None:
    rows = [
        [f"Artist {n % 7}", f"Album {n:03d}", str(1970 + n % 9), "Jazz" if n % 3 else "Rock"]
        for n in range(160)
    ]
    import_rows(rows)


@pytest.mark.parametrize("sort", ["artist", "title", "year", "recent"])
@pytest.mark.parametrize("genre", ["", "Jazz"])
def test_every_numbered_page_shows_what_walking_the_pages_shows(
    client: FlaskClient, sort: str, genre: str
) -> None:
    mixed_catalog()
    base = f"/catalog/?sort={sort}" + (f"&genre={genre}" if genre else "")
    walked = walk_ids(client, base)
    assert len(walked) >= 2
    for number, expected in enumerate(walked, start=1):
        shown = tile_ids(client.get(f"{base}&page={number}").get_data(as_text=True))
        assert shown == expected, f"page {number}"
    past = client.get(f"{base}&page={len(walked) + 1}").get_data(as_text=True)
    assert tile_ids(past) == []


def test_a_deep_page_skips_no_rows_in_the_database(
    client: FlaskClient, count_queries: Callable[[], Any]
) -> None:
    mixed_catalog()
    client.get("/catalog/?sort=title&page=2")  # the first numbered page stores the order

    with count_queries() as counter:
        html = client.get("/catalog/?sort=title&page=4").get_data(as_text=True)

    assert len(tile_ids(html)) == 16  # 160 albums: 48 + 48 + 48 + 16
    assert not any("OFFSET" in s.upper() for s in counter.statements), counter.statements


def test_an_import_reorders_numbered_pages_at_once(client: FlaskClient) -> None:
    varied_catalog(100)
    before = tile_ids(client.get("/catalog/?sort=title&page=2").get_data(as_text=True))

    # Titles that sort before every other: page 2 now starts 48 albums earlier.
    import_rows([["Newcomer", f"Aaa {n:02d}", "2001", "Rock"] for n in range(48)])

    walked = walk_ids(client, "/catalog/?sort=title")
    after = tile_ids(client.get("/catalog/?sort=title&page=2").get_data(as_text=True))
    assert after == walked[1]
    assert after != before
    assert after[: len(before)] != before


def test_numbered_pages_work_without_redis(app: Flask, client: FlaskClient) -> None:
    mixed_catalog()
    walked = walk_ids(client, "/catalog/?sort=year")

    set_redis(app, make_redis_client("redis://127.0.0.1:1/0"))  # nothing listens there
    shown = tile_ids(client.get("/catalog/?sort=year&page=3").get_data(as_text=True))
    assert shown == walked[2]
