"""The album grid, rendered once and served from Redis while nothing changed.

A rendered page is keyed by the catalog's versions (albums and covers, see
`app.cache.versions`), a time bucket (CATALOG_PAGE_CACHE_SECONDS, 30 s by default)
and the request's URL and variant, so an import or an arriving cover retires it at
once and a page never outlives its bucket (a tile's "try again later" state ends on a
clock, not on an event). The same key is the page's ETag: a browser revalidating gets
304 without any rendering.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import request
from werkzeug.wrappers import Response

from app.cache import versions
from app.cache.fetch_lock import mark_viewed
from app.cache.memo import keep_many, recall_many
from app.config import setting
from app.extensions import redis_key


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered grid: its HTML and the albums whose tiles wait for a cover."""

    html: str
    pending: list[int]


def _fingerprint(variant: str, seconds: int) -> str | None:
    if seconds <= 0:
        return None  # switched off (CATALOG_PAGE_CACHE_SECONDS=0)
    version = versions.current()
    if version is None:
        return None  # without Redis there is no version to trust: render every time
    bucket = int(time.time() // seconds)
    raw = f"{version[0]}.{version[1]}|{bucket}|{variant}|{request.full_path}"
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def cached_page(variant: str, render: Callable[[], Page]) -> Response:
    """`render()`'s HTML, or the copy rendered for the same URL while nothing changed.

    Every answer (a copy, a 304 included) says which of its tiles wait for a cover: a
    visitor is looking at them (`app.cache.fetch_lock.mark_viewed`). A copy and that
    list are read in one round trip (a page served from Redis costs under a millisecond,
    and each trip to Redis is a tenth of one)."""
    seconds = int(setting("CATALOG_PAGE_CACHE_SECONDS"))
    fingerprint = _fingerprint(variant, seconds)
    if fingerprint is None:
        page = render()
        mark_viewed(page.pending)
        return _response(page.html, None)
    key = redis_key(f"catalog:page:{fingerprint}")
    if fingerprint in request.if_none_match:
        (pending,) = recall_many([f"{key}:pending"])
        mark_viewed(json.loads(pending) if pending else [])
        return _response("", fingerprint, status=304)
    body, pending = recall_many([key, f"{key}:pending"])
    if body is None or pending is None:
        page = render()
        keep_many({key: page.html, f"{key}:pending": json.dumps(page.pending)}, seconds)
        body, viewed = page.html, page.pending
    else:
        viewed = [int(i) for i in json.loads(pending)]
    mark_viewed(viewed)
    return _response(body, fingerprint)


def _response(body: str, fingerprint: str | None, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    # Browsers keep the page but ask again each time; the ETag makes asking cheap.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Vary"] = "HX-Request, HX-Target"
    if fingerprint is not None:
        response.set_etag(fingerprint)
    return response
