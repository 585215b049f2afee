"""The cache state's two definitions agree: `row_state` (Python) and `state_sql` (SQL).

Every state, for both kinds, on SQLite and PostgreSQL: the tiles and fragments (which
use the Python one) and `cache-stats`, `/metrics`, `refresh-cache --missing` and the
importer (which use the SQL one) can never tell a visitor and an operator different
stories about the same album.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from app.cache.keys import KINDS
from app.cache.states import STATES, missing_cover, row_state, state_sql
from app.extensions import db
from app.models import Album, FetchStatus
from app.ops.report import album_counts
from tests.helpers import add_album

NOW = datetime.now(UTC)
SID = "4LH4d3cOWNNsVw41Gqt2kv"


def _answered(album: Album, *, image: bool) -> None:
    album.spotify_metadata_json = {"name": album.title, "tracks": []}
    album.spotify_metadata_cached_at = NOW
    album.spotify_fetch_status = FetchStatus.OK.value
    if image:
        album.cover_url = "https://i.scdn.co/image/x"
        album.cover_cached_at = NOW


def _spotify(status: FetchStatus, retry_in: float | None) -> Callable[[Album], None]:
    def apply(album: Album) -> None:
        album.spotify_fetch_status = status.value
        if retry_in is not None:
            album.spotify_next_retry_at = NOW + timedelta(seconds=retry_in)

    return apply


def _cover(
    status: str, retry_in: float | None, then: Callable[[Album], None] | None = None
) -> Callable[[Album], None]:
    def apply(album: Album) -> None:
        album.cover_status = status
        if retry_in is not None:
            album.cover_retry_at = NOW + timedelta(seconds=retry_in)
        if then is not None:
            then(album)

    return apply


# Album rows, as the worker leaves them, that between them reach every state of both kinds.
ROWS: dict[str, tuple[str | None, Callable[[Album], None]]] = {
    "no link, not looked for yet": (None, lambda a: None),
    "empty link": ("", lambda a: None),
    "no link, no cover anywhere": (None, _cover("none", 14 * 86400)),
    "no link, nothing found, memory expired": (None, _cover("none", -5)),
    "never fetched": (SID, lambda a: None),
    "fetched": (SID, lambda a: _answered(a, image=True)),
    "answered without an image, not yet resolved": (SID, lambda a: _answered(a, image=False)),
    "dead link, no cover anywhere": (
        SID,
        _cover("none", None, _spotify(FetchStatus.NOT_FOUND, 3600)),
    ),
    "dead link, not yet resolved": (SID, _spotify(FetchStatus.NOT_FOUND, -3600)),
    "failing": (SID, _cover("error", 300, _spotify(FetchStatus.ERROR, 300))),
    "failed, retry time passed": (SID, _cover("error", -5, _spotify(FetchStatus.ERROR, -5))),
    "failed, no retry time": (SID, _cover("error", None, _spotify(FetchStatus.ERROR, None))),
}


def _build() -> dict[str, int]:
    ids: dict[str, int] = {}
    for n, (name, (spotify_id, shape)) in enumerate(ROWS.items()):
        album = add_album(f"Album {n}", "Artist", spotify_id=spotify_id)
        shape(album)
        db.session.commit()
        ids[name] = album.id
    return ids


def test_python_and_sql_agree_on_every_state_and_kind(app: Flask) -> None:
    ids = _build()
    seen: set[str] = set()
    for kind in KINDS:
        rows = db.session.execute(select(Album.id, state_sql(kind))).all()
        in_sql = {int(album_id): str(state) for album_id, state in rows}
        for name, album_id in ids.items():
            album = db.session.get(Album, album_id)
            assert album is not None
            in_python = row_state(album, kind).state
            assert in_sql[album_id] == in_python, (name, kind)
            seen.add(in_python)
    assert seen == set(STATES)  # the rows above really reach every state


def test_the_report_and_missing_covers_follow_the_same_definition(app: Flask) -> None:
    ids = _build()
    albums = [db.session.get(Album, i) for i in ids.values()]
    cover = Counter(row_state(a, "cover").state for a in albums if a is not None)
    metadata = Counter(row_state(a, "metadata").state for a in albums if a is not None)
    counts = album_counts()
    assert counts.total == len(ROWS)
    assert (counts.cover_cached, counts.not_found, counts.failing, counts.not_fetched) == (
        cover["ready"],
        cover["not_found"],
        cover["error"],
        cover["missing"],
    )
    assert counts.metadata_cached == metadata["ready"]
    # As a visitor sees them: a failure whose retry time has passed is "not fetched
    # yet", not "failing"; an answer without an image is still being looked for.
    assert (counts.cover_cached, counts.not_found, counts.failing) == (1, 2, 1)
    missing = set(db.session.execute(select(Album.id).where(missing_cover())).scalars())
    assert missing == {i for name, i in ids.items() if name != "fetched"}
