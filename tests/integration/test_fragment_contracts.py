"""Contract of the cover-art and metadata routes, every status, HTML and JSON.

No worker and no Spotify here: the routes must answer from Redis or the database,
or queue a fetch, and never call Spotify themselves.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete

from app.cache.fetch_lock import lock_key
from app.cache.keys import entry_key
from app.extensions import db, get_redis, make_redis_client, set_redis
from app.models import Album, FetchStatus
from tests.helpers import add_album

ID = "4LH4d3cOWNNsVw41Gqt2kv"
COVER = "cover-art"
KINDS = [COVER, "metadata"]


def url(album_id: int, kind: str, fmt: str = "json") -> str:
    suffix = "?format=json" if fmt == "json" else ""
    return f"/catalog/album/{album_id}/{kind}/{suffix}"


def cached_album() -> Album:
    album = add_album(
        "Dark Side", "Pink Floyd", spotify_id=ID, cover_url="https://i.scdn.co/image/300"
    )
    album.spotify_metadata_json = {
        "name": "Dark Side",
        "release_date": "1973-03-01",
        "total_tracks": 2,
        "tracks": [
            {"number": 1, "name": "Speak to Me", "duration_ms": 67_000},
            {"number": 2, "name": "Breathe", "duration_ms": 169_000},
        ],
        "genres": [],
        "spotify_url": f"https://open.spotify.com/album/{ID}",
    }
    album.spotify_metadata_cached_at = datetime.now(UTC)
    album.spotify_fetch_status = FetchStatus.OK.value
    db.session.commit()
    return album


def test_ready_cover_json(client: FlaskClient) -> None:
    album = cached_album()
    response = client.get(url(album.id, "cover-art"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["album_id"] == album.id
    assert body["cover_url"] == "https://i.scdn.co/image/300"
    assert [i["width"] for i in body["images"]] == [640, 300, 64]
    assert datetime.fromisoformat(body["cached_at"]).tzinfo is not None  # UTC on every database


def test_ready_metadata_json(client: FlaskClient) -> None:
    album = cached_album()
    body = client.get(url(album.id, "metadata")).get_json()
    assert body["status"] == "ready"
    assert [t["name"] for t in body["metadata"]["tracks"]] == ["Speak to Me", "Breathe"]
    assert body["metadata"]["spotify_url"] == f"https://open.spotify.com/album/{ID}"


def test_ready_html_fragments(client: FlaskClient) -> None:
    album = cached_album()
    cover = client.get(url(album.id, "cover-art", "html"))
    html = cover.get_data(as_text=True)
    assert cover.headers["HX-Trigger"] == "cover-art-loaded"
    assert html.lstrip().startswith('<div class="cover cover--ready" data-cover-state="ready"')
    assert 'src="https://i.scdn.co/image/300"' in html
    assert 'alt="Cover of Dark Side by Pink Floyd"' in html
    meta = client.get(url(album.id, "metadata", "html")).get_data(as_text=True)
    assert 'data-metadata-state="ready"' in meta
    assert "Breathe" in meta
    assert "2:49" in meta  # 169 s


def test_second_lookup_comes_from_redis(app: Flask, client: FlaskClient) -> None:
    album_id = cached_album().id
    client.get(url(album_id, "cover-art"))  # database hit, backfills Redis
    assert get_redis().exists(entry_key(album_id, "cover"))
    # Gone from the database, still answered to a page that names the Spotify id it
    # was rendered with (as every tile does): that lookup never reached the database.
    db.session.execute(delete(Album).where(Album.id == album_id))
    db.session.commit()
    with_sid = client.get(url(album_id, "cover-art") + f"&sid={ID}")
    assert with_sid.get_json()["status"] == "ready"
    # Without it the row decides whether the entry is still this album's: it is gone.
    assert client.get(url(album_id, "cover-art")).status_code == 404


@pytest.mark.parametrize("kind", KINDS)
def test_cold_album_is_pending_with_retry_after_and_queues_one_fetch(
    client: FlaskClient, kind: str
) -> None:
    album = add_album("Kid A", "Radiohead", spotify_id=ID)
    responses = [client.get(url(album.id, kind)) for _ in range(5)]
    for response in responses:
        assert response.status_code == 202
        assert response.get_json() == {"album_id": album.id, "status": "pending", "retry_after": 1}
        assert response.headers["Retry-After"] == "1"
    # single flight: five requests, one lock, one queued task
    assert get_redis().get(lock_key(album.id)) == b"queued"


@pytest.mark.parametrize("kind", KINDS)
def test_pending_html_polls_with_growing_delay_and_never_gives_up(
    client: FlaskClient, kind: str
) -> None:
    album = add_album("Kid A", "Radiohead", spotify_id=ID)
    first = client.get(url(album.id, kind, "html")).get_data(as_text=True)
    state = "data-cover-state" if kind == "cover-art" else "data-metadata-state"
    assert f'{state}="pending"' in first
    # The next poll names the Spotify id it expects (a Redis entry for another is ignored).
    assert f'hx-get="/catalog/album/{album.id}/{kind}/?sid={ID}&amp;attempt=1"' in first
    assert 'hx-trigger="load delay:250ms"' in first
    steady = client.get(url(album.id, kind, "html") + "?attempt=5").get_data(as_text=True)
    assert 'hx-trigger="load delay:250ms"' in steady  # the first two seconds: every 250 ms
    later = client.get(url(album.id, kind, "html") + "?attempt=10").get_data(as_text=True)
    assert 'hx-trigger="load delay:549ms"' in later  # then backing off: 250 ms x 1.3^3
    # The server still says a fetch is scheduled: the fragment keeps asking, every 3 s.
    still = client.get(url(album.id, kind, "html") + "?attempt=60").get_data(as_text=True)
    assert f'{state}="pending"' in still
    assert 'hx-trigger="load delay:3000ms"' in still


@pytest.mark.parametrize("kind", KINDS)
def test_not_found_is_unavailable_and_not_retried(client: FlaskClient, kind: str) -> None:
    album = add_album("Ghost", "Nobody", spotify_id=ID)
    album.spotify_fetch_status = FetchStatus.NOT_FOUND.value
    album.spotify_next_retry_at = datetime.now(UTC) + timedelta(days=7)
    album.cover_status = "none"  # ...and no other source had a cover either
    album.cover_retry_at = datetime.now(UTC) + timedelta(days=14)
    db.session.commit()
    body = client.get(url(album.id, kind)).get_json()
    assert body == {"album_id": album.id, "status": "unavailable", "reason": "not_found"}
    assert not get_redis().exists(lock_key(album.id))  # nothing queued


@pytest.mark.parametrize("kind", KINDS)
def test_temporary_failure_is_unavailable_until_its_retry_time(
    client: FlaskClient, kind: str
) -> None:
    album = add_album("Flaky", "Somebody", spotify_id=ID)
    album.spotify_fetch_status = FetchStatus.ERROR.value
    album.spotify_next_retry_at = datetime.now(UTC) + timedelta(seconds=120)
    album.cover_status = "error"  # as the worker writes a failure of a cover-less album
    album.cover_retry_at = album.spotify_next_retry_at
    db.session.commit()
    response = client.get(url(album.id, kind))
    body = response.get_json()
    assert response.status_code == 200
    assert (body["status"], body["reason"]) == ("unavailable", "error")
    assert 100 < body["retry_after"] <= 121
    html = client.get(url(album.id, kind, "html")).get_data(as_text=True)
    assert "Try again" in html

    album.spotify_next_retry_at = datetime.now(UTC) - timedelta(seconds=1)
    album.cover_retry_at = album.spotify_next_retry_at
    db.session.commit()
    get_redis().flushall()
    assert client.get(url(album.id, kind)).status_code == 202  # its time has come


@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_album_polls_at_its_retry_time_and_try_again_fetches_now(
    client: FlaskClient, kind: str
) -> None:
    album = add_album("Flaky", "Somebody", spotify_id=ID)
    album.spotify_fetch_status = FetchStatus.ERROR.value
    album.spotify_next_retry_at = datetime.now(UTC) + timedelta(seconds=20)
    album.cover_status = "error"
    album.cover_retry_at = album.spotify_next_retry_at
    db.session.commit()
    html = client.get(url(album.id, kind, "html")).get_data(as_text=True)
    assert "retrying in 20 s" in html  # says what is happening, and when
    assert re.search(r'hx-trigger="load delay:(19|20)\d\d\dms"', html)  # asks again then
    assert not get_redis().exists(lock_key(album.id))
    # "Try again": a fetch now, not after the retry time; the fragment is pending at once.
    again = client.get(url(album.id, kind, "html") + "?retry=1").get_data(as_text=True)
    state = "data-cover-state" if kind == COVER else "data-metadata-state"
    assert f'{state}="pending"' in again
    assert get_redis().get(lock_key(album.id)) == b"queued"
    body = client.get(url(album.id, kind)).get_json()
    assert body["status"] == "pending"  # while the fetch is under way


@pytest.mark.parametrize("kind", KINDS)
def test_no_spotify_link_is_looked_for_then_says_so(client: FlaskClient, kind: str) -> None:
    album = add_album("Demo Tape", "Garage Band")
    # No link: queued like any miss (Spotify search, then the other sources).
    response = client.get(url(album.id, kind))
    assert response.status_code == 202
    assert response.get_json()["status"] == "pending"
    album.cover_status = "none"  # every source answered: nobody has it
    album.cover_retry_at = datetime.now(UTC) + timedelta(days=14)
    db.session.commit()
    get_redis().flushall()
    cover = kind == COVER
    expected = (
        {"status": "unavailable", "reason": "not_found"} if cover else {"status": "no_spotify"}
    )
    assert client.get(url(album.id, kind)).get_json() == {"album_id": album.id, **expected}
    html = client.get(url(album.id, kind, "html")).get_data(as_text=True)
    assert ('data-cover-state="unavailable"' if cover else "no-spotify") in html


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_album_is_404(client: FlaskClient, kind: str) -> None:
    response = client.get(url(424242, kind))
    assert response.status_code == 404
    assert response.get_json() == {"error": "album_not_found"}
    html = client.get(url(424242, kind, "html"))
    assert html.status_code == 404
    assert html.mimetype == "text/html"
    # The fragment of its own kind, so the page's swap target keeps its state attribute.
    state = "data-cover-state" if kind == "cover-art" else "data-metadata-state"
    assert f'{state}="unavailable"' in html.get_data(as_text=True)


@pytest.mark.parametrize("kind", KINDS)
def test_redis_down_answers_from_the_database_never_500(
    app: Flask, client: FlaskClient, kind: str
) -> None:
    cached = cached_album()
    cold = add_album("Kid A", "Radiohead", spotify_id="6GjwtEZcfenmOf6l18N7T7")
    set_redis(app, make_redis_client("redis://127.0.0.1:1/0"))  # nothing listens there
    assert client.get(url(cached.id, kind)).get_json()["status"] == "ready"
    assert client.get(url(cold.id, kind)).status_code == 202
    assert client.get(url(cold.id, kind, "html")).status_code == 200
    assert client.get("/catalog/").status_code == 200
    assert client.get(f"/catalog/album/{cold.id}/").status_code == 200


def test_stale_cover_is_served_and_refreshed_in_the_background(client: FlaskClient) -> None:
    album = cached_album()
    album.cover_cached_at = datetime.now(UTC) - timedelta(days=90)
    db.session.commit()
    body = client.get(url(album.id, "cover-art")).get_json()
    assert body["status"] == "ready"
    assert get_redis().get(lock_key(album.id)) == b"queued"


def test_cover_from_a_host_not_allowed_is_not_shown(client: FlaskClient) -> None:
    album = add_album("Odd", "Host", spotify_id=ID, cover_url="https://evil.example/cover.jpg")
    html = client.get(url(album.id, "cover-art", "html")).get_data(as_text=True)
    assert "evil.example" not in html
    page = client.get("/catalog/").get_data(as_text=True)
    assert "evil.example" not in page


def test_catalog_tiles_wait_for_the_pages_one_poll(client: FlaskClient) -> None:
    """A tile does not poll by itself: it names itself to the page's poller, which asks
    for every waiting cover in view at once (one request a poll, not one a tile)."""
    cold = add_album("Kid A", "Radiohead", spotify_id=ID)
    html = client.get("/catalog/").get_data(as_text=True)
    tile = html.split(f'data-album-id="{cold.id}"')[1].split("</article>")[0]
    assert f'id="cover-{cold.id}"' in tile
    assert f'data-poll="{cold.id}:{ID}"' in tile
    assert "hx-get" not in tile
    assert 'id="cover-poller"' in html
    assert 'hx-get="/catalog/covers/"' in html


def test_the_page_poll_swaps_ready_covers_and_names_the_ones_still_waiting(
    client: FlaskClient,
) -> None:
    ready = cached_album()
    cold = add_album("Kid A", "Radiohead", spotify_id="6GjwtEZcfenmOf6l18N7T7")
    nothing = add_album("Lost", "Nobody")
    nothing.cover_status = "none"
    db.session.commit()
    ids = f"{ready.id}:{ID},{cold.id}:6GjwtEZcfenmOf6l18N7T7,{nothing.id},bogus,-3"
    response = client.get(f"/catalog/covers/?ids={ids}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # Out-of-band swaps by id: the ready cover with its image, the one no source has.
    assert re.search(rf'id="cover-{ready.id}" hx-swap-oob="true"', html)
    assert "https://i.scdn.co/image/300" in html
    assert re.search(rf'id="cover-{nothing.id}" hx-swap-oob="true"', html)
    assert "No cover found" in html
    assert f'id="cover-{cold.id}"' not in html  # still loading: nothing to swap yet
    assert response.headers["X-Pending"] == f"{cold.id}:6GjwtEZcfenmOf6l18N7T7"
    assert response.headers["X-Next-Poll-Ms"] == "250"
    # The poll counts as an ask: the cold album's fetch is queued, once.
    assert get_redis().get(lock_key(cold.id)) == b"queued"
    later = client.get(f"/catalog/covers/?ids={cold.id}:6GjwtEZcfenmOf6l18N7T7&attempt=60")
    assert later.headers["X-Next-Poll-Ms"] == "3000"  # backing off, never giving up
    assert later.headers["X-Pending"] == f"{cold.id}:6GjwtEZcfenmOf6l18N7T7"
