"""The simulator's HTTP endpoints, and a server that runs them on a background thread."""

from __future__ import annotations

import base64
import secrets
import time
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlencode

from flask import Flask, Response, g, jsonify, request

from tools.sim_common import SimServerBase, record_calls, register_control_endpoints, svg_response
from tools.source_catalog import SourceAlbum, describe_common, load_rows, register_album_controls
from tools.spotify_sim import albums
from tools.spotify_sim.state import BUCKETS, Bucket, SimSettings, SimState

MAX_BATCH = 20
# Search paging as Spotify documents it: (default, max) limit per mode, and the deepest
# offset + limit a search may reach.
SEARCH_LIMITS = {"development": (5, 10), "extended": (20, 50)}
SEARCH_DEPTH = 1000
# Search types Spotify has; the simulator answers only albums.
SEARCH_TYPES = frozenset({"album", "artist", "playlist", "track", "show", "episode", "audiobook"})
# The control endpoints and the covers (Spotify's CDN, not its Web API) are never
# delayed, refused or recorded.
_NOT_API = ("/_sim/", "/image/")


def _error(status: int, message: str, reason: str | None = None) -> Response:
    body: dict[str, Any] = {"status": status, "message": message}
    if reason:
        body["reason"] = reason
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _valid_id(album_id: str) -> bool:
    return len(album_id) == 22 and album_id.isascii() and album_id.isalnum()


def create_sim_app(
    state: SimState,
    catalog: dict[str, tuple[str, str, str]],
    search: albums.SearchIndex | None = None,
) -> Flask:
    app = Flask("spotify_sim")
    index = search or albums.SearchIndex()
    _register_hooks(app, state)
    _register_token_endpoint(app, state)
    _register_album_endpoints(app, state, catalog, index)
    _register_search_endpoint(app, state, index)
    _register_control_endpoints(app, state)

    def describe(album: SourceAlbum) -> dict[str, Any]:
        return {**describe_common(album), "id": index.album_id(album)}

    register_album_controls(app, index.known, describe)
    return app


def _bucket(path: str) -> Bucket | None:
    """The endpoint group a /v1/ path belongs to, for per-group quotas."""
    if path.startswith("/v1/search"):
        return "search"
    if path.startswith("/v1/albums"):
        return "tracks" if path.rstrip("/").endswith("/tracks") else "albums"
    return None


def _register_hooks(app: Flask, state: SimState) -> None:
    """Delay and record each call as the settings say; refuse bad /v1/ calls."""

    @app.before_request
    def gatekeeper() -> Response | None:
        g.started = time.monotonic()
        path = request.path
        if path.startswith(_NOT_API):
            return None
        state.delay()
        if path.startswith("/v1/"):
            return _api_refusal(state)
        return None

    record_calls(app, state, _NOT_API)


def _api_refusal(state: SimState) -> Response | None:
    """The error for a /v1/ call with a bad token, over the rate limit or picked to fail."""
    header = request.headers.get("Authorization", "")
    if header.removeprefix("Bearer ") not in state.tokens:
        return _error(401, "Invalid access token")
    limited = state.rate_limit(_bucket(request.path))
    if limited is not None:
        retry_after, quota = limited
        response = _error(
            429,
            "API rate limit exceeded",
            "QUOTA_EXCEEDED" if quota else None,
        )
        response.headers["Retry-After"] = str(retry_after)
        return response
    if state.should_fail():
        status = state.random.choice([500, 502, 503])
        return _error(status, "Simulated server error")
    return None


def _register_token_endpoint(app: Flask, state: SimState) -> None:
    @app.post("/api/token")
    def token() -> Response:
        client_id = request.form.get("client_id", "")
        client_secret = request.form.get("client_secret", "")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            decoded = base64.b64decode(auth[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if request.form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type")
        settings = state.settings
        if (client_id, client_secret) != (settings.client_id, settings.client_secret):
            return _oauth_error("invalid_client")
        access = secrets.token_urlsafe(24)
        state.tokens.add(access)
        return jsonify({"access_token": access, "token_type": "Bearer", "expires_in": 3600})


def _oauth_error(code: str) -> Response:
    response = jsonify({"error": code, "error_description": code.replace("_", " ")})
    response.status_code = 400
    return response


def _register_album_endpoints(
    app: Flask,
    state: SimState,
    catalog: dict[str, tuple[str, str, str]],
    index: albums.SearchIndex,
) -> None:
    """One album, its tracks, several albums, and the cover images."""

    def base_url() -> str:
        return request.host_url

    def album_json(album_id: str) -> dict[str, Any]:
        return albums.album(
            album_id,
            base_url=base_url(),
            image_base=base_url(),
            extended=state.settings.mode == "extended",
            catalog=catalog,
            # A search hit answers with the artist, title and year search showed.
            known=index.resolve(album_id),
        )

    def unknown(album_id: str) -> Response | None:
        """400 for a malformed id, 404 for one Spotify does not have."""
        if not _valid_id(album_id):
            return _error(400, "invalid id")
        if album_id in state.settings.missing_ids:
            return _error(404, "Resource not found")
        return None

    @app.get("/v1/albums/<album_id>", strict_slashes=False)
    def one_album(album_id: str) -> Response:
        return unknown(album_id) or jsonify(album_json(album_id))

    @app.get("/v1/albums/<album_id>/tracks", strict_slashes=False)
    def album_tracks(album_id: str) -> Response:
        if (refused := unknown(album_id)) is not None:
            return refused
        offset = request.args.get("offset", 0, type=int)
        limit = request.args.get("limit", 20, type=int)
        return jsonify(albums.tracks_page(album_id, offset, limit, base_url()))

    @app.get("/v1/albums", strict_slashes=False)
    def several_albums() -> Response:
        # Removed for development-mode apps in 2026.
        if state.settings.mode != "extended":
            return _error(403, "Forbidden")
        ids = [i for i in request.args.get("ids", "").split(",") if i]
        if not ids or len(ids) > MAX_BATCH:
            return _error(400, f"ids must list 1 to {MAX_BATCH} album ids")
        if not all(_valid_id(i) for i in ids):
            return _error(400, "invalid id")
        found = [None if i in state.settings.missing_ids else album_json(i) for i in ids]
        return jsonify({"albums": found})

    @app.get("/image/<album_id>/<int:size>")
    def image(album_id: str, size: int) -> Response:
        return svg_response(albums.cover_svg(album_id, size))


def _register_search_endpoint(app: Flask, state: SimState, index: albums.SearchIndex) -> None:
    """`GET /v1/search?type=album`, with development mode's tight paging limits."""

    @app.get("/v1/search", strict_slashes=False)
    def search() -> Response:
        # Spotify's own next/previous links spell the parameter "query".
        query = (request.args.get("q") or request.args.get("query") or "").strip()
        if not query:
            return _error(400, "No search query")
        kinds = [k.strip() for k in request.args.get("type", "").split(",") if k.strip()]
        if not kinds:
            return _error(400, "Missing parameter type")
        if unknown := [k for k in kinds if k not in SEARCH_TYPES]:
            return _error(400, f"Bad search type field {unknown[0]}")
        if kinds != ["album"]:
            return _error(400, "The simulator only searches albums: use type=album")
        default, most = SEARCH_LIMITS[state.settings.mode]
        limit = _int_arg("limit", default)
        if limit is None or not 1 <= limit <= most:
            return _error(400, "Invalid limit")
        offset = _int_arg("offset", 0)
        if offset is None or offset < 0 or offset + limit > SEARCH_DEPTH:
            return _error(400, "Invalid offset")
        found = index.search(query, state.settings.missing_ids)
        base = request.host_url

        def href(start: int) -> str:
            params = {"offset": start, "limit": limit, "query": query, "type": "album"}
            return f"{base}v1/search?{urlencode(params, quote_via=quote)}"

        following = offset + limit
        more = following < len(found) and following < SEARCH_DEPTH
        page = found[offset:following]
        return jsonify(
            {
                "albums": {
                    "href": href(offset),
                    "items": [albums.simplified_album(i, a, base) for i, a in page],
                    "limit": limit,
                    "next": href(following) if more else None,
                    "offset": offset,
                    "previous": href(max(0, offset - limit)) if offset else None,
                    "total": len(found),
                }
            }
        )


def _int_arg(name: str, default: int) -> int | None:
    """An integer query parameter; None when it is there but not a whole number."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return None


def _register_control_endpoints(app: Flask, state: SimState) -> None:
    """The /_sim/ endpoints through which tests read and change the simulator's state."""
    # An unknown setting has always been a 500 here (a 400 on the other sims).
    register_control_endpoints(app, state, reject_unknown_settings=False)

    @app.post("/_sim/quota")
    def quota() -> Response:
        """Exhaust the daily quota: all of it, or with {"bucket": ...} one endpoint group."""
        body = request.get_json(force=True) or {}
        bucket = body.get("bucket")
        if bucket is not None and bucket not in BUCKETS:
            return _error(400, f"bucket must be one of {', '.join(BUCKETS)}")
        state.set_quota(bool(body.get("exhausted", True)), cast(Bucket | None, bucket))
        return jsonify({"ok": True})

    @app.get("/_sim/quota")
    def quota_status() -> Response:
        with state.lock:
            buckets = sorted(state.exhausted_buckets)
            return jsonify({"exhausted": state.quota_exhausted, "buckets": buckets})


class SimServer(SimServerBase[SimSettings]):
    """The simulator on a background thread: `with SimServer() as sim: sim.url`."""

    def _create_app(self, settings: SimSettings | None, catalog_csv: Path | None) -> Flask:
        self.state = SimState(settings)
        catalog = albums.load_catalog(catalog_csv) if catalog_csv else {}
        # Without a catalog, search knows only what `/_sim/albums` adds.
        self.search_index = albums.search_index(load_rows(catalog_csv) if catalog_csv else [])
        return create_sim_app(self.state, catalog, self.search_index)

    @property
    def api_base(self) -> str:
        return f"{self.url}v1/"

    @property
    def token_url(self) -> str:
        return f"{self.url}api/token"

    def album_calls(self) -> int:
        """How many album API calls (single, tracks or batch) were made."""
        return len(self.state.api_calls("/v1/albums"))

    def search_calls(self) -> int:
        """How many search API calls were made."""
        return len(self.state.api_calls("/v1/search"))
