"""Catalog pages: the album grid and the album detail page."""

from __future__ import annotations

from flask import abort, render_template, request
from sqlalchemy.orm import joinedload, selectinload

from app.catalog.blueprint import bp
from app.catalog.covers import cover_view
from app.catalog.metadata import metadata_from_row
from app.catalog.queries import SORT_LABELS, CatalogFilters, catalog_select, genre_choices
from app.config import setting
from app.extensions import db
from app.models import Album

MAX_PAGE = 100_000  # far past any catalog's end; keeps OFFSET within the database's range


def _page_number() -> int:
    try:
        return min(MAX_PAGE, max(1, int(request.args.get("page", "1"))))
    except ValueError:
        return 1


@bp.get("/")
def index() -> str:
    filters = CatalogFilters.from_args(request.args.to_dict())
    page = db.paginate(
        catalog_select(filters),
        page=_page_number(),
        per_page=setting("CATALOG_PAGE_SIZE"),
        error_out=False,
        count=True,
    )
    genres = db.session.execute(genre_choices()).all()
    return render_template(
        "catalog/index.html",
        page=page,
        albums=[(album, cover_view(album)) for album in page.items],
        filters=filters,
        genres=genres,
        sort_labels=SORT_LABELS,
    )


@bp.get("/album/<int(max=2147483647):album_id>/")
def album_detail(album_id: int) -> str:
    album = db.session.get(
        Album, album_id, options=[joinedload(Album.artist), selectinload(Album.genres)]
    )
    if album is None:
        abort(404, description="There is no album with that number in the catalog.")
    return render_template(
        "catalog/album.html",
        album=album,
        cover=cover_view(album, trigger="load"),
        meta=metadata_from_row(album),
    )
