"""Tiles rendered once and reused (`app.catalog.tiles`): a page of ready covers reads
no album rows, and whatever a tile shows still changes the moment its album does."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db, make_redis_client, set_redis
from app.models import Album
from tests.helpers import add_album

TILE = re.compile(r'<article class="tile" data-album-id="(\d+)"[^>]*>.*?</article>', re.S)


@pytest.fixture
def fresh_pages(app: Flask) -> None:
    """No rendered-page cache: every request renders its page (tiles may come cached)."""
    app.config["CATALOG_PAGE_CACHE_SECONDS"] = 0


def tiles(html: str) -> dict[int, str]:
    """Each tile's markup by album id, without the page's URL (only the first has it)."""
    found = {int(m.group(1)): m.group(0) for m in TILE.finditer(html)}
    return {k: re.sub(r' data-page-url="[^"]*"', "", v) for k, v in found.items()}


def ready_albums(count: int) -> list[Album]:
    albums = [
        add_album(f"Title {i:02d}", f"Band {i % 3}", year=1990 + i,
                  cover_url=f"https://i.scdn.co/image/c{i}")
        for i in range(count)
    ]  # fmt: skip
    db.session.commit()
    return albums


@pytest.mark.usefixtures("fresh_pages")
def test_a_second_page_of_ready_tiles_reads_no_album_rows(
    client: FlaskClient, count_queries: Callable[[], Any]
) -> None:
    ready_albums(12)
    first = tiles(client.get("/catalog/").get_data(as_text=True))

    with count_queries() as counter:
        # Another URL nobody asked before, showing the same albums in another order.
        again = tiles(client.get("/catalog/?sort=title").get_data(as_text=True))

    assert again == first
    assert len(again) == 12
    # The page's rows (what tiles show) only: total and genre menu are cached, and no
    # album row is loaded, no tile rendered.
    assert not any("spotify_metadata" in s for s in counter.statements)
    assert counter.count == 1, counter.statements


@pytest.mark.usefixtures("fresh_pages")
def test_a_new_cover_a_new_title_or_a_new_link_is_shown_at_once(client: FlaskClient) -> None:
    album, other = ready_albums(2)
    client.get("/catalog/")  # both tiles rendered and kept

    album.cover_url = "https://i.scdn.co/image/replaced"
    album.cover_images = None
    album.cover_cached_at = datetime.now(UTC)
    other.spotify_album_id = "4aawyAB9vmqN3uQ7FjRGTy"
    db.session.commit()

    shown = tiles(client.get("/catalog/").get_data(as_text=True))
    assert "https://i.scdn.co/image/replaced" in shown[album.id]
    assert "https://open.spotify.com/album/4aawyAB9vmqN3uQ7FjRGTy" in shown[other.id]


@pytest.mark.usefixtures("fresh_pages")
def test_a_tile_waiting_for_its_cover_is_never_served_stale(client: FlaskClient) -> None:
    album = add_album("Still Looking", "Nobody Yet")
    db.session.commit()
    assert (
        'data-cover-state="pending"'
        in tiles(client.get("/catalog/").get_data(as_text=True))[album.id]
    )

    album.cover_url = "https://i.scdn.co/image/found"
    album.cover_cached_at = datetime.now(UTC)
    db.session.commit()

    tile = tiles(client.get("/catalog/").get_data(as_text=True))[album.id]
    assert 'data-cover-state="ready"' in tile
    assert "https://i.scdn.co/image/found" in tile


@pytest.mark.usefixtures("fresh_pages")
def test_each_page_s_first_tile_carries_that_page_s_url(client: FlaskClient) -> None:
    ready_albums(3)
    client.get("/catalog/")  # tiles cached with no page URL in them

    html = client.get("/catalog/?sort=year").get_data(as_text=True)

    urls = re.findall(r'data-page-url="([^"]*)"', html)
    assert urls == ["/catalog/?sort=year"]
    first = TILE.search(html)
    assert first is not None
    assert 'data-page-url="/catalog/?sort=year"' in first.group(0)


@pytest.mark.usefixtures("fresh_pages")
def test_tiles_render_without_redis(app: Flask, client: FlaskClient) -> None:
    ready_albums(2)

    set_redis(app, make_redis_client("redis://127.0.0.1:1/0"))  # nothing listens there
    response = client.get("/catalog/")
    assert response.status_code == 200
    assert len(tiles(response.get_data(as_text=True))) == 2
