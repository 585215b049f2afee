"""The Alembic history upgrades and downgrades on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.models import in_models


@pytest.fixture
def bare_app(database_url: str) -> Iterator[Flask]:
    app = create_app(TestConfig(database_url))
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        yield app
        db.session.remove()
        db.engine.dispose()


def test_upgrade_matches_models_and_downgrade_removes_everything(bare_app: Flask) -> None:
    upgrade()
    with db.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert {"albums", "artists", "genres", "album_genres", "alembic_version"} <= tables
        # No difference between the migrated schema and the models.
        context = MigrationContext.configure(conn, opts={"include_object": in_models})
        diff = compare_metadata(context, db.metadata)
        assert diff == []

    downgrade(revision="base")
    with db.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}

    upgrade()  # and back up again
    with db.engine.connect() as conn:
        assert "albums" in inspect(conn).get_table_names()


def test_cache_check_constraint_is_enforced(bare_app: Flask) -> None:
    upgrade()
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO artists (id, name, name_key) VALUES (1, 'A', 'a')"))
    with pytest.raises(Exception, match=r"(?i)check"), db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO albums (title, title_key, artist_id, cover_url, "
                "artist_key, year_key, year_desc_key, search_key) "
                "VALUES ('T', 't', 1, 'https://i.scdn.co/image/x', 'a', 10000, 10000, 't / a')"
            )
        )
    downgrade(revision="base")


def test_upgrade_fills_the_sort_and_search_keys_of_stored_albums(bare_app: Flask) -> None:
    """Albums imported before migration 0003 sort and search like new ones after it."""
    upgrade(revision="0002")
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO artists (id, name, name_key) VALUES (1, 'Beyoncé', 'beyoncé')")
        )
        conn.execute(
            text(
                "INSERT INTO albums (id, title, title_key, artist_id, year) VALUES "
                "(1, 'Lemonade', 'lemonade', 1, 2016), (2, 'Demos', 'demos', 1, NULL)"
            )
        )
    upgrade()
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, artist_key, year_key, year_desc_key, search_key FROM albums ORDER BY id"
            )
        ).all()
        indexes = {i["name"] for i in inspect(conn).get_indexes("albums")}
    assert [tuple(r) for r in rows] == [
        (1, "beyoncé", 2016, -2016, "lemonade / beyonce"),
        (2, "beyoncé", 10000, 10000, "demos / beyonce"),
    ]
    assert {"ix_albums_sort_artist", "ix_albums_sort_title", "ix_albums_sort_year"} <= indexes
    if db.engine.dialect.name == "postgresql":
        assert "ix_albums_search_trgm" in indexes  # searching reads a trigram index


def test_provider_neutral_covers_keep_every_cached_spotify_cover(bare_app: Flask) -> None:
    upgrade(revision="0003")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO artists (id, name, name_key) VALUES (1, 'A', 'a')"))
        conn.execute(
            text(
                "INSERT INTO albums (id, title, title_key, artist_id, spotify_album_id, "
                "spotify_cover_url, spotify_cover_cached_at, artist_key, year_key, "
                "year_desc_key, search_key) VALUES (1, 'T', 't', 1, '4LH4d3cOWNNsVw41Gqt2kv', "
                "'https://i.scdn.co/image/x', CURRENT_TIMESTAMP, 'a', 10000, 10000, 't / a'), "
                "(2, 'U', 'u', 1, NULL, NULL, NULL, 'a', 10000, 10000, 'u / a')"
            )
        )
    upgrade()
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, cover_url, cover_source FROM albums ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, "https://i.scdn.co/image/x", "spotify"),
        (2, None, None),
    ]
    downgrade(revision="0003")  # and back: the Spotify cover is still there
    with db.engine.connect() as conn:
        kept = conn.execute(text("SELECT spotify_cover_url FROM albums WHERE id = 1")).scalar()
    assert kept == "https://i.scdn.co/image/x"
