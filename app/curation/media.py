"""Uploaded covers, served by the app: content-addressed, so cached for a year."""

from __future__ import annotations

from flask import Blueprint, abort, send_file
from werkzeug.wrappers import Response

from app.curation.pins import upload_folder
from app.curation.uploads import cover_path

bp = Blueprint("media", __name__)
YEAR = 365 * 24 * 3600


@bp.get("/media/covers/<name>")
def cover(name: str) -> Response:
    path = cover_path(upload_folder(), name)
    if path is None:
        abort(404, description="There is no such cover.")
    response = send_file(path, mimetype="image/jpeg", max_age=YEAR, conditional=True)
    # The name is the content's hash: it never changes, so browsers need not ask again.
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return response
