"""Cover-art and metadata fragments (HTML for htmx, JSON with ?format=json).

They answer from the cache and never call Spotify; a miss asks the worker package to
queue a fetch. A Spotify problem shows up as `pending` or `unavailable`, never as a
4xx/5xx.
"""

from __future__ import annotations

import math
from typing import Any

from flask import jsonify, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.cache.keys import Kind
from app.cache.lookup import Lookup, lookup
from app.catalog.blueprint import bp
from app.catalog.covers import CoverView, cover_from_lookup
from app.catalog.metadata import MetadataView, metadata_from_lookup
from app.catalog.polling import FAILING_POLL_MAX, LOOKING_AFTER, Polling, poll_delay
from app.config import setting
from app.extensions import db
from app.models import Album, Artist
from worker.queue import enqueue_fetch, fetch_if_needed

MAX_ATTEMPT = 100


def _attempt() -> int:
    try:
        return min(MAX_ATTEMPT, max(0, int(request.args.get("attempt", "0"))))
    except ValueError:
        return 0


def _spotify_id() -> str | None:
    """The Spotify id the page was rendered with (`sid`), if the request names one."""
    return request.args.get("sid") or None


def _retry_if_asked(result: Lookup, kind: Kind) -> Lookup:
    """Queue what the lookup asks for; on "Try again" (`retry=1`) of a failing album, a
    fetch now (still under the limiter), without waiting out its retry time."""
    if request.args.get("retry") and result.status == "unavailable" and result.reason == "error":
        enqueue_fetch(result.album_id, client=_client())
        return lookup(result.album_id, kind, result.spotify_id) or result
    fetch_if_needed(result, _client())
    return result


def _client() -> str:
    """Who asks (their address): each client has a cap on outstanding misses."""
    return request.remote_addr or "unknown"


def _names(album_id: int) -> tuple[str, str]:
    """Title and artist, which draw a placeholder (one primary-key read)."""
    row = db.session.execute(
        select(Album.title, Artist.name).join(Album.artist).where(Album.id == album_id)
    ).one_or_none()
    return (str(row[0]), str(row[1])) if row is not None else ("", "")


def _wants_json() -> bool:
    return request.args.get("format") == "json"


def _json(result: Lookup, kind: Kind) -> Response:
    body: dict[str, Any] = {"album_id": result.album_id, "status": result.status}
    status = 200
    headers: dict[str, str] = {}
    data = result.data or {}
    if result.status == "ready" and kind == "cover":
        body |= {
            "source": data.get("source") or "spotify",
            "cover_url": data.get("cover_url"),
            "images": data.get("images") or [],
            "cached_at": data.get("cached_at"),
        }
    elif result.status == "ready":
        body |= {"metadata": data.get("metadata") or {}, "cached_at": data.get("cached_at")}
    elif result.status == "pending":
        retry_after = max(1, math.ceil(result.retry_after or 1))
        body["retry_after"] = retry_after
        headers["Retry-After"] = str(retry_after)
        status = 202
    elif result.status == "unavailable":
        body["reason"] = result.reason or "error"
        if result.retry_after:
            body["retry_after"] = math.ceil(result.retry_after)
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def _album_not_found(template: str, **view: object) -> Response:
    """404 for an album that does not exist: JSON, or the fragment's own markup."""
    if _wants_json():
        response = jsonify({"error": "album_not_found"})
    else:
        response = Response(render_template(template, **view), mimetype="text/html")
    response.status_code = 404
    return response


# Rendered ready covers by their view (alt text, src, srcset): the markup is a pure
# function of it, and a polled hit is the hottest path of the app. Bounded: cleared
# when full.
_READY_HTML: dict[CoverView, str] = {}
READY_HTML_MAX = 20_000


def _cover_html(view: CoverView) -> str:
    if view.state != "ready":
        return render_template("catalog/cover_fragment.html", cover=view)
    html = _READY_HTML.get(view)
    if html is None:
        html = render_template("catalog/cover_fragment.html", cover=view)
        if len(_READY_HTML) >= READY_HTML_MAX:
            _READY_HTML.clear()
        _READY_HTML[view] = html
    return html


@bp.get("/album/<int(max=2147483647):album_id>/cover-art/")
def cover_art(album_id: int) -> Response:
    result = lookup(album_id, "cover", _spotify_id())
    if result is None:
        no_album = CoverView("Album cover", waiting=Polling("unavailable", "No such album"))
        return _album_not_found("catalog/cover_fragment.html", cover=no_album)
    result = _retry_if_asked(result, "cover")
    if _wants_json():
        return _json(result, "cover")
    data = result.data or {}
    attempt = _attempt()
    drawn = result.status == "unavailable" or (
        result.status == "pending" and attempt >= LOOKING_AFTER
    )
    names = _names(album_id) if drawn else ("", "")
    view = cover_from_lookup(result, attempt, str(data.get("alt") or "Album cover"), names)
    response = Response(_cover_html(view), mimetype="text/html")
    if view.state == "ready":
        response.headers["HX-Trigger"] = "cover-art-loaded"
    return response


MAX_POLLED = 100  # covers one page poll may ask for (two pages' worth of tiles)


def _poll_keys(raw: str) -> list[tuple[int, str | None]]:
    """ "12:sid,13" -> [(12, "sid"), (13, None)]; malformed parts are ignored."""
    found: dict[int, str | None] = {}
    for part in raw.split(",")[:MAX_POLLED]:
        album_id, _, sid = part.strip().partition(":")
        if album_id.isdigit() and 0 < int(album_id) <= 2_147_483_647:
            found[int(album_id)] = sid or None
    return list(found.items())


@bp.get("/covers/")
def covers() -> Response:
    """One poll for all of a page's covers that wait (`ids`): each that became ready,
    or changed how it looks, comes back as an out-of-band swap by its id; the headers
    say which are still pending and when to ask again. The per-cover route stays, for
    JSON clients and the album page."""
    attempt = _attempt()
    base = float(setting("COVER_POLL_SECONDS"))
    swaps: list[CoverView] = []
    still: list[str] = []
    delays: list[float] = []
    for album_id, sid in _poll_keys(request.args.get("ids", "")):
        found = lookup(album_id, "cover", sid)
        if found is None:
            continue  # removed meanwhile
        result = _retry_if_asked(found, "cover")
        drawn = result.status == "unavailable" or (
            result.status == "pending" and attempt == LOOKING_AFTER
        )
        names = _names(album_id) if drawn else ("", "")
        alt = str((result.data or {}).get("alt") or "Album cover")
        view = cover_from_lookup(result, attempt, alt, names)
        if view.state != "pending" or drawn:
            swaps.append(view)  # ready, no cover, failing, or now "looking"
        waiting = view.waiting
        if waiting is not None and waiting.poll_url:  # pending, or failing: ask again
            still.append(view.poll_key)
            delays.append(
                poll_delay(attempt, result.retry_after, base)
                if view.state == "pending"
                else min(max(result.retry_after or 1.0, 1.0), FAILING_POLL_MAX)
            )
    html = render_template("catalog/covers_poll.html", covers=swaps)
    response = Response(html, mimetype="text/html")
    response.headers["X-Pending"] = ",".join(still)
    if delays:
        response.headers["X-Next-Poll-Ms"] = str(round(min(delays) * 1000))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/album/<int(max=2147483647):album_id>/metadata/")
def metadata(album_id: int) -> Response:
    result = lookup(album_id, "metadata", _spotify_id())
    if result is None:
        no_album = MetadataView(waiting=Polling("unavailable", "There is no such album."))
        return _album_not_found("catalog/_metadata.html", meta=no_album)
    result = _retry_if_asked(result, "metadata")
    if _wants_json():
        return _json(result, "metadata")
    view = metadata_from_lookup(result, _attempt())
    return Response(render_template("catalog/_metadata.html", meta=view), mimetype="text/html")
