"""Catalog pages: the album grid (whole, or the part htmx asks for) and the album page."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.wrappers import Response

from app.cache.fetch_lock import mark_viewed
from app.catalog.blueprint import bp
from app.catalog.covers import cover_credit, cover_view
from app.catalog.metadata import metadata_from_row
from app.catalog.page_cache import Page, cached_page
from app.catalog.paging import fetch_page, position_from_args
from app.catalog.queries import SORT_LABELS, CatalogFilters, genre_choices, order_for
from app.catalog.tiles import render_tiles
from app.config import setting
from app.extensions import db
from app.models import Album

# What an htmx request asks for (its HX-Target) -> the template that answers it.
PARTS = {"results": "catalog/_results.html", "more": "catalog/_more.html"}


def _part() -> str:
    """ "page", or the part of it htmx swaps in (a live search, the next tiles)."""
    if request.headers.get("HX-Request") != "true" or request.headers.get(
        "HX-History-Restore-Request"
    ):
        return "page"
    target = request.headers.get("HX-Target", "")
    return target if target in PARTS else "page"


@bp.get("/")
def index() -> Response:
    part = _part()
    return cached_page(part, lambda: _render_index(part))


def _render_index(part: str) -> Page:
    args = request.args.to_dict()
    filters = CatalogFilters.from_args(args)
    page = fetch_page(
        filters, position_from_args(args, order_for(filters)), setting("CATALOG_PAGE_SIZE")
    )
    tiles = render_tiles(page.rows, request.full_path.rstrip("?"))
    context: dict[str, Any] = {
        "page": page,
        "tiles": tiles.html,
        "filters": filters,
        "args": filters.url_args(),
        "sort_labels": SORT_LABELS,
    }
    pending = tiles.pending
    if part in PARTS:
        if part == "results":
            context["genres"] = genre_choices()
        return Page(render_template(PARTS[part], **context), pending)
    return Page(render_template("catalog/index.html", genres=genre_choices(), **context), pending)


@bp.get("/album/<int(max=2147483647):album_id>/")
def album_detail(album_id: int) -> str:
    album = db.session.get(
        Album, album_id, options=[joinedload(Album.artist), selectinload(Album.genres)]
    )
    if album is None:
        abort(404, description="There is no album with that number in the catalog.")
    mark_viewed([album.id])  # its cover and track list are asked for at once
    return render_template(
        "catalog/album.html",
        album=album,
        cover=cover_view(album, trigger="load"),
        credit=cover_credit(album),
        meta=metadata_from_row(album),
    )
