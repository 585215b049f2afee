"""A MusicBrainz ws/2 and Cover Art Archive simulator on one server, on a thread.

MusicBrainz's etiquette is enforced as MusicBrainz enforces it: a generic or missing
User-Agent gets 403, more than one request per second per client gets 503. The Cover
Art Archive has no limit; it redirects (307) to an image host (`/ia/`, standing in for
archive.org) when a release group has front art and answers 404 when it has none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request

from tools.sim_common import (
    CommonSettings,
    SimServerBase,
    SimState,
    record_calls,
    register_control_endpoints,
    svg_response,
)
from tools.source_catalog import (
    AlbumsById,
    Clause,
    KnownAlbums,
    SourceAlbum,
    describe_common,
    digest,
    known_albums,
    normalise,
    parse_query,
    register_album_controls,
    uuid_id,
    words,
)

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
PRIMARY_TYPE_IDS = {
    "Album": "f529b476-6e62-324f-b0aa-1f3e33d313fc",
    "Single": "d6038452-8ee0-3f68-affc-2de9a1ede0b9",
    "EP": "6d0c5bf6-7a33-3420-a519-44fc63eedebf",
}
OFFICIAL_STATUS_ID = "4e304316-386d-3409-af2e-78857eec5cfe"
# CAA's thumbnail names; "front" alone is the full-size original.
CAA_SIZES = {"front": "full", "front-250": "250", "front-500": "500", "front-1200": "1200"}
CAA_SIZES |= {"front-small": "250", "front-large": "500"}  # the legacy names
IA_PIXELS = {"250": 250, "500": 500, "1200": 1200, "full": 1400}
# User-Agents of HTTP libraries and tools used as they come: MusicBrainz blocks them.
GENERIC_AGENTS = (
    "python-requests/",
    "python-urllib/",
    "python-httpx/",
    "python/",
    "aiohttp/",
    "curl/",
    "wget/",
    "go-http-client/",
    "java/",
    "okhttp/",
    "libwww-perl/",
    "node-fetch",
    "axios/",
    "undici",
)
RATE_LIMIT_MESSAGE = (
    "Your requests are exceeding the allowable rate limit. Please see "
    "https://musicbrainz.org/doc/MusicBrainz_API/Rate_Limiting for more information."
)
USER_AGENT_MESSAGE = (
    "Your requests are blocked: please provide a meaningful User-Agent string that names "
    "your application and a way to contact you, such as "
    "'AlbumCatalog/1.0 ( someone@example.org )'. See "
    "https://musicbrainz.org/doc/MusicBrainz_API/Rate_Limiting#Provide_meaningful_User-Agent_strings"
)
# Requests are timed on arrival, so a client pacing itself at exactly the limit may
# land a few milliseconds early; that much is forgiven.
JITTER_TOKENS = 0.02
# Field weights in the score: the title matters most, then the artist.
WEIGHTS = {"title": 3.0, "artist": 2.0}
FIELDS = {
    "releasegroup": "title",
    "releasegroupaccent": "title",
    "release": "title",
    "artist": "artist",
    "artistname": "artist",
    "creditname": "artist",
    "primarytype": "primary",
    "type": "primary",
    "secondarytype": "secondary",
    "firstreleasedate": "date",
    "rgid": "id",
    "status": "status",
}


@dataclass
class MusicBrainzSettings(CommonSettings):
    # MusicBrainz allows one request per second per client (IP); None means no limit.
    rate_per_sec: float | None = 1.0
    burst: int = 1
    seed: int | None = None


class MusicBrainzState(SimState[MusicBrainzSettings]):
    """Settings, a token bucket per client and the record of calls (thread-safe).

    Forced throttling answers every ws/2 call with the rate-limit 503.
    """

    def __init__(self, settings: MusicBrainzSettings | None = None) -> None:
        super().__init__(settings or MusicBrainzSettings())
        self.buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)

    def _changed(self) -> None:
        self.buckets.clear()

    def _cleared(self) -> None:
        self.buckets.clear()

    def allow(self, client: str) -> bool:
        """Take a token from the client's bucket; refused calls take none."""
        now = time.monotonic()
        with self.lock:
            if now < self.throttle_until:
                return False
            rate, burst = self.settings.rate_per_sec, max(1, self.settings.burst)
            if rate is None:
                return True
            tokens, when = self.buckets.get(client, (float(burst), now))
            tokens = min(float(burst), tokens + (now - when) * rate)
            if tokens < 1 - JITTER_TOKENS:
                self.buckets[client] = (tokens, now)
                return False
            self.buckets[client] = (tokens - 1, now)
            return True


def _json_error(status: int, message: str) -> Response:
    body = {"error": message}
    if status in (400, 406):
        # MusicBrainz points a malformed request at its documentation.
        body["help"] = "For usage, please see: https://musicbrainz.org/development/mmd"
    response = jsonify(body)
    response.status_code = status
    return response


def generic_agent(agent: str) -> bool:
    agent = agent.strip().casefold()
    return not agent or agent.startswith(GENERIC_AGENTS)


def group_id(album: SourceAlbum) -> str:
    return uuid_id(f"mb-release-group|{album.ident}")


def artist_mbid(name: str) -> str:
    return uuid_id(f"mb-artist|{normalise(name)}")


def sort_name(name: str) -> str:
    """MusicBrainz files "The Beatles" under "Beatles, The"."""
    head, _, rest = name.partition(" ")
    return f"{rest}, {head}" if head.casefold() in ("the", "a") and rest else name


def first_release_date(album: SourceAlbum) -> str:
    """An unknown date is an empty string, as MusicBrainz writes it."""
    if not album.year.isdigit():
        return ""
    data = digest(f"mb-date|{album.ident}")
    return f"{album.year}-{1 + data[0] % 12:02d}-{1 + data[1] % 28:02d}"


def group_json(album: SourceAlbum, score: int | None = None) -> dict[str, Any]:
    count = 1 + digest(f"mb-releases|{album.ident}")[0] % 4
    primary = "Single" if album.album_type == "single" else "Album"
    data: dict[str, Any] = {"id": group_id(album), "type-id": PRIMARY_TYPE_IDS[primary]}
    if score is not None:
        data["score"] = score
    data |= {
        "count": count,
        "title": album.title,
        "first-release-date": first_release_date(album),
        "primary-type": primary,
        "primary-type-id": PRIMARY_TYPE_IDS[primary],
    }
    if album.secondary_types:
        data["secondary-types"] = list(album.secondary_types)
    data["artist-credit"] = [
        {
            "name": album.artist,
            "artist": {
                "id": artist_mbid(album.artist),
                "name": album.artist,
                "sort-name": sort_name(album.artist),
            },
        }
    ]
    data["releases"] = [
        {
            "id": uuid_id(f"mb-release|{album.ident}|{n}"),
            "status-id": OFFICIAL_STATUS_ID,
            "title": album.title,
            "status": "Official",
        }
        for n in range(count)
    ]
    return data


def _text_fit(wanted: tuple[str, ...], have: tuple[str, ...]) -> tuple[float, float]:
    """(share of the wanted words present, overlap of the two word sets)."""
    if not wanted:
        return 0.0, 0.0
    wanted_set, have_set = set(wanted), set(have)
    common = len(wanted_set & have_set)
    return common / len(wanted_set), common / len(wanted_set | have_set)


def _clause_fit(clause: Clause, album: SourceAlbum) -> tuple[str, float, float] | None:
    """(field, share matched, closeness) of one clause; None for a field left unscored."""
    field = FIELDS.get(clause.field) if clause.field else "text"
    if field is None:
        return None
    value = clause.value.casefold()
    if field == "title":
        return field, *_text_fit(clause.words, album.title_words())
    if field == "artist":
        return field, *_text_fit(clause.words, words(album.artist))
    if field == "text":
        return field, *_text_fit(clause.words, (*album.title_words(), *words(album.artist)))
    if field == "primary":
        hit = value == ("single" if album.album_type == "single" else "album")
    elif field == "secondary":
        hit = value in (s.casefold() for s in album.secondary_types)
    elif field == "date":
        hit = first_release_date(album).startswith(clause.value)
    elif field == "id":
        hit = value == group_id(album)
    else:  # status: every simulated release is official
        hit = value == "official"
    return field, float(hit), float(hit)


def score_album(clauses: list[Clause], album: SourceAlbum) -> float | None:
    """Lucene-like: AND / + clauses must match, NOT / - must not, others add to the score."""
    total = 0.0
    matched_any = False
    for clause in clauses:
        fit = _clause_fit(clause, album)
        if fit is None:
            continue
        field, share, closeness = fit
        if clause.quoted and share < 1.0:
            share = closeness = 0.0  # a phrase matches whole or not at all
        if clause.prohibited:
            if share == 1.0:
                return None
            continue
        if clause.required and share < 1.0:
            return None
        matched_any = matched_any or share > 0
        # Half for containing the words, half for having no others: "Abbey Road" fits
        # "Abbey Road" better than "Abbey Road Sessions".
        total += WEIGHTS.get(field, 1.0) * (share + closeness) / 2
    return total if matched_any else None


class MusicBrainzCatalog(AlbumsById[str]):
    """Known release groups and their decoys, searchable and by MBID."""

    def __init__(self, known: KnownAlbums) -> None:
        super().__init__(known, "musicbrainz", group_id)

    def search(self, query: str) -> list[tuple[int, SourceAlbum]]:
        """(score 0..100, group), best first; the best scores 100, as on MusicBrainz."""
        clauses = parse_query(query)
        scored = [
            (raw, album)
            for album in self.by_id().values()
            if (raw := score_album(clauses, album)) is not None
        ]
        if not scored:
            return []
        best = max(raw for raw, _ in scored)
        # Equal scores (a live recording of the same title) fall in an order of their
        # own, so the live group sometimes comes first.
        ranked = sorted(scored, key=lambda p: (-p[0], digest(p[1].ident)[0], p[1].ident))
        return [(round(100 * raw / best), album) for raw, album in ranked]


def cover_svg(mbid: str, size: int) -> str:
    hue = int(mbid[:6], 16) % 360
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 100 100"><rect width="100" height="100" fill="hsl({hue},40%,40%)"/>'
        f'<circle cx="50" cy="50" r="30" fill="hsl({(hue + 90) % 360},70%,60%)"/>'
        f'<text x="6" y="94" font-family="sans-serif" font-size="7" fill="#fff">'
        f"caa {mbid[:8]}</text></svg>"
    )


def _valid_mbid(mbid: str) -> bool:
    parts = mbid.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(
        c in "0123456789abcdef" for c in mbid.replace("-", "")
    )


def create_musicbrainz_app(state: MusicBrainzState, catalog: MusicBrainzCatalog) -> Flask:
    app = Flask("musicbrainz_sim")
    _register_hooks(app, state)
    _register_ws2(app, catalog)
    _register_caa(app, catalog)
    register_control_endpoints(app, state)

    def describe(album: SourceAlbum) -> dict[str, Any]:
        return {**describe_common(album), "id": group_id(album), "has_art": album.has_art}

    register_album_controls(app, catalog.known, describe)
    return app


def _register_hooks(app: Flask, state: MusicBrainzState) -> None:
    @app.before_request
    def gatekeeper() -> Response | None:
        path = request.path
        api, caa = path.startswith("/ws/2/"), path.startswith("/caa/")
        if not (api or caa):
            return None
        state.delay()
        if api:
            if generic_agent(request.headers.get("User-Agent", "")):
                return _json_error(403, USER_AGENT_MESSAGE)
            if not state.allow(request.remote_addr or "unknown"):
                return _json_error(503, RATE_LIMIT_MESSAGE)
        if state.should_fail():
            return _json_error(state.random.choice([500, 503]), "Simulated server error")
        return None

    # Every call but the control ones: CAA and image fetches count too.
    record_calls(app, state, ("/_sim/",))


def _wants_json() -> bool:
    fmt = request.args.get("fmt")
    if fmt is not None:
        return fmt == "json"
    return "application/json" in request.headers.get("Accept", "")


def _register_ws2(app: Flask, catalog: MusicBrainzCatalog) -> None:
    @app.get("/ws/2/release-group", strict_slashes=False)
    def search() -> Response:
        if not _wants_json():
            # MusicBrainz would answer XML; the simulator speaks only JSON.
            return _json_error(406, "The simulator answers JSON only: add fmt=json")
        query = request.args.get("query", "").strip()
        if not query:
            return _json_error(400, "Invalid search or browse request: give a query")
        limit = max(1, min(_int_arg("limit", DEFAULT_LIMIT), MAX_LIMIT))
        offset = max(0, _int_arg("offset", 0))
        found = catalog.search(query)
        created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return jsonify(
            {
                "created": created,
                "count": len(found),
                "offset": offset,
                "release-groups": [
                    group_json(album, score) for score, album in found[offset : offset + limit]
                ],
            }
        )

    @app.get("/ws/2/release-group/<mbid>")
    def lookup(mbid: str) -> Response:
        if not _wants_json():
            return _json_error(406, "The simulator answers JSON only: add fmt=json")
        if not _valid_mbid(mbid):
            return _json_error(400, "Invalid mbid.")
        album = catalog.by_id().get(mbid)
        if album is None:
            return _json_error(404, "Not Found")
        data = group_json(album)
        includes = set(request.args.get("inc", "").replace(" ", "+").split("+"))
        # A lookup carries artist credits and releases only when asked for.
        if "artist-credits" not in includes:
            data.pop("artist-credit")
        if "releases" not in includes:
            data.pop("releases")
        data.pop("count")
        return jsonify(data)


def _int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        return default


def _not_found(mbid: str) -> Response:
    return Response(
        f"No cover art found for release group {mbid}", status=404, mimetype="text/plain"
    )


def _register_caa(app: Flask, catalog: MusicBrainzCatalog) -> None:
    def with_art(mbid: str) -> SourceAlbum | None:
        album = catalog.by_id().get(mbid)
        return album if album is not None and album.has_art else None

    def image_url(mbid: str, size: str) -> str:
        return f"{request.host_url}ia/{mbid}/{size}.jpg"

    @app.get("/caa/release-group/<mbid>", strict_slashes=False)
    def listing(mbid: str) -> Response:
        if not _valid_mbid(mbid):
            return Response(f"{mbid} is not a valid MBID", status=400, mimetype="text/plain")
        album = with_art(mbid)
        if album is None:
            return _not_found(mbid)
        thumbs = {"250": "250", "500": "500", "1200": "1200", "small": "250", "large": "500"}
        release = uuid_id(f"mb-release|{album.ident}|0")
        return jsonify(
            {
                "images": [
                    {
                        "approved": True,
                        "back": False,
                        "comment": "",
                        "edit": int.from_bytes(digest(f"caa-edit|{mbid}")[:3], "big"),
                        "front": True,
                        "id": int.from_bytes(digest(f"caa-image|{mbid}")[:5], "big"),
                        "image": image_url(mbid, "full"),
                        "thumbnails": {k: image_url(mbid, v) for k, v in thumbs.items()},
                        "types": ["Front"],
                    }
                ],
                "release": f"https://musicbrainz.org/release/{release}",
            }
        )

    @app.get("/caa/release-group/<mbid>/<which>")
    def front(mbid: str, which: str) -> Response:
        size = CAA_SIZES.get(which.removesuffix(".jpg"))
        if size is None:
            return Response("Not Found", status=404, mimetype="text/plain")
        if not _valid_mbid(mbid):
            return Response(f"{mbid} is not a valid MBID", status=400, mimetype="text/plain")
        if with_art(mbid) is None:
            return _not_found(mbid)
        response = Response(status=307)
        response.headers["Location"] = image_url(mbid, size)
        return response

    @app.get("/ia/<mbid>/<name>")
    def archive_image(mbid: str, name: str) -> Response:
        pixels = IA_PIXELS.get(name.removesuffix(".jpg")) if name.endswith(".jpg") else None
        if pixels is None or not _valid_mbid(mbid) or with_art(mbid) is None:
            return Response("Not Found", status=404, mimetype="text/plain")
        return svg_response(cover_svg(mbid, pixels), max_age=31_536_000)


class SimServer(SimServerBase[MusicBrainzSettings]):
    """MusicBrainz and CAA on a background thread: `with SimServer() as sim: sim.api_base`."""

    # A short poll so stop() returns quickly: tests start one server per test.
    poll_interval = 0.05

    def _create_app(self, settings: MusicBrainzSettings | None, catalog_csv: Path | None) -> Flask:
        self.state = MusicBrainzState(settings)
        self.catalog = MusicBrainzCatalog(known_albums(catalog_csv, "musicbrainz"))
        return create_musicbrainz_app(self.state, self.catalog)

    @property
    def api_base(self) -> str:
        return f"{self.url}ws/2/"

    @property
    def caa_base(self) -> str:
        return f"{self.url}caa/"

    def api_calls(self) -> int:
        return len(self.state.api_calls("/ws/2/"))

    def caa_calls(self) -> int:
        return len(self.state.api_calls("/caa/"))
