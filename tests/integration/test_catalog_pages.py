"""The album grid and the album page, as a visitor sees them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db, get_redis
from app.importer.service import run_import
from app.importer.sources import Table
from tests.helpers import add_album
from worker.heartbeat import Heartbeat, heartbeat_key


def tile_ids(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'data-album-id="(\d+)"', html)]


def tile_titles(html: str) -> list[str]:
    return re.findall(
        r'<h2 class="tile__title"><a class="tile__link" href="[^"]*">(.*?)</a></h2>', html
    )


def bulk_albums(count: int, *, genre: str = "Rock") -> None:
    records = [
        (i + 2, [f"Artist {i % 7:02d}", f"Album {i:03d}", str(1960 + i % 50), genre])
        for i in range(count)
    ]
    run_import(db.session(), Table(["Artist", "Album", "Year", "Genre"], records, "test"))


def test_root_redirects_to_catalog(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/catalog/")


def test_tiles_show_cover_states(client: FlaskClient) -> None:
    cached = add_album(
        "OK Computer",
        "Radiohead",
        spotify_id="6dVIqQ8qmQ5GBnJ9shOYGE",
        cover_url="https://i.scdn.co/image/ok",
    )
    waiting = add_album("Kid A", "Radiohead", spotify_id="6GjwtEZcfenmOf6l18N7T7")
    no_link = add_album("Homemade Tape", "Club Band")

    html = client.get("/catalog/").get_data(as_text=True)

    assert sorted(tile_ids(html)) == sorted([cached.id, waiting.id, no_link.id])
    tile = html.split(f'data-album-id="{cached.id}"')[1].split("</article>")[0]
    assert 'data-cover-state="ready"' in tile
    # the ~300 px image is the src; the srcset lets the browser pick, widest first
    assert 'src="https://i.scdn.co/image/ok"' in tile
    assert (
        'srcset="https://i.scdn.co/image/ok-640 640w, https://i.scdn.co/image/ok 300w, '
        'https://i.scdn.co/image/ok-64 64w"' in tile
    )
    assert 'alt="Cover of OK Computer by Radiohead"' in tile
    waiting_tile = html.split(f'data-album-id="{waiting.id}"')[1].split("</article>")[0]
    assert 'data-cover-state="pending"' in waiting_tile
    assert "<img" not in waiting_tile
    # An album without a link is looked for like any other (search, other sources).
    no_link_tile = html.split(f'data-album-id="{no_link.id}"')[1].split("</article>")[0]
    assert 'data-cover-state="pending"' in no_link_tile


def test_search_matches_title_or_artist_case_insensitively(client: FlaskClient) -> None:
    add_album("OK Computer", "Radiohead")
    add_album("Computer World", "Kraftwerk")
    add_album("Dummy", "Portishead")
    add_album("100% Pure", "Someone")

    assert sorted(tile_titles(client.get("/catalog/?q=computer").get_data(as_text=True))) == [
        "Computer World",
        "OK Computer",
    ]
    assert tile_titles(client.get("/catalog/?q=PORTIS").get_data(as_text=True)) == ["Dummy"]
    # % is a literal character, not a wildcard
    assert tile_titles(client.get("/catalog/?q=0%25").get_data(as_text=True)) == ["100% Pure"]
    assert "No albums found." in client.get("/catalog/?q=zzz").get_data(as_text=True)


def test_genre_and_artist_filters(client: FlaskClient) -> None:
    add_album("Dummy", "Portishead", genres=["Trip Hop"])
    add_album("Mezzanine", "Massive Attack", genres=["Trip Hop", "Electronic"])
    add_album("Homogenic", "Björk", genres=["Electronic"])

    html = client.get("/catalog/?genre=trip+hop").get_data(as_text=True)
    assert sorted(tile_titles(html)) == ["Dummy", "Mezzanine"]
    assert "2 albums" in html
    assert tile_titles(client.get("/catalog/?artist=BJÖRK").get_data(as_text=True)) == ["Homogenic"]
    both = client.get("/catalog/?genre=Electronic&artist=Massive+Attack").get_data(as_text=True)
    assert tile_titles(both) == ["Mezzanine"]


def test_sort_orders(client: FlaskClient) -> None:
    add_album("B Side", "Zed", year=1990)
    add_album("A Side", "Mid", year=2001)
    add_album("C Side", "Alpha", year=None)

    def order(sort: str) -> list[str]:
        return tile_titles(client.get(f"/catalog/?sort={sort}").get_data(as_text=True))

    assert order("artist") == ["C Side", "A Side", "B Side"]
    assert order("title") == ["A Side", "B Side", "C Side"]
    assert order("year") == ["A Side", "B Side", "C Side"]  # newest first, unknown last
    assert order("recent") == ["C Side", "A Side", "B Side"]
    assert order("nonsense") == order("artist")


def test_pagination_48_per_page(client: FlaskClient) -> None:
    bulk_albums(100)

    pages = [tile_ids(client.get(f"/catalog/?page={n}").get_data(as_text=True)) for n in (1, 2, 3)]

    assert [len(p) for p in pages] == [48, 48, 4]
    assert len(set(pages[0] + pages[1] + pages[2])) == 100
    html = client.get("/catalog/?page=9").get_data(as_text=True)
    assert "There is no page 9" in html
    assert client.get("/catalog/?page=abc").status_code == 200


def test_pagination_links_keep_filters(client: FlaskClient) -> None:
    bulk_albums(60, genre="Jazz")
    html = client.get("/catalog/?genre=Jazz&sort=title").get_data(as_text=True)
    assert 'href="/catalog/?page=2&amp;genre=Jazz&amp;sort=title"' in html
    assert re.search(
        r'rel="next" href="/catalog/\?after=[\w-]+&amp;page=2&amp;genre=Jazz&amp;sort=title"', html
    )


@pytest.mark.parametrize("count", [5, 48])
def test_constant_number_of_queries_per_page(
    client: FlaskClient, count_queries: Callable[[], Any], count: int
) -> None:
    bulk_albums(count)
    add_album("Cached", "Someone", genres=["Pop", "Rock"], cover_url="https://i.scdn.co/image/c")

    with count_queries() as counter:
        response = client.get("/catalog/")

    assert response.status_code == 200
    assert len(tile_ids(response.get_data(as_text=True))) == min(count + 1, 48)
    # what the tiles show + the rows of those not rendered yet + total + genre menu,
    # however many tiles
    assert counter.count == 4, counter.statements


def test_untrusted_titles_are_escaped(client: FlaskClient) -> None:
    album = add_album(
        "<script>alert(1)</script>", '"><img src=x onerror=alert(2)>', genres=["<b>g</b>"]
    )

    for url in ("/catalog/", f"/catalog/album/{album.id}/", "/catalog/?q=<script>"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_album_page_shows_stored_basics(client: FlaskClient) -> None:
    album = add_album(
        "Homogenic",
        "Björk",
        year=1997,
        genres=["Electronic", "Art Pop"],
        spotify_id="3JSUbhrhOyRrR3xQDNpVKq",
    )

    html = client.get(f"/catalog/album/{album.id}/").get_data(as_text=True)

    assert "<h1>Homogenic</h1>" in html
    assert "Björk" in html
    assert "<dd>1997</dd>" in html
    assert re.findall(r'class="chip"[^>]*>([^<]+)<', html) == ["Art Pop", "Electronic"]
    assert 'href="https://open.spotify.com/album/3JSUbhrhOyRrR3xQDNpVKq"' in html
    assert 'data-metadata-state="pending"' in html
    assert 'data-cover-state="pending"' in html


def test_album_without_spotify_link(client: FlaskClient) -> None:
    album = add_album("Demo", "Garage Band")
    html = client.get(f"/catalog/album/{album.id}/").get_data(as_text=True)
    assert 'data-metadata-state="pending"' in html  # looked for on Spotify first
    assert "Open on Spotify" not in html
    album.cover_status = "none"  # looked for everywhere: no Spotify album, no cover
    db.session.commit()
    html = client.get(f"/catalog/album/{album.id}/").get_data(as_text=True)
    assert 'data-metadata-state="no-spotify"' in html
    assert "Open on Spotify" not in html


def test_unknown_album_is_a_404_page(client: FlaskClient) -> None:
    response = client.get("/catalog/album/999999/")
    assert response.status_code == 404
    assert "There is no album with that number" in response.get_data(as_text=True)
    assert client.get("/catalog/album/abc/").status_code == 404


def test_healthz_reports_database_and_redis(app: Flask, client: FlaskClient) -> None:
    response = client.get("/healthz")
    body = response.get_json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert response.status_code == 200


def test_healthz_reads_worker_heartbeats(app: Flask, client: FlaskClient) -> None:
    assert client.get("/healthz").get_json()["checks"]["worker"] == "no worker heartbeat in 12 s"
    beat = Heartbeat(get_redis(), "w1@host", interval=5, key=heartbeat_key()).start()
    try:
        assert client.get("/healthz").get_json()["checks"]["worker"] == "ok (1 alive)"
    finally:
        beat.stop()  # a clean shutdown says goodbye at once
    assert client.get("/healthz").get_json()["checks"]["worker"].startswith("no worker")


def test_trusted_hosts_refuse_a_forged_host_header(app: Flask, client: FlaskClient) -> None:
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 302  # not set
    app.config["TRUSTED_HOSTS"] = ["catalog.example.org"]
    forged = client.get("/", headers={"Host": "evil.example"})
    assert forged.status_code == 400
    assert "evil.example" not in forged.headers.get("Location", "")
    assert client.get("/", headers={"Host": "catalog.example.org"}).status_code == 302
