"""The cover-source simulators (Spotify search, Deezer, MusicBrainz + CAA) and their rule.

Each sim runs for real on a free port and is spoken to over HTTP, as the app will.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tools import source_catalog as sc
from tools.deezer_sim import SimServer as DeezerSim
from tools.musicbrainz_sim import SimServer as MusicBrainzSim
from tools.spotify_sim import SimServer as SpotifySim

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample_albums.csv"
GOOD_UA = {"User-Agent": "AlbumCatalog/1.0 ( someone@example.org )"}
ALBUM = {"artist": "Sigur Rós", "title": "Ágætis byrjun", "year": 1999, "upc": "012345678905"}
# An album in no catalog: what a sim knows of it comes from /_sim/albums only.
MADE_UP = {"artist": "The Quiet Orchards", "title": "Lanterns Over Kessel", "year": 2004}


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def spotify() -> Iterator[SpotifySim]:
    with SpotifySim(port=0) as sim:
        yield sim


@pytest.fixture
def spotify_sample() -> Iterator[SpotifySim]:
    with SpotifySim(port=0, catalog_csv=SAMPLE) as sim:
        yield sim


@pytest.fixture
def deezer() -> Iterator[DeezerSim]:
    with DeezerSim(port=0, catalog_csv=SAMPLE) as sim:
        yield sim


@pytest.fixture
def musicbrainz() -> Iterator[MusicBrainzSim]:
    # No rate limit unless a test turns it on: the other tests are about answers.
    with MusicBrainzSim(port=0, catalog_csv=SAMPLE) as sim:
        sim.state.update(rate_per_sec=None)
        yield sim


def spotify_headers(sim: SpotifySim) -> dict[str, str]:
    answer = requests.post(
        sim.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "sim-client",
            "client_secret": "sim-secret",
        },
        timeout=5,
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def spotify_search(sim: SpotifySim, q: str | None, **params: Any) -> requests.Response:
    query: dict[str, Any] = {"type": "album", **params}
    if q is not None:
        query["q"] = q
    return requests.get(
        f"{sim.api_base}search", params=query, headers=spotify_headers(sim), timeout=5
    )


def add(sim_url: str, *albums: dict[str, Any]) -> list[dict[str, Any]]:
    answer = requests.post(f"{sim_url}_sim/albums", json=list(albums), timeout=5)
    assert answer.status_code == 200
    return answer.json()["added"]


def forget(sim_url: str, *albums: dict[str, Any]) -> int:
    answer = requests.post(f"{sim_url}_sim/forget", json=list(albums), timeout=5)
    assert answer.status_code == 200
    return answer.json()["forgotten"]


def names(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(i["name"], i["artists"][0]["name"]) for i in items]


# --- the shared rule ------------------------------------------------------------------------


def test_port_zero_reports_the_real_port(
    spotify: SpotifySim, deezer: DeezerSim, musicbrainz: MusicBrainzSim
) -> None:
    for url in (spotify.url, deezer.url, musicbrainz.url):
        assert not url.endswith(":0/")
        assert requests.get(f"{url}_sim/calls", timeout=5).status_code == 200
    assert musicbrainz.api_base == f"{musicbrainz.url}ws/2/"
    assert musicbrainz.caa_base == f"{musicbrainz.url}caa/"


def test_rule_is_deterministic_and_ignores_spelling() -> None:
    rows = sc.load_rows(SAMPLE)
    first = [sc.coverage(r.artist, r.title) for r in rows]
    assert first == [sc.coverage(r.artist, r.title) for r in rows]
    assert sc.coverage("The Beatles", "Abbey Road") == sc.coverage("THE BEATLES ", "abbey  road")
    assert sc.coverage("Sigur Rós", "Ágætis byrjun") == sc.coverage("sigur ros", "Agaetis Byrjun")
    # Same inputs, same ids, in every run.
    assert sc.uuid_id("x") == sc.uuid_id("x")
    assert len(sc.uuid_id("x")) == 36
    assert sc.make_upc("k") == sc.make_upc("k")


def test_spotify_ids_are_the_sample_links() -> None:
    """data/README.md's rule: base62 of sha256("<artist>|<title>"), 22 characters."""
    rows = [r for r in sc.load_rows(SAMPLE) if "open.spotify.com/album/" in r.link]
    assert len(rows) == 217  # the other 27 rows have no usable link, as clubs' sheets do
    for row in rows:
        album_id = sc.base62_id(f"{row.artist}|{row.title}")
        assert len(album_id) == 22
        assert row.link.endswith(f"/album/{album_id}")


def test_shares_over_the_sample_are_roughly_as_specified() -> None:
    shares = sc.shares(sc.load_rows(SAMPLE))
    assert shares["albums"] == 244
    assert 0.50 <= shares["spotify"] <= 0.70
    assert 0.70 <= shares["deezer"] <= 0.90
    assert 0.65 <= shares["deezer_of_rest"] <= 0.95
    assert 0.60 <= shares["cover_art"] <= 0.80
    assert 0.10 <= shares["mb_artless"] <= 0.30
    # Only ~14 albums are left for the CAA step: a wide band.
    assert 0.40 <= shares["cover_art_of_rest"] <= 1.0
    assert shares["nowhere"] <= 0.06


def test_each_sim_knows_its_share_of_the_catalog(
    spotify_sample: SpotifySim, deezer: DeezerSim, musicbrainz: MusicBrainzSim
) -> None:
    rows = sc.load_rows(SAMPLE)
    for url, source in (
        (spotify_sample.url, "spotify"),
        (deezer.url, "deezer"),
        (musicbrainz.url, "musicbrainz"),
    ):
        known = requests.get(f"{url}_sim/albums", timeout=5).json()
        expected = {
            sc.album_key(r.artist, r.title)
            for r in rows
            if getattr(sc.coverage(r.artist, r.title), source)
        }
        assert {sc.album_key(a["artist"], a["title"]) for a in known} == expected
    groups = requests.get(f"{musicbrainz.url}_sim/albums", timeout=5).json()
    for group in groups:
        assert group["has_art"] == sc.coverage(group["artist"], group["title"]).cover_art
    assert any(not g["has_art"] for g in groups)


# --- Spotify search ---------------------------------------------------------------------------


def test_spotify_search_paging_limits(spotify: SpotifySim) -> None:
    add(spotify.url, ALBUM)
    too_many = spotify_search(spotify, "album:byrjun", limit=11)
    assert too_many.status_code == 400
    assert too_many.json() == {"error": {"status": 400, "message": "Invalid limit"}}
    assert spotify_search(spotify, "byrjun", limit=0).status_code == 400
    assert spotify_search(spotify, "byrjun", limit="x").status_code == 400
    page = spotify_search(spotify, "byrjun", limit=10).json()["albums"]
    assert page["limit"] == 10
    default = spotify_search(spotify, "byrjun").json()["albums"]
    assert default["limit"] == 5
    assert len(default["items"]) == 5
    assert default["total"] == 7  # the album and its six decoys
    assert default["next"] is not None
    assert default["previous"] is None
    rest = spotify_search(spotify, "byrjun", offset=5).json()["albums"]
    assert len(rest["items"]) == 2
    assert rest["next"] is None
    assert rest["previous"] is not None
    # The next link works as given.
    following = requests.get(default["next"], headers=spotify_headers(spotify), timeout=5)
    assert following.json()["albums"]["items"] == rest["items"]


def test_spotify_search_refuses_bad_requests(spotify: SpotifySim) -> None:
    missing = spotify_search(spotify, None)
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "No search query"
    assert spotify_search(spotify, "x", type="artist").status_code == 400
    assert spotify_search(spotify, "x", type="nonsense").status_code == 400
    unauthorised = requests.get(
        f"{spotify.api_base}search", params={"q": "x", "type": "album"}, timeout=5
    )
    assert unauthorised.status_code == 401


def test_spotify_field_filters_find_the_album_among_decoys(spotify: SpotifySim) -> None:
    add(spotify.url, ALBUM, MADE_UP)
    answer = spotify_search(spotify, 'album:"agaetis byrjun" artist:"Sigur Ros"', limit=10)
    assert answer.status_code == 200
    found = names(answer.json()["albums"]["items"])
    assert ("Ágætis byrjun", "Sigur Rós") in found
    titles = [title for title, _ in found]
    assert "Ágætis byrjun (Live)" in titles
    assert any(t.startswith("Ágætis byrjun (Remastered ") for t in titles)
    assert ("Ágætis byrjun - Karaoke Version", "Karaoke Stars") in found
    assert ("Ágætis byrjun", "A Tribute to Sigur Rós") in found
    assert any(artist == "Various Artists" for _, artist in found)
    assert all("Lanterns" not in t for t in titles)
    # Without the artist filter, the same title by another act turns up too.
    by_title = names(spotify_search(spotify, "album:Ágætis", limit=10).json()["albums"]["items"])
    assert any(t == "Ágætis byrjun" and a not in ("Sigur Rós", "A Tribute to Sigur Rós")
               for t, a in by_title)  # fmt: skip
    # year: keeps the original and drops the later remaster; ranges work; upc is exact.
    in_1999 = names(spotify_search(spotify, "byrjun year:1999", limit=10).json()["albums"]["items"])
    assert ("Ágætis byrjun", "Sigur Rós") in in_1999
    assert all("Remastered" not in t for t, _ in in_1999)
    ranged = spotify_search(spotify, "album:byrjun year:1995-2000", limit=10).json()
    assert ("Ágætis byrjun", "Sigur Rós") in names(ranged["albums"]["items"])
    by_upc = spotify_search(spotify, "upc:012345678905").json()["albums"]["items"]
    assert names(by_upc) == [("Ágætis byrjun", "Sigur Rós")]
    # Loose: words of a filter are contained in the field, unquoted filters take one word.
    loose = spotify_search(spotify, "album:lantern artist:orchards", limit=10).json()
    assert ("Lanterns Over Kessel", "The Quiet Orchards") in names(loose["albums"]["items"])
    assert spotify_search(spotify, 'artist:"nobody here"').json()["albums"]["total"] == 0


def test_spotify_search_item_shape(spotify: SpotifySim) -> None:
    add(spotify.url, MADE_UP)
    items = spotify_search(spotify, 'album:"Lanterns Over Kessel"', limit=10).json()
    item = next(i for i in items["albums"]["items"] if i["name"] == "Lanterns Over Kessel")
    assert set(item) >= {
        "id", "name", "album_type", "artists", "images", "release_date",
        "release_date_precision", "total_tracks", "type", "uri", "external_urls",
    }  # fmt: skip
    assert len(item["id"]) == 22
    assert item["id"].isalnum()
    assert item["uri"] == f"spotify:album:{item['id']}"
    assert item["external_urls"]["spotify"] == f"https://open.spotify.com/album/{item['id']}"
    artist = item["artists"][0]
    assert set(artist) >= {"id", "name", "type", "uri", "external_urls"}
    assert artist["type"] == "artist"
    assert [(i["width"], i["height"]) for i in item["images"]] == [(640, 640), (300, 300), (64, 64)]
    cover = requests.get(item["images"][1]["url"], timeout=5)
    assert cover.status_code == 200
    assert cover.headers["Content-Type"].startswith("image/svg+xml")
    assert item["release_date"].startswith("2004-")


def test_spotify_search_hits_resolve_as_albums(spotify: SpotifySim) -> None:
    add(spotify.url, ALBUM)
    headers = spotify_headers(spotify)
    items = spotify_search(spotify, "byrjun", limit=10).json()["albums"]["items"]
    for item in items:
        album = requests.get(f"{spotify.api_base}albums/{item['id']}", headers=headers, timeout=5)
        assert album.status_code == 200
        body = album.json()
        assert body["name"] == item["name"]
        assert body["artists"][0]["name"] == item["artists"][0]["name"]
        assert body["release_date"] == item["release_date"]
        assert body["total_tracks"] == item["total_tracks"]
        assert body["tracks"]["total"] == item["total_tracks"]
        assert len(body["external_ids"]["upc"]) == 12
    real = next(i for i in items if names([i]) == [("Ágætis byrjun", "Sigur Rós")])
    body = requests.get(f"{spotify.api_base}albums/{real['id']}", headers=headers, timeout=5)
    assert body.json()["external_ids"] == {"upc": "012345678905"}
    assert body.json()["release_date"].startswith("1999-")
    # A dead link stays dead, and search no longer offers it.
    requests.post(f"{spotify.url}_sim/settings", json={"missing_ids": [real["id"]]}, timeout=5)
    gone = requests.get(f"{spotify.api_base}albums/{real['id']}", headers=headers, timeout=5)
    assert gone.status_code == 404
    again = spotify_search(spotify, "byrjun", limit=10).json()["albums"]["items"]
    assert real["id"] not in [i["id"] for i in again]


def test_spotify_sample_catalog_search(spotify_sample: SpotifySim) -> None:
    """Catalog albums are found under their sheet's link; decoys sometimes outrank them."""
    rows = [r for r in sc.load_rows(SAMPLE) if sc.coverage(r.artist, r.title).spotify]
    headers = spotify_headers(spotify_sample)
    positions: list[int] = []
    for row in rows[:25]:
        q = f'album:"{row.title}" artist:"{row.artist}"'
        answer = requests.get(
            f"{spotify_sample.api_base}search",
            params={"q": q, "type": "album", "limit": 10},
            headers=headers,
            timeout=5,
        )
        ids = [i["id"] for i in answer.json()["albums"]["items"]]
        link_id = row.link.rsplit("/", 1)[-1]
        assert link_id in ids
        positions.append(ids.index(link_id))
    assert 0 in positions  # sometimes the real album comes first...
    assert any(p > 0 for p in positions)  # ...and sometimes a decoy beats it
    unknown = next(r for r in sc.load_rows(SAMPLE) if not sc.coverage(r.artist, r.title).spotify)
    answer = requests.get(
        f"{spotify_sample.api_base}search",
        params={"q": f'album:"{unknown.title}" artist:"{unknown.artist}"', "type": "album"},
        headers=headers,
        timeout=5,
    )
    assert answer.json()["albums"]["total"] == 0
    assert spotify_sample.search_calls() == 26


def test_spotify_quota_per_bucket(spotify: SpotifySim) -> None:
    add(spotify.url, MADE_UP)
    headers = spotify_headers(spotify)
    item = spotify_search(spotify, "kessel").json()["albums"]["items"][0]
    album_url = f"{spotify.api_base}albums/{item['id']}"
    answer = requests.post(f"{spotify.url}_sim/quota", json={"bucket": "search"}, timeout=5)
    assert answer.status_code == 200
    blocked = spotify_search(spotify, "kessel")
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "86400"
    assert blocked.json()["error"]["reason"] == "QUOTA_EXCEEDED"
    assert requests.get(album_url, headers=headers, timeout=5).status_code == 200
    assert requests.get(f"{album_url}/tracks", headers=headers, timeout=5).status_code == 200
    # Buckets are independent; an unknown bucket is refused.
    requests.post(f"{spotify.url}_sim/quota", json={"bucket": "tracks"}, timeout=5)
    assert requests.get(f"{album_url}/tracks", headers=headers, timeout=5).status_code == 429
    assert requests.get(album_url, headers=headers, timeout=5).status_code == 200
    bad = requests.post(f"{spotify.url}_sim/quota", json={"bucket": "nope"}, timeout=5)
    assert bad.status_code == 400
    restore = {"bucket": "search", "exhausted": False}
    requests.post(f"{spotify.url}_sim/quota", json=restore, timeout=5)
    assert spotify_search(spotify, "kessel").status_code == 200
    # The old switch (no bucket) still exhausts everything, and reset clears it all.
    requests.post(f"{spotify.url}_sim/quota", json={}, timeout=5)
    assert requests.get(album_url, headers=headers, timeout=5).status_code == 429
    assert spotify_search(spotify, "kessel").status_code == 429
    requests.post(f"{spotify.url}_sim/reset", timeout=5)
    assert requests.get(f"{album_url}/tracks", headers=headers, timeout=5).status_code == 200
    assert spotify_search(spotify, "kessel").status_code == 200


def test_spotify_search_calls_are_recorded(spotify: SpotifySim) -> None:
    add(spotify.url, MADE_UP)
    spotify_search(spotify, "kessel", limit=3)
    spotify_search(spotify, "kessel", limit=11)
    calls = requests.get(
        f"{spotify.url}_sim/calls", params={"prefix": "/v1/search"}, timeout=5
    ).json()
    assert [c["status"] for c in calls] == [200, 400]
    assert all("q=kessel" in c["path"] for c in calls)
    assert spotify.search_calls() == 2


def test_spotify_overrides_forget(spotify_sample: SpotifySim) -> None:
    row = next(r for r in sc.load_rows(SAMPLE) if sc.coverage(r.artist, r.title).spotify)
    q = f'album:"{row.title}" artist:"{row.artist}"'
    before = spotify_search(spotify_sample, q, limit=10).json()["albums"]["items"]
    assert (row.title, row.artist) in names(before)
    assert forget(spotify_sample.url, {"artist": row.artist, "title": row.title}) == 1
    assert spotify_search(spotify_sample, q).json()["albums"]["total"] == 0
    missing = next(r for r in sc.load_rows(SAMPLE) if not sc.coverage(r.artist, r.title).spotify)
    add(
        spotify_sample.url, {"artist": missing.artist, "title": missing.title, "year": missing.year}
    )
    q = f'album:"{missing.title}" artist:"{missing.artist}"'
    found = spotify_search(spotify_sample, q, limit=10).json()["albums"]["items"]
    real = next(i for i in found if names([i]) == [(missing.title, missing.artist)])
    # Found under the sheet's own link id.
    assert missing.link.endswith(real["id"])
    bad = requests.post(f"{spotify_sample.url}_sim/albums", json=[{"artist": "x"}], timeout=5)
    assert bad.status_code == 400


# --- Deezer -----------------------------------------------------------------------------------


def test_deezer_search_shape_and_decoys(deezer: DeezerSim) -> None:
    add(deezer.url, ALBUM)
    answer = requests.get(
        f"{deezer.url}search/album",
        params={"q": 'artist:"Sigur Ros" album:"Agaetis byrjun"'},
        timeout=5,
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["total"] == len(body["data"])
    found = [(d["title"], d["artist"]["name"]) for d in body["data"]]
    assert ("Ágætis byrjun", "Sigur Rós") in found
    assert ("Ágætis byrjun (Live)", "Sigur Rós") in found
    assert ("Ágætis byrjun - Karaoke Version", "Karaoke Stars") in found
    assert ("Ágætis byrjun", "A Tribute to Sigur Rós") in found
    real = next(d for d in body["data"] if d["title"] == "Ágætis byrjun" and
                d["artist"]["name"] == "Sigur Rós")  # fmt: skip
    assert set(real) >= {
        "id", "title", "link", "cover", "cover_small", "cover_medium", "cover_big", "cover_xl",
        "md5_image", "genre_id", "nb_tracks", "record_type", "tracklist", "explicit_lyrics",
        "artist", "type",
    }  # fmt: skip
    assert "release_date" not in real
    assert real["link"] == f"https://www.deezer.com/album/{real['id']}"
    assert real["record_type"] == "album"
    assert real["type"] == "album"
    assert real["artist"]["type"] == "artist"
    for field, size in (("cover_small", 56), ("cover_medium", 250), ("cover_big", 500),
                        ("cover_xl", 1000)):  # fmt: skip
        url = real[field]
        assert url == (
            f"{deezer.url}images/cover/{real['md5_image']}/{size}x{size}-000000-80-0-0.jpg"
        )
    image = requests.get(real["cover_big"], timeout=5)
    assert image.status_code == 200
    assert image.headers["Content-Type"].startswith("image/svg+xml")
    assert image.content == requests.get(real["cover_big"], timeout=5).content
    # Plain words work too, and an unknown query is an empty page.
    words = requests.get(f"{deezer.url}search/album", params={"q": "sigur byrjun"}, timeout=5)
    assert real["id"] in [d["id"] for d in words.json()["data"]]
    nothing = requests.get(f"{deezer.url}search/album", params={"q": "zzqqxx"}, timeout=5)
    assert nothing.json() == {"data": [], "total": 0}


def test_deezer_album_lookup(deezer: DeezerSim) -> None:
    add(deezer.url, ALBUM)
    added = requests.get(f"{deezer.url}_sim/albums", timeout=5).json()
    ident = next(a["id"] for a in added if a["title"] == "Ágætis byrjun")
    album = requests.get(f"{deezer.url}album/{ident}", timeout=5).json()
    assert album["title"] == "Ágætis byrjun"
    assert album["upc"] == "012345678905"
    assert album["release_date"].startswith("1999-")
    assert len(album["tracks"]["data"]) == album["nb_tracks"]
    assert album["artist"]["name"] == "Sigur Rós"
    unknown = requests.get(f"{deezer.url}album/1", timeout=5)
    assert unknown.status_code == 200
    assert unknown.json()["error"]["code"] == 800


def test_deezer_window_answers_200_with_code_4(deezer: DeezerSim) -> None:
    url = f"{deezer.url}search/album"
    started = time.monotonic()
    answers = [requests.get(url, params={"q": "abbey"}, timeout=5) for _ in range(51)]
    assert time.monotonic() - started < 5  # all 51 within one window
    assert all("data" in a.json() for a in answers[:50])
    last = answers[50]
    assert last.status_code == 200
    assert last.json() == {
        "error": {"type": "Exception", "message": "Quota limit exceeded", "code": 4}
    }
    # Images are a CDN: not limited.
    cover = answers[0].json()["data"][0]["cover_small"]
    assert requests.get(cover, timeout=5).status_code == 200
    calls = requests.get(f"{deezer.url}_sim/calls", params={"prefix": "/search"}, timeout=5)
    assert len(calls.json()) == 51
    requests.post(f"{deezer.url}_sim/reset", timeout=5)
    assert "data" in requests.get(url, params={"q": "abbey"}, timeout=5).json()


def test_deezer_throttle_errors_and_settings(deezer: DeezerSim) -> None:
    url = f"{deezer.url}search/album"
    requests.post(f"{deezer.url}_sim/throttle", json={"seconds": 30}, timeout=5)
    assert requests.get(url, params={"q": "abbey"}, timeout=5).json()["error"]["code"] == 4
    requests.post(f"{deezer.url}_sim/reset", timeout=5)
    settings = requests.post(
        f"{deezer.url}_sim/settings", json={"error_ratio": 1.0, "window_limit": 3}, timeout=5
    ).json()
    assert settings["window_limit"] == 3
    assert settings["window_seconds"] == 5.0
    assert requests.get(url, params={"q": "abbey"}, timeout=5).status_code in (500, 503)
    requests.post(f"{deezer.url}_sim/settings", json={"error_ratio": 0.0}, timeout=5)
    requests.post(f"{deezer.url}_sim/reset", timeout=5)
    codes = [requests.get(url, params={"q": "abbey"}, timeout=5).json() for _ in range(4)]
    assert ["error" in c for c in codes] == [False, False, False, True]
    bad = requests.post(f"{deezer.url}_sim/settings", json={"nope": 1}, timeout=5)
    assert bad.status_code == 400


def test_deezer_overrides(deezer: DeezerSim) -> None:
    url = f"{deezer.url}search/album"
    q = {"q": 'artist:"The Quiet Orchards" album:"Lanterns Over Kessel"'}
    assert requests.get(url, params=q, timeout=5).json()["total"] == 0
    add(deezer.url, MADE_UP)
    titles = [d["title"] for d in requests.get(url, params=q, timeout=5).json()["data"]]
    assert "Lanterns Over Kessel" in titles
    assert forget(deezer.url, MADE_UP) == 1
    assert requests.get(url, params=q, timeout=5).json()["total"] == 0


# --- MusicBrainz and the Cover Art Archive ------------------------------------------------------


def mb_search(sim: MusicBrainzSim, query: str, **headers: str) -> requests.Response:
    return requests.get(
        f"{sim.api_base}release-group/",
        params={"query": query, "fmt": "json", "limit": 25},
        headers=headers or GOOD_UA,
        timeout=5,
    )


def test_musicbrainz_user_agent_and_rate_limit(musicbrainz: MusicBrainzSim) -> None:
    musicbrainz.state.update(rate_per_sec=1.0)
    query = 'releasegroup:"Abbey Road" AND artist:"The Beatles"'
    for agent in ("python-requests/2.32.3", "curl/8.5.0", "Python-urllib/3.12", ""):
        refused = mb_search(musicbrainz, query, **{"User-Agent": agent})
        assert refused.status_code == 403
        assert "User-Agent" in refused.json()["error"]
    plain = requests.get(
        f"{musicbrainz.api_base}release-group/",
        params={"query": query, "fmt": "json"},
        timeout=5,
    )
    assert plain.status_code == 403  # requests' own User-Agent
    assert mb_search(musicbrainz, query).status_code == 200
    second = mb_search(musicbrainz, query)
    assert second.status_code == 503
    assert second.json()["error"].startswith(
        "Your requests are exceeding the allowable rate limit."
    )
    time.sleep(1.05)
    assert mb_search(musicbrainz, query).status_code == 200
    calls = requests.get(f"{musicbrainz.url}_sim/calls", params={"prefix": "/ws/2/"}, timeout=5)
    assert [c["status"] for c in calls.json()] == [403] * 5 + [200, 503, 200]


def test_musicbrainz_search_shape_and_decoys(musicbrainz: MusicBrainzSim) -> None:
    add(musicbrainz.url, MADE_UP)
    answer = mb_search(
        musicbrainz,
        'releasegroup:"Lanterns Over Kessel" AND artist:"The Quiet Orchards" AND primarytype:album',
    )
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"created", "count", "offset", "release-groups"}
    groups = body["release-groups"]
    assert body["count"] == len(groups)
    assert max(g["score"] for g in groups) == 100
    assert all(0 <= g["score"] <= 100 for g in groups)
    real = next(
        g for g in groups
        if g["artist-credit"][0]["name"] == "The Quiet Orchards" and "secondary-types" not in g
    )  # fmt: skip
    assert real["title"] == "Lanterns Over Kessel"
    assert real["primary-type"] == "Album"
    assert real["type-id"] == "f529b476-6e62-324f-b0aa-1f3e33d313fc"
    assert real["first-release-date"].startswith("2004-")
    assert real["artist-credit"][0]["artist"]["sort-name"] == "Quiet Orchards, The"
    assert real["releases"][0]["status"] == "Official"
    assert real["count"] == len(real["releases"])
    assert len(real["id"]) == 36
    assert any(g.get("secondary-types") == ["Live"] for g in groups)
    # The same title by another artist is there when the artist is not required.
    by_title = mb_search(musicbrainz, 'releasegroup:"Lanterns Over Kessel"').json()
    credits = {g["artist-credit"][0]["name"] for g in by_title["release-groups"]}
    assert len(credits - {"The Quiet Orchards", "A Tribute to The Quiet Orchards"}) == 1
    # Lenient: lower-case field names, artistname, no quotes, no operators.
    lenient = mb_search(musicbrainz, "releasegroup:kessel artistname:orchards").json()
    assert real["id"] in [g["id"] for g in lenient["release-groups"]]
    assert mb_search(musicbrainz, 'releasegroup:"zzqq xxyy"').json()["count"] == 0
    lookup = requests.get(
        f"{musicbrainz.api_base}release-group/{real['id']}",
        params={"fmt": "json", "inc": "artist-credits"},
        headers=GOOD_UA,
        timeout=5,
    ).json()
    assert lookup["title"] == "Lanterns Over Kessel"
    assert lookup["artist-credit"][0]["name"] == "The Quiet Orchards"


def test_cover_art_archive(musicbrainz: MusicBrainzSim) -> None:
    with_art, without = add(
        musicbrainz.url, MADE_UP, {**ALBUM, "has_art": False}
    )  # the second: MB knows it, CAA has nothing
    caa = musicbrainz.caa_base
    for which, size in (("front-250", "250"), ("front-500", "500"), ("front-1200", "1200"),
                        ("front", "full")):  # fmt: skip
        answer = requests.get(
            f"{caa}release-group/{with_art['id']}/{which}", allow_redirects=False, timeout=5
        )
        assert answer.status_code == 307
        assert answer.headers["Location"] == f"{musicbrainz.url}ia/{with_art['id']}/{size}.jpg"
    image = requests.get(f"{caa}release-group/{with_art['id']}/front-500", timeout=5)
    assert image.status_code == 200
    assert image.headers["Content-Type"].startswith("image/svg+xml")
    assert image.content == requests.get(image.url, timeout=5).content
    assert (
        requests.get(f"{caa}release-group/{without['id']}/front-250", timeout=5).status_code == 404
    )
    listing = requests.get(f"{caa}release-group/{with_art['id']}", timeout=5).json()
    assert listing["images"][0]["front"] is True
    # A catalog group without art, and a group MusicBrainz does not know at all.
    groups = requests.get(f"{musicbrainz.url}_sim/albums", timeout=5).json()
    artless = next(g for g in groups if not g["has_art"] and g["artist"] != "Sigur Rós")
    assert requests.get(f"{caa}release-group/{artless['id']}/front", timeout=5).status_code == 404
    unknown = sc.uuid_id("nobody")
    assert requests.get(f"{caa}release-group/{unknown}/front", timeout=5).status_code == 404
    # No rate limit on CAA (even with MusicBrainz's on), but every call is counted.
    musicbrainz.state.update(rate_per_sec=1.0)
    for _ in range(5):
        answer = requests.get(
            f"{caa}release-group/{with_art['id']}/front-250", allow_redirects=False, timeout=5
        )
        assert answer.status_code == 307
    assert musicbrainz.caa_calls() == 14


def test_musicbrainz_overrides(musicbrainz: MusicBrainzSim) -> None:
    query = 'releasegroup:"Lanterns Over Kessel" AND artist:"The Quiet Orchards"'
    assert mb_search(musicbrainz, query).json()["count"] == 0
    (added,) = add(musicbrainz.url, MADE_UP)
    assert mb_search(musicbrainz, query).json()["count"] > 0
    front = f"{musicbrainz.caa_base}release-group/{added['id']}/front-250"
    assert requests.get(front, allow_redirects=False, timeout=5).status_code == 307
    assert forget(musicbrainz.url, MADE_UP) == 1
    assert mb_search(musicbrainz, query).json()["count"] == 0
    assert requests.get(front, allow_redirects=False, timeout=5).status_code == 404
