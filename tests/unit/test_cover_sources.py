"""The Deezer and MusicBrainz + Cover Art Archive sources: mapping, queries, failures."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from app.sources.base import AlbumQuery, SourceUnavailableError
from app.sources.deezer import DeezerSource
from app.sources.matching import Candidate
from app.sources.musicbrainz import CoverArtArchiveSource, user_agent
from app.spotify.models import Image

DEEZER = "https://deezer.example.test/"
DEEZER_SEARCH = DEEZER + "search/album"
MB = "https://mb.example.test/ws/2/"
MB_SEARCH = MB + "release-group/"
CAA = "http://127.0.0.1:5099/caa/"
MBID = "f5093c06-23e3-404f-aeaa-40f72885ee3a"
CONTACT = "catalog@example.test"
QUERY = AlbumQuery("Abbey Road", "The Beatles", 1969)


def deezer_item(**extra: Any) -> dict[str, Any]:
    base = "https://cdn-images.dzcdn.net/images/cover/abc/"
    return {
        "id": 302127,
        "title": "Abbey Road",
        "link": "https://www.deezer.com/album/302127",
        "cover_small": base + "56x56.jpg",
        "cover_medium": base + "250x250.jpg",
        "cover_big": base + "500x500.jpg",
        "cover_xl": base + "1000x1000.jpg",
        "md5_image": "abc",
        "artist": {"id": 1, "name": "The Beatles"},
        "record_type": "album",
        **extra,
    }


def sent_params(index: int = 0) -> dict[str, list[str]]:
    url = responses.calls[index].request.url
    assert url is not None
    return parse_qs(urlsplit(url).query)


def group(**extra: Any) -> dict[str, Any]:
    return {
        "id": MBID,
        "score": 100,
        "title": "Abbey Road",
        "primary-type": "Album",
        "first-release-date": "1969-09-26",
        "artist-credit": [{"name": "The Beatles", "artist": {"name": "The Beatles"}}],
        **extra,
    }


def caa_source() -> CoverArtArchiveSource:
    return CoverArtArchiveSource(CONTACT, musicbrainz_base=MB, caa_base=CAA, version="2.3")


def mb_candidate() -> Candidate:
    url = f"https://musicbrainz.org/release-group/{MBID}"
    return Candidate("coverartarchive", MBID, "Abbey Road", "The Beatles", 1969, (), url)


# Deezer


@responses.activate
def test_deezer_maps_search_results_widest_image_first() -> None:
    bare = deezer_item(id=2, cover_xl="", cover_big=None, cover_small="ftp://x/56.jpg")
    skipped = [deezer_item(id=None), deezer_item(title=""), deezer_item(artist={})]
    responses.get(DEEZER_SEARCH, json={"data": [deezer_item(), bare, *skipped], "total": 5})
    found = DeezerSource(DEEZER).candidates(QUERY)
    assert [c.ref for c in found] == ["302127", "2"]
    first = found[0]
    assert (first.source, first.title, first.artist, first.year) == (
        "deezer", "Abbey Road", "The Beatles", None,
    )  # fmt: skip
    assert first.url == "https://www.deezer.com/album/302127"
    assert [(i.width, i.height) for i in first.images] == [(1000, 1000), (500, 500), (250, 250),
                                                           (56, 56)]  # fmt: skip
    assert first.images[0].url.endswith("1000x1000.jpg")
    assert [i.width for i in found[1].images] == [250]  # only real http(s) URLs kept


@responses.activate
def test_deezer_query_names_artist_and_album_fields() -> None:
    responses.get(DEEZER_SEARCH, json={"data": [], "total": 0})
    DeezerSource(DEEZER).candidates(AlbumQuery('The "Best" Of', "Guns N' Roses"))
    params = sent_params()
    assert params["q"] == ['artist:"Guns N\' Roses" album:"The Best Of"']
    assert params["limit"] == ["10"]


@responses.activate
def test_deezer_quota_error_in_http_200_is_throttled() -> None:
    error = {"type": "Exception", "message": "Quota limit exceeded", "code": 4}
    responses.get(DEEZER_SEARCH, json={"error": error})
    with pytest.raises(SourceUnavailableError) as caught:
        DeezerSource(DEEZER).candidates(QUERY)
    assert caught.value.throttled
    assert caught.value.retry_after == 5.0


@responses.activate
def test_deezer_no_data_error_is_an_empty_answer() -> None:
    error = {"type": "DataException", "message": "no data", "code": 800}
    responses.get(DEEZER_SEARCH, json={"error": error})
    assert DeezerSource(DEEZER).candidates(QUERY) == []


@responses.activate
def test_deezer_429_uses_retry_after() -> None:
    responses.get(DEEZER_SEARCH, status=429, headers={"Retry-After": "7"})
    with pytest.raises(SourceUnavailableError) as caught:
        DeezerSource(DEEZER).candidates(QUERY)
    assert (caught.value.throttled, caught.value.retry_after) == (True, 7.0)


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500, "body": "oops"},
        {"body": requests.Timeout("slow")},
        {"body": requests.ConnectionError("refused")},
        {"status": 200, "body": "<html>not json</html>"},
    ],
    ids=["500", "timeout", "connection", "bad-json"],
)
def test_deezer_failures_are_not_throttling(answer: dict[str, Any]) -> None:
    with responses.RequestsMock() as mock:
        mock.get(DEEZER_SEARCH, **answer)
        with pytest.raises(SourceUnavailableError) as caught:
            DeezerSource(DEEZER).candidates(QUERY)
    assert not caught.value.throttled
    assert caught.value.retry_after == 10.0


def test_deezer_confirm_keeps_candidates_with_covers() -> None:
    source = DeezerSource(DEEZER)
    with_cover = Candidate("deezer", "1", "T", "A", images=(Image("https://x/1.jpg", 56, 56),))
    assert source.confirm(with_cover) is with_cover
    assert source.confirm(Candidate("deezer", "2", "T", "A")) is None


# MusicBrainz + Cover Art Archive


def test_user_agent_and_required_contact() -> None:
    assert user_agent(CONTACT, "2.3") == f"AlbumCatalog/2.3 ( {CONTACT} )"
    for contact in ("", "   "):
        with pytest.raises(ValueError, match="contact"):
            CoverArtArchiveSource(contact)


@responses.activate
def test_musicbrainz_request_headers_and_query() -> None:
    responses.get(MB_SEARCH, json={"release-groups": []})
    assert caa_source().candidates(AlbumQuery("Help!", "AC/DC")) == []
    request = responses.calls[0].request
    assert request.headers["User-Agent"] == f"AlbumCatalog/2.3 ( {CONTACT} )"
    assert request.headers["Accept"] == "application/json"
    params = sent_params()
    assert params["query"] == ['releasegroup:"Help\\!" AND artist:"AC\\/DC"']
    assert (params["fmt"], params["limit"]) == (["json"], ["10"])


@responses.activate
def test_musicbrainz_maps_release_groups() -> None:
    duo = [
        {"name": "Simon", "joinphrase": " & ", "artist": {"name": "Paul Simon"}},
        {"name": "Garfunkel", "artist": {"name": "Art Garfunkel"}},
    ]
    groups = [
        group(),
        group(id="b2", title="Bridge", **{"artist-credit": duo, "first-release-date": "1970"}),
        group(id="c3", **{"first-release-date": "", "secondary-types": ["Compilation"]}),
        group(id="d4", **{"secondary-types": ["Live"]}),
        group(id="e5", title="Live at Leeds", **{"secondary-types": ["Live"]}),
        group(id=None),
        group(id="f6", **{"artist-credit": []}),
    ]
    responses.get(MB_SEARCH, json={"release-groups": groups})
    found = caa_source().candidates(QUERY)
    assert [c.ref for c in found] == [MBID, "b2", "c3", "d4", "e5"]
    assert found[0] == mb_candidate()
    assert (found[1].artist, found[1].year) == ("Simon & Garfunkel", 1970)
    assert (found[2].title, found[2].year) == ("Abbey Road", None)
    assert found[3].title == "Abbey Road (Live)"
    assert found[4].title == "Live at Leeds"  # the word once: the matcher counts it


@pytest.mark.parametrize(
    ("status", "headers", "wait"), [(503, {}, 1.5), (503, {"Retry-After": "2"}, 2.0),
                                    (429, {}, 1.5)]
)  # fmt: skip
def test_musicbrainz_rate_limit_is_throttled(
    status: int, headers: dict[str, str], wait: float
) -> None:
    with responses.RequestsMock() as mock:
        mock.get(MB_SEARCH, status=status, headers=headers)
        with pytest.raises(SourceUnavailableError) as caught:
            caa_source().candidates(QUERY)
    assert (caught.value.throttled, caught.value.retry_after) == (True, wait)


@responses.activate
def test_musicbrainz_403_says_the_contact_was_refused() -> None:
    responses.get(MB_SEARCH, status=403, body="Your requests are blocked")
    with pytest.raises(SourceUnavailableError, match=r"refused the User-Agent.*contact") as caught:
        caa_source().candidates(QUERY)
    assert (caught.value.throttled, caught.value.retry_after) == (True, 3600)


@pytest.mark.parametrize(
    "answer",
    [{"status": 502}, {"body": requests.Timeout("slow")}, {"status": 200, "body": "{"}],
    ids=["502", "timeout", "bad-json"],
)
def test_musicbrainz_failures_are_not_throttling(answer: dict[str, Any]) -> None:
    with responses.RequestsMock() as mock:
        mock.get(MB_SEARCH, **answer)
        with pytest.raises(SourceUnavailableError) as caught:
            caa_source().candidates(QUERY)
    assert (caught.value.throttled, caught.value.retry_after) == (False, 10)


@responses.activate
def test_caa_redirect_means_front_art() -> None:
    front = f"{CAA}release-group/{MBID}/front-500"
    archive = "https://archive.org/download/mbid-x/mbid-x-1_thumb500.jpg"
    responses.get(front, status=307, headers={"Location": archive})
    confirmed = caa_source().confirm(mb_candidate())
    assert confirmed is not None
    assert confirmed.images == tuple(
        Image(f"{CAA}release-group/{MBID}/front-{size}", size, None) for size in (1200, 500, 250)
    )
    assert (confirmed.ref, confirmed.title, confirmed.year) == (MBID, "Abbey Road", 1969)
    assert len(responses.calls) == 1  # the redirect is not followed
    assert responses.calls[0].request.headers["User-Agent"] == user_agent(CONTACT, "2.3")


@responses.activate
def test_caa_404_means_no_art() -> None:
    responses.get(f"{CAA}release-group/{MBID}/front-500", status=404)
    assert caa_source().confirm(mb_candidate()) is None


@pytest.mark.parametrize(("status", "throttled"), [(503, True), (429, True), (500, False)])
def test_caa_failures(status: int, throttled: bool) -> None:
    with responses.RequestsMock() as mock:
        mock.get(f"{CAA}release-group/{MBID}/front-500", status=status)
        with pytest.raises(SourceUnavailableError) as caught:
            caa_source().confirm(mb_candidate())
    assert caught.value.throttled is throttled
