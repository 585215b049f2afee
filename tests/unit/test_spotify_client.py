"""The Spotify client: classified errors, no hidden sleeping, paging, optional fields."""

from __future__ import annotations

import time
from typing import Any

import fakeredis
import pytest
import requests
import responses

from app.spotify.client import (
    BATCH_OFF_KEY,
    BATCH_PROBE_KEY,
    TOKEN_KEY,
    SpotifyClient,
    SpotifySettings,
)
from app.spotify.errors import (
    AlbumNotFoundError,
    AuthError,
    BatchUnavailableError,
    RateLimitedError,
    TransientError,
)
from app.spotify.images import image_allowed

API = "https://api.example.test/v1/"
TOKEN = "https://accounts.example.test/api/token"
ID = "4LH4d3cOWNNsVw41Gqt2kv"


def make_client(batch: str = "auto", redis_client: Any = None) -> SpotifyClient:
    settings = SpotifySettings("id", "secret", API, TOKEN, timeout=2, batch=batch)  # type: ignore[arg-type]
    return SpotifyClient(settings, redis_client=redis_client)


def token_ok() -> None:
    responses.post(TOKEN, json={"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})


def album_body(tracks: int = 3, **extra: Any) -> dict[str, Any]:
    items = [
        {"track_number": n, "name": f"T{n}", "duration_ms": 1000 * n} for n in range(1, tracks + 1)
    ]
    return {
        "id": ID,
        "name": "Dark Side",
        "images": [
            {"url": "https://i.scdn.co/image/64", "width": 64, "height": 64},
            {"url": "https://i.scdn.co/image/640", "width": 640, "height": 640},
            {"url": "https://i.scdn.co/image/300", "width": 300, "height": 300},
        ],
        "release_date": "1973-03-01",
        "total_tracks": tracks,
        "tracks": {
            "items": items[:50],
            "total": tracks,
            "next": API + "more" if tracks > 50 else None,
        },
        "genres": [],
        **extra,
    }


@responses.activate
def test_album_is_parsed_with_images_widest_first_and_optional_fields_absent() -> None:
    token_ok()
    responses.get(API + f"albums/{ID}", json=album_body())
    album = make_client().album(ID)
    assert album.name == "Dark Side"
    assert [i.width for i in album.images] == [640, 300, 64]
    assert [t.name for t in album.tracks] == ["T1", "T2", "T3"]
    meta = album.metadata_json()
    assert "label" not in meta
    assert "popularity" not in meta
    assert meta["spotify_url"] == f"https://open.spotify.com/album/{ID}"
    assert responses.calls[0].request.url == TOKEN


@responses.activate
def test_extended_fields_are_kept_when_present() -> None:
    token_ok()
    responses.get(
        API + f"albums/{ID}", json=album_body(label="Harvest", popularity=83, genres=["rock"])
    )
    meta = make_client().album(ID).metadata_json()
    assert (meta["label"], meta["popularity"], meta["genres"]) == ("Harvest", 83, ["rock"])


@responses.activate
def test_tracks_beyond_50_are_paged() -> None:
    token_ok()
    responses.get(API + f"albums/{ID}", json=album_body(tracks=120))
    page2 = [{"track_number": n, "name": f"T{n}"} for n in range(51, 101)]
    page3 = [{"track_number": n, "name": f"T{n}"} for n in range(101, 121)]
    responses.get(
        API + f"albums/{ID}/tracks/",
        match=[responses.matchers.query_param_matcher({"limit": "50", "offset": "50"})],
        json={"items": page2, "total": 120, "next": "x"},
    )
    responses.get(
        API + f"albums/{ID}/tracks/",
        match=[responses.matchers.query_param_matcher({"limit": "50", "offset": "100"})],
        json={"items": page3, "total": 120, "next": None},
    )
    album = make_client().album(ID)
    assert [t.number for t in album.tracks] == list(range(1, 121))


@pytest.mark.parametrize(
    ("status", "body", "headers", "error"),
    [
        (404, {"error": {"status": 404, "message": "Resource not found"}}, {}, AlbumNotFoundError),
        (400, {"error": {"status": 400, "message": "invalid id"}}, {}, AlbumNotFoundError),
        (500, {"error": {"status": 500, "message": "boom"}}, {}, TransientError),
        (502, "Bad gateway", {}, TransientError),
        (503, {"error": {"status": 503, "message": "down"}}, {}, TransientError),
    ],
)
@responses.activate
def test_errors_are_classified(
    status: int, body: Any, headers: dict[str, str], error: type
) -> None:
    token_ok()
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    responses.get(API + f"albums/{ID}", status=status, headers=headers, **kwargs)
    with pytest.raises(error):
        make_client().album(ID)
    assert len(responses.calls) == 2  # token + one call: spotipy retried nothing


@responses.activate
def test_429_is_reported_with_retry_after_and_nothing_sleeps() -> None:
    token_ok()
    responses.get(
        API + f"albums/{ID}",
        status=429,
        headers={"Retry-After": "3600"},
        json={"error": {"status": 429, "message": "API rate limit exceeded"}},
    )
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as info:
        make_client().album(ID)
    assert time.monotonic() - started < 1
    assert info.value.retry_after == 3600
    assert info.value.quota_exhausted  # an hour or more is the daily quota


@responses.activate
def test_quota_exceeded_reason_is_recognised() -> None:
    token_ok()
    responses.get(
        API + f"albums/{ID}",
        status=429,
        headers={"Retry-After": "30"},
        json={"error": {"status": 429, "message": "quota", "reason": "QUOTA_EXCEEDED"}},
    )
    with pytest.raises(RateLimitedError) as info:
        make_client().album(ID)
    assert info.value.retry_after == 30
    assert info.value.quota_exhausted


@pytest.mark.parametrize(
    "exc", [requests.exceptions.ReadTimeout("slow"), requests.exceptions.ConnectionError("refused")]
)
@responses.activate
def test_timeouts_and_connection_errors_are_transient(exc: Exception) -> None:
    token_ok()
    responses.get(API + f"albums/{ID}", body=exc)
    with pytest.raises(TransientError):
        make_client().album(ID)


@responses.activate
def test_refused_credentials_are_an_auth_error() -> None:
    responses.post(TOKEN, status=400, json={"error": "invalid_client"})
    with pytest.raises(AuthError):
        make_client().album(ID)


@responses.activate
def test_token_timeout_is_transient() -> None:
    responses.post(TOKEN, body=requests.exceptions.ConnectTimeout("token"))
    with pytest.raises(TransientError):
        make_client().album(ID)


@responses.activate
def test_token_is_kept_in_redis_and_reused() -> None:
    token = responses.post(
        TOKEN, json={"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}
    )
    responses.get(API + f"albums/{ID}", json=album_body())
    shared = fakeredis.FakeRedis()
    make_client(redis_client=shared).album(ID)
    make_client(redis_client=shared).album(ID)  # another worker
    assert token.call_count == 1


@responses.activate
def test_batch_403_switches_auto_mode_to_single_lookups_for_good() -> None:
    token_ok()
    batch = responses.get(
        API + "albums/", status=403, json={"error": {"status": 403, "message": "Forbidden"}}
    )
    shared = fakeredis.FakeRedis()
    client = make_client(redis_client=shared)
    assert client.batch_available()
    with pytest.raises(BatchUnavailableError):
        client.albums([ID])
    assert not client.batch_available()
    assert not make_client(redis_client=shared).batch_available()  # every worker knows
    assert shared.exists(BATCH_OFF_KEY)
    assert batch.call_count == 1


@responses.activate
def test_batch_returns_none_for_unknown_ids() -> None:
    token_ok()
    other = "0" * 22
    responses.get(API + "albums/", json={"albums": [album_body(), None]})
    found = make_client(batch="on").albums([ID, other])
    assert found[ID] is not None
    assert found[other] is None


def test_batch_off_and_on_modes() -> None:
    assert not make_client(batch="off").batch_available()
    assert make_client(batch="on").batch_available()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://i.scdn.co/image/ab67", True),
        ("http://i.scdn.co/image/ab67", False),  # https only
        ("https://evil.example/image/ab67", False),
        ("https://i.scdn.co.evil.example/x", False),
        ("javascript:alert(1)", False),
        ("http://127.0.0.1:8765/image/x/300", True),  # the simulator, allowed by origin
        ("http://127.0.0.1:9999/image/x/300", False),
        ("https://127.0.0.1:8765/image/x/300", False),
        # srcset injection: a space or comma would add a candidate from anywhere
        ("https://i.scdn.co/x 1w, https://evil.example/y", False),
        ("https://i.scdn.co/x,https://evil.example/y", False),
        ("https://i.scdn.co/x\thttps://evil.example/y", False),
        ("https://user:pass@i.scdn.co/x", False),
        ("https://i.scdn.co\\@evil.example/x", False),
    ],
)
def test_image_host_allow_list(url: str, allowed: bool) -> None:
    assert image_allowed(url, ("i.scdn.co", "http://127.0.0.1:8765")) is allowed


@responses.activate
def test_only_one_worker_probes_the_batch_endpoint_and_all_learn_the_answer() -> None:
    token_ok()
    batch = responses.get(API + "albums/", json={"albums": [None]})
    shared = fakeredis.FakeRedis()
    first, second = make_client(redis_client=shared), make_client(redis_client=shared)
    assert first.batch_available()  # it probes...
    assert not second.batch_available()  # ...the others wait, then look albums up one by one
    first.albums([ID])
    assert second.batch_available()  # extended quota: everyone batches from now on
    assert batch.call_count == 1


@responses.activate
def test_a_probe_taken_but_never_made_lets_the_next_caller_probe() -> None:
    """The prober's albums were fetched singly by others meanwhile: it makes no call.
    The others must not look albums up one by one until the probe key lapses."""
    token_ok()
    batch = responses.get(API + "albums/", json={"albums": [None]})
    shared = fakeredis.FakeRedis()
    first, second = make_client(redis_client=shared), make_client(redis_client=shared)
    assert first.batch_available()
    assert not second.batch_available()
    first.end_probe()
    assert second.batch_available()  # second probes now...
    first.end_probe()  # ...and a stale end from the first does not free second's probe
    assert not first.batch_available()
    second.albums([ID])
    second.end_probe()  # made: the answer stands
    assert first.batch_available()
    assert first.batch_confirmed()
    assert batch.call_count == 1


def test_error_text_is_scrubbed_of_credentials_and_bounded() -> None:
    echoed = (
        'Spotify answered 500: {"headers": {"Authorization": "Basic c2ltLWNsaWVudDpzZWNyZXQ="}, '
        '"access_token": "BQD-live-token", "note": "Bearer abc.def-123"}' + "x" * 1000
    )
    error = TransientError(echoed)
    assert "c2ltLWNsaWVudDpzZWNyZXQ" not in str(error)
    assert "BQD-live-token" not in str(error)
    assert "abc.def-123" not in str(error)
    assert "[redacted]" in str(error)
    assert len(str(error)) <= 300


@responses.activate
def test_the_cached_token_expires_with_its_expires_in() -> None:
    token_ok()
    responses.get(API + f"albums/{ID}", json=album_body())
    shared = fakeredis.FakeRedis()
    make_client(redis_client=shared).album(ID)
    assert 0 < int(shared.ttl(TOKEN_KEY)) <= 3600  # pyright: ignore[reportArgumentType]


@responses.activate
def test_a_batch_probe_that_fails_with_a_5xx_sends_everyone_to_single_lookups_for_now() -> None:
    """A probe that told nothing must not make the others wait for an answer that is not
    coming (with 30 % of answers failing, that stalled covers for 20 s): single lookups
    for a few seconds, then the next caller probes again."""
    token_ok()
    responses.get(API + "albums/", status=500, json={"error": {"status": 500}})
    shared = fakeredis.FakeRedis()
    first, second = make_client(redis_client=shared), make_client(redis_client=shared)
    assert first.batch_available()
    with pytest.raises(TransientError):
        first.albums([ID])
    assert not first.batch_available()
    assert not second.batch_available()  # at once, no waiting
    assert not second.batch_confirmed()
    shared.delete(BATCH_PROBE_KEY)  # the few seconds are over
    assert second.batch_available()  # the next probe
