"""A Deezer API simulator: album search, album lookup and the cover CDN, on a thread.

Deezer's quirks are kept on purpose: no key, errors inside HTTP 200 answers (the quota
error is code 4, an unknown album code 800), results without a year.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from flask import Flask, Response, jsonify, request

from tools.sim_common import (
    CommonSettings,
    SimServerBase,
    WindowState,
    record_calls,
    register_control_endpoints,
    svg_response,
)
from tools.source_catalog import (
    AlbumsById,
    KnownAlbums,
    SourceAlbum,
    by_popularity_key,
    describe_common,
    digest,
    int_id,
    known_albums,
    normalise,
    parse_query,
    register_album_controls,
    streaming_match,
)

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
COVER_SIZES = {"cover_small": 56, "cover_medium": 250, "cover_big": 500, "cover_xl": 1000}
PICTURE_SIZES = {"picture_small": 56, "picture_medium": 250, "picture_big": 500, "picture_xl": 1000}
# Deezer's plain `cover` / `picture` size.
PLAIN_SIZE = 120
GENRES = {132: "Pop", 152: "Rock", 129: "Jazz", 116: "Rap/Hip Hop", 106: "Electro", 466: "Folk"}
WORDS = ["blue", "night", "river", "glass", "echo", "summer", "paper", "gold", "wild", "slow"]
# The control endpoints and the image CDN are never delayed, limited or failed.
_NOT_API = ("/_sim/", "/images/")


@dataclass
class DeezerSettings(CommonSettings):
    # Deezer allows 50 requests per 5 s; None means no limit.
    window_limit: int | None = 50
    window_seconds: float = 5.0
    seed: int | None = None


class DeezerState(WindowState[DeezerSettings]):
    """Settings, the rolling request window and the record of calls (thread-safe)."""

    def __init__(self, settings: DeezerSettings | None = None) -> None:
        super().__init__(settings or DeezerSettings())

    def over_quota(self) -> bool:
        """Whether this call breaks the rolling window; a call let through counts in it.

        Refused calls do not count, so a client that waits for the window to clear gets
        through again. Forced throttling answers the code-4 quota error.
        """
        now = time.monotonic()
        with self.lock:
            if now < self.throttle_until:
                return True
            settings = self.settings
            return self._take_slot(now, settings.window_seconds, settings.window_limit) is not None


def _deezer_error(kind: str, message: str, code: int) -> Response:
    """Deezer reports errors in an HTTP 200 answer."""
    return jsonify({"error": {"type": kind, "message": message, "code": code}})


def quota_error() -> Response:
    return _deezer_error("Exception", "Quota limit exceeded", 4)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def album_id(album: SourceAlbum) -> int:
    return int_id(f"deezer-album|{album.ident}")


def artist_id(name: str) -> int:
    return int_id(f"deezer-artist|{normalise(name)}", 1, 99_999_999)


def cover_md5(album: SourceAlbum) -> str:
    return _md5(f"deezer-cover|{album.ident}")


def _rng(album: SourceAlbum) -> random.Random:
    return random.Random(int.from_bytes(digest(f"deezer|{album.ident}")[:8], "big"))


def track_count(album: SourceAlbum) -> int:
    return 6 + digest(f"deezer-tracks|{album.ident}")[0] % 11


def release_date(album: SourceAlbum) -> str:
    rng = _rng(album)
    year = album.year if album.year.isdigit() else str(rng.randint(1960, 2020))
    return f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _images(base: str, kind: str, md5: str, sizes: dict[str, int], plain: str) -> dict[str, str]:
    def url(size: int) -> str:
        return f"{base}images/{kind}/{md5}/{size}x{size}-000000-80-0-0.jpg"

    return {plain: url(PLAIN_SIZE), **{name: url(size) for name, size in sizes.items()}}


def artist_json(name: str, base: str) -> dict[str, Any]:
    ident = artist_id(name)
    return {
        "id": ident,
        "name": name,
        "link": f"https://www.deezer.com/artist/{ident}",
        **_images(
            base, "artist", _md5(f"deezer-artist|{normalise(name)}"), PICTURE_SIZES, "picture"
        ),
        "tracklist": f"{base}artist/{ident}/top?limit=50",
        "type": "artist",
    }


def _genre_id(album: SourceAlbum) -> int:
    return list(GENRES)[digest(f"deezer-genre|{album.ident}")[0] % len(GENRES)]


def search_item(album: SourceAlbum, base: str) -> dict[str, Any]:
    """An album as `/search/album` lists it: no year, no barcode."""
    ident = album_id(album)
    md5 = cover_md5(album)
    return {
        "id": ident,
        "title": album.title,
        "link": f"https://www.deezer.com/album/{ident}",
        **_images(base, "cover", md5, COVER_SIZES, "cover"),
        "md5_image": md5,
        "genre_id": _genre_id(album),
        "nb_tracks": track_count(album),
        "record_type": "compile" if album.album_type == "compilation" else album.album_type,
        "tracklist": f"{base}album/{ident}/tracks",
        "explicit_lyrics": False,
        "artist": artist_json(album.artist, base),
        "type": "album",
    }


def _track(album: SourceAlbum, number: int, base: str) -> dict[str, Any]:
    rng = random.Random(f"deezer|{album.ident}|{number}")
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))).title()
    ident = int_id(f"deezer-track|{album.ident}|{number}")
    artist = artist_json(album.artist, base)
    return {
        "id": ident,
        "readable": True,
        "title": title,
        "title_short": title,
        "title_version": "",
        "link": f"https://www.deezer.com/track/{ident}",
        "duration": rng.randint(90, 420),
        "rank": rng.randint(10_000, 900_000),
        "explicit_lyrics": False,
        "md5_image": cover_md5(album),
        "artist": {k: artist[k] for k in ("id", "name", "tracklist", "type")},
        "type": "track",
    }


def album_json(album: SourceAlbum, base: str) -> dict[str, Any]:
    """`GET /album/{id}`: the search fields plus release date, barcode and tracks."""
    item = search_item(album, base)
    tracks = [_track(album, n, base) for n in range(1, track_count(album) + 1)]
    genre = item["genre_id"]
    rng = _rng(album)
    return {
        **{k: v for k, v in item.items() if k not in ("artist", "type")},
        "upc": album.upc,
        "share": f"{item['link']}?utm_source=deezer",
        "genres": {"data": [{"id": genre, "name": GENRES[genre], "type": "genre"}]},
        "label": f"{rng.choice(WORDS).title()} Records",
        "duration": sum(t["duration"] for t in tracks),
        "fans": rng.randint(0, 500_000),
        "release_date": release_date(album),
        "available": True,
        "explicit_content_lyrics": 0,
        "explicit_content_cover": 0,
        "contributors": [{**item["artist"], "role": "Main"}],
        "artist": item["artist"],
        "type": "album",
        "tracks": {"data": tracks},
    }


def cover_svg(md5: str, size: int) -> str:
    hue = int(md5[:6], 16) % 360
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 100 100"><rect width="100" height="100" fill="hsl({hue},65%,45%)"/>'
        f'<rect x="20" y="20" width="60" height="60" fill="hsl({(hue + 150) % 360},60%,30%)"/>'
        f'<text x="6" y="94" font-family="sans-serif" font-size="7" fill="#fff">'
        f"dz {md5[:8]}</text></svg>"
    )


class DeezerCatalog(AlbumsById[int]):
    """What the sim can return: known albums and their decoys, searchable and by id."""

    def __init__(self, known: KnownAlbums) -> None:
        super().__init__(known, "streaming", album_id)

    def search(self, query: str) -> list[SourceAlbum]:
        clauses = parse_query(query)
        found = [a for a in self.by_id().values() if streaming_match(a, clauses)]
        return sorted(found, key=by_popularity_key)


def create_deezer_app(state: DeezerState, catalog: DeezerCatalog) -> Flask:
    app = Flask("deezer_sim")
    _register_hooks(app, state)
    _register_api(app, catalog)
    _register_images(app)
    register_control_endpoints(app, state)
    register_album_controls(app, catalog.known, lambda a: {**describe_common(a), "id": album_id(a)})
    return app


def _register_hooks(app: Flask, state: DeezerState) -> None:
    @app.before_request
    def gatekeeper() -> Response | None:
        path = request.path
        if path.startswith(_NOT_API):
            return None
        state.delay()
        if state.over_quota():
            return quota_error()
        if state.should_fail():
            status = state.random.choice([500, 503])
            return Response("Simulated server error", status=status, mimetype="text/plain")
        return None

    # Every call but the control ones, images included, so tests can count downloads.
    record_calls(app, state, ("/_sim/",))


def _register_api(app: Flask, catalog: DeezerCatalog) -> None:
    @app.get("/search/album", strict_slashes=False)
    def search_album() -> Response:
        query = request.args.get("q", "").strip()
        if not query:
            return _deezer_error("MissingParameterException", "Missing parameters: q", 501)
        index = _int_arg("index", 0, 0)
        limit = min(_int_arg("limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
        found = catalog.search(query)
        base = request.host_url
        body: dict[str, Any] = {
            "data": [search_item(a, base) for a in found[index : index + limit]],
            "total": len(found),
        }

        def page(start: int) -> str:
            params = {"q": query, "index": start, "limit": limit}
            return f"{base}search/album?{urlencode(params, quote_via=quote)}"

        if index > 0:
            body["prev"] = page(max(0, index - limit))
        if index + limit < len(found):
            body["next"] = page(index + limit)
        return jsonify(body)

    @app.get("/album/<album_ref>", strict_slashes=False)
    def one_album(album_ref: str) -> Response:
        album = catalog.by_id().get(int(album_ref)) if album_ref.isdigit() else None
        if album is None:
            return _deezer_error("DataException", "no data", 800)
        return jsonify(album_json(album, request.host_url))

    @app.get("/album/<album_ref>/tracks", strict_slashes=False)
    def album_tracks(album_ref: str) -> Response:
        album = catalog.by_id().get(int(album_ref)) if album_ref.isdigit() else None
        if album is None:
            return _deezer_error("DataException", "no data", 800)
        tracks = album_json(album, request.host_url)["tracks"]["data"]
        return jsonify({"data": tracks, "total": len(tracks)})


def _int_arg(name: str, default: int, least: int) -> int:
    """Deezer ignores a malformed paging number rather than refusing the call."""
    try:
        return max(least, int(request.args.get(name, default)))
    except ValueError:
        return default


def _register_images(app: Flask) -> None:
    @app.get("/images/<kind>/<md5>/<name>")
    def image(kind: str, md5: str, name: str) -> Response:
        size_text, _, rest = name.partition("x")
        ok = (
            kind in ("cover", "artist")
            and len(md5) == 32
            and all(c in "0123456789abcdef" for c in md5)
            and size_text.isdigit()
            and rest.startswith(f"{size_text}-")
            and 0 < int(size_text) <= 2000
        )
        if not ok:
            return Response("Not Found", status=404, mimetype="text/plain")
        return svg_response(cover_svg(md5, int(size_text)))


class SimServer(SimServerBase[DeezerSettings]):
    """The Deezer simulator on a background thread: `with SimServer() as sim: sim.url`."""

    # A short poll so stop() returns quickly: tests start one server per test.
    poll_interval = 0.05

    def _create_app(self, settings: DeezerSettings | None, catalog_csv: Path | None) -> Flask:
        self.state = DeezerState(settings)
        self.catalog = DeezerCatalog(known_albums(catalog_csv, "deezer"))
        return create_deezer_app(self.state, self.catalog)

    @property
    def api_base(self) -> str:
        """Deezer's API has no version prefix: https://api.deezer.com/search/album."""
        return self.url

    def search_calls(self) -> int:
        return len(self.state.api_calls("/search"))
