"""Catalogs that share one Redis never see each other's cache (REDIS_PREFIX), and a
cached entry is served only for the Spotify id its album row has."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import update

from app import create_app
from app.config import TestConfig, default_redis_prefix
from app.extensions import db
from app.models import Album
from tests.helpers import add_album
from tests.services import redis_url

COVER = "https://i.scdn.co/image/club-cover"


@pytest.fixture
def shared_redis() -> Iterator[str]:
    url = redis_url()
    yield url
    redis.Redis.from_url(url).flushdb()


def catalog(database_url: str, redis: str) -> Flask:
    app = create_app(TestConfig(database_url, redis_url=redis))
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def cover_json(app: Flask, album_id: int, sid: str = "") -> dict[str, object]:
    query = f"&sid={sid}" if sid else ""
    return (
        app.test_client().get(f"/catalog/album/{album_id}/cover-art/?format=json{query}").json or {}
    )


def test_the_default_prefix_names_the_database_and_tells_same_names_apart() -> None:
    club = default_redis_prefix("sqlite:////srv/club/albums.db")
    assert re.fullmatch(r"albums-[0-9a-f]{8}:", club)
    assert default_redis_prefix("sqlite:////srv/label/albums.db") != club  # same name
    label = default_redis_prefix("postgresql+psycopg://u:secret@db/label_archive")
    assert label.startswith("label_archive-")
    assert default_redis_prefix("postgresql+psycopg://u:secret@db2/label_archive") != label
    # The password is not part of where the database is: rotating it keeps the cache.
    assert default_redis_prefix("postgresql+psycopg://u:other@db/label_archive") == label
    assert default_redis_prefix("sqlite://").startswith("memory-")


def test_two_catalogs_on_one_redis_never_see_each_others_entries(
    database_url: str, tmp_path: Path, shared_redis: str
) -> None:
    club = catalog(database_url, shared_redis)
    label = catalog(f"sqlite:///{tmp_path / 'label.db'}", shared_redis)
    assert club.config["REDIS_PREFIX"] != label.config["REDIS_PREFIX"]
    with club.app_context():
        club_id = add_album(
            "Club record", "Club band", spotify_id="4aawyAB9vmqN3uQ7FjRGTy", cover_url=COVER
        ).id
    with label.app_context():
        label_id = add_album("Label record", "Label band", spotify_id="1ATL5GLyefJaxhQzSPVrLX").id
    assert club_id == label_id == 1  # the same id in both databases

    assert cover_json(club, 1)["cover_url"] == COVER  # read from the row, now in Redis too
    assert cover_json(club, 1)["cover_url"] == COVER  # and again, from Redis
    label_sees = cover_json(label, 1)
    assert label_sees["status"] == "pending"  # its own album is not fetched yet
    assert "cover_url" not in label_sees

    keys = [k.decode() for k in redis.Redis.from_url(shared_redis).scan_iter("*")]
    club_keys = [k for k in keys if k.startswith(club.config["REDIS_PREFIX"])]
    label_keys = [k for k in keys if k.startswith(label.config["REDIS_PREFIX"])]
    assert any(k.endswith("album:1:cover") for k in club_keys)
    assert any(k.endswith("album:1:fetch-lock") for k in label_keys)  # its fetch, queued
    assert sorted(club_keys + label_keys) == sorted(keys)  # nothing outside a namespace


def test_a_cached_cover_for_another_spotify_id_is_never_served(
    database_url: str, shared_redis: str
) -> None:
    """A database recreated under the same prefix, or a row whose link changed behind
    the app's back: the Redis entry no longer matches the row and is ignored."""
    app = catalog(database_url, shared_redis)
    with app.app_context():
        album_id = add_album("Old", "Band", spotify_id="4aawyAB9vmqN3uQ7FjRGTy", cover_url=COVER).id
    assert cover_json(app, album_id)["cover_url"] == COVER  # cached in Redis
    with app.app_context():
        db.session.execute(
            update(Album)
            .where(Album.id == album_id)
            .values(
                spotify_album_id="1ATL5GLyefJaxhQzSPVrLX",
                cover_url=None,
                cover_cached_at=None,
                cover_images=None,
            )
        )
        db.session.commit()
    assert cover_json(app, album_id)["status"] == "pending"  # JSON clients: the row decides
    assert cover_json(app, album_id, sid="1ATL5GLyefJaxhQzSPVrLX")["status"] == "pending"
    page = app.test_client().get(f"/catalog/album/{album_id}/").get_data(as_text=True)
    assert COVER not in page
    assert "sid=1ATL5GLyefJaxhQzSPVrLX" in page  # its tile asks for the row's Spotify id
