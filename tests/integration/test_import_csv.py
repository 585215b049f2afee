"""`flask import-albums --csv`: what an administrator sees and what lands in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app import create_app
from app.cache.keys import entry_key
from app.config import TestConfig
from app.extensions import db, get_redis
from app.importer import upsert
from app.models import Album, Artist, Genre
from tests.helpers import DATA, album_by_title, write_csv
from tests.services import redis_url

MESSY = str(DATA / "messy.csv")


def album_count() -> int:
    return db.session.execute(select(func.count()).select_from(Album)).scalar_one()


def snapshot() -> list[tuple[object, ...]]:
    rows = db.session.execute(
        select(
            Album.id, Album.title, Album.year, Album.spotify_album_id, Album.updated_at
        ).order_by(Album.id)
    )
    return [tuple(r) for r in rows]


def test_messy_csv_imports_good_rows_and_reports_bad_ones(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["import-albums", "--csv", MESSY])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith('columns: artist ← "Artist", album ← "Album"')
    assert "created 9, updated 0, unchanged 0, skipped 2, removed 0" in lines
    assert "row 7: artist is empty" in lines
    # An unusable year or link drops that cell and keeps the album, with a warning.
    assert (
        "row 8: year 'next year' is not a year (cell left empty, album imported) (warning)" in lines
    )
    assert (
        "row 9: Spotify link: a Spotify track link, not an album"
        " (cell left empty, album imported) (warning)" in lines
    )
    assert "row 10: duplicate of row 2 (same artist and album)" in lines
    assert any("no calls made" in line for line in lines)

    assert album_count() == 9
    bjork = album_by_title("Homogenic")
    assert bjork.artist.name == "Björk"
    assert bjork.year == 1997
    assert [g.name for g in bjork.genres] == ["Art Pop", "Electronic"]
    assert bjork.spotify_album_id == "3JSUbhrhOyRrR3xQDNpVKq"
    assert album_by_title("Murder Ballads").spotify_album_id == "1bWQ9lJuWr9BjJVUHVUrT4"
    assert album_by_title("OK Computer").spotify_link == (
        "https://open.spotify.com/album/6dVIqQ8qmQ5GBnJ9shOYGE"
    )
    assert album_by_title("Album, With Comma").artist.name == 'The "Quoted" Band'
    assert album_by_title("音楽図鑑").artist.name == "坂本龍一"
    assert (
        album_by_title("<script>alert(1)</script>").genres[0].name == "<img src=x onerror=alert(1)>"
    )


def test_reimport_of_unchanged_source_changes_nothing(runner: FlaskCliRunner) -> None:
    runner.invoke(args=["import-albums", "--csv", MESSY])
    before = snapshot()

    result = runner.invoke(args=["import-albums", "--csv", MESSY])

    assert result.exit_code == 0, result.output
    assert "created 0, updated 0, unchanged 9, skipped 2, removed 0" in result.output
    db.session.expire_all()
    assert snapshot() == before


def cache(album: Album) -> None:
    now = datetime.now(UTC)
    album.cover_url = "https://i.scdn.co/image/abc"
    album.cover_cached_at = now
    album.cover_images = [{"url": "https://i.scdn.co/image/abc", "width": 640, "height": 640}]
    album.spotify_metadata_json = {"name": album.title, "tracks": []}
    album.spotify_metadata_cached_at = now


def test_changed_spotify_id_clears_cache_and_other_changes_keep_it(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    header = ["Artist", "Album", "Year", "Spotify"]
    first = write_csv(
        tmp_path / "a.csv",
        [
            header,
            ["Radiohead", "OK Computer", "1997", "6dVIqQ8qmQ5GBnJ9shOYGE"],
            ["Portishead", "Dummy", "1994", "3539EbNgIdEDGBKkUf4wno"],
            ["Björk", "Post", "1995", "3JSUbhrhOyRrR3xQDNpVKq"],
        ],
    )
    runner.invoke(args=["import-albums", "--csv", str(first)])
    for title in ("OK Computer", "Dummy", "Post"):
        cache(album_by_title(title))
    db.session.commit()

    second = write_csv(
        tmp_path / "b.csv",
        [
            header,
            ["Radiohead", "OK Computer", "1997", "2fGCAYUMssLKiUAoNdxGLx"],  # new Spotify id
            ["Portishead", "DUMMY", "1995", "3539EbNgIdEDGBKkUf4wno"],  # new spelling and year
            ["Björk", "Post", "1995", "3JSUbhrhOyRrR3xQDNpVKq"],  # unchanged
        ],
    )
    result = runner.invoke(args=["import-albums", "--csv", str(second)])
    assert "created 0, updated 2, unchanged 1, skipped 0, removed 0" in result.output

    db.session.expire_all()
    ok = album_by_title("OK Computer")
    assert ok.spotify_album_id == "2fGCAYUMssLKiUAoNdxGLx"
    assert ok.cover_url is None
    assert ok.cover_cached_at is None
    assert ok.cover_images is None
    assert ok.spotify_metadata_json is None
    dummy = album_by_title("Dummy")
    assert (dummy.title, dummy.year) == ("DUMMY", 1995)
    assert dummy.cover_url == "https://i.scdn.co/image/abc"
    assert dummy.spotify_metadata_json == {"name": "Dummy", "tracks": []}
    assert album_by_title("Post").cover_url == "https://i.scdn.co/image/abc"


def test_genre_change_is_an_update(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    write_csv(path, [["Artist", "Album", "Genre"], ["Air", "Moon Safari", "Electronic"]])
    runner.invoke(args=["import-albums", "--csv", str(path)])
    write_csv(path, [["Artist", "Album", "Genre"], ["Air", "Moon Safari", "Downtempo, Electronic"]])

    result = runner.invoke(args=["import-albums", "--csv", str(path)])

    assert "created 0, updated 1, unchanged 0" in result.output
    db.session.expire_all()
    assert [g.name for g in album_by_title("Moon Safari").genres] == ["Downtempo", "Electronic"]


def test_dry_run_reports_counts_and_writes_nothing(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["import-albums", "--csv", MESSY, "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "dry run, nothing written: would have created 9" in result.output
    assert "row 7: artist is empty" in result.output
    assert album_count() == 0
    assert db.session.execute(select(func.count()).select_from(Artist)).scalar_one() == 0


def test_prune_removes_albums_missing_from_the_source_only_when_asked(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    runner.invoke(args=["import-albums", "--csv", MESSY])
    subset = write_csv(
        tmp_path / "subset.csv",
        [["Artist", "Album", "Genres"], ["Radiohead", "OK Computer", "Rock, Alternative"]],
    )

    kept = runner.invoke(args=["import-albums", "--csv", str(subset)])
    assert "removed 0" in kept.output
    assert album_count() == 9

    pruned = runner.invoke(args=["import-albums", "--csv", str(subset), "--prune"])
    assert pruned.exit_code == 0, pruned.output
    assert "created 0, updated 0, unchanged 1, skipped 0, removed 8" in pruned.output
    assert [a.title for a in db.session.execute(select(Album)).scalars()] == ["OK Computer"]
    # Artists and genres left without albums go too.
    assert [a.name for a in db.session.execute(select(Artist)).scalars()] == ["Radiohead"]
    assert sorted(g.name for g in db.session.execute(select(Genre)).scalars()) == [
        "Alternative",
        "Rock",
    ]


def test_stdin_import(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["import-albums", "--csv", "-"], input="artist,title\nAir,Talkie Walkie\n"
    )
    assert result.exit_code == 0, result.output
    assert "created 1," in result.output
    assert album_by_title("Talkie Walkie").artist.name == "Air"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Album,Year\nKid A,2000\n", "required column(s) missing: artist"),
        ("Artist,Album,Artist\nA,B,C\n", "duplicate column header 'Artist'"),
        ("", "has no header row"),
    ],
)
def test_fatal_source_problems_write_nothing(
    runner: FlaskCliRunner, tmp_path: Path, content: str, message: str
) -> None:
    runner.invoke(args=["import-albums", "--csv", MESSY])
    before = snapshot()
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")

    result = runner.invoke(args=["import-albums", "--csv", str(path), "--prune"])

    assert result.exit_code == 1
    assert message in result.output
    assert "Nothing was imported." in result.output
    assert snapshot() == before


def test_missing_file_is_fatal(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["import-albums", "--csv", "/nonexistent/albums.csv"])
    assert result.exit_code == 1
    assert "file not found: /nonexistent/albums.csv" in result.output


def test_a_non_utf8_file_names_the_rows_it_cannot_read(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("Artist,Album\nBjörk,Post\n".encode("latin-1"))
    result = runner.invoke(args=["import-albums", "--csv", str(path)])
    assert result.exit_code == 0
    assert "row 2: contains bytes that are not UTF-8 text" in result.output
    assert album_count() == 0


def test_database_failure_mid_import_rolls_everything_back(
    runner: FlaskCliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows: list[list[str]] = [["Artist", "Album"]]
    rows += [[f"Artist {i}", f"Album {i}"] for i in range(25)]
    path = write_csv(tmp_path / "many.csv", rows)
    real_batch = upsert._upsert_batch  # pyright: ignore[reportPrivateUsage]
    calls = {"n": 0}

    def failing_batch(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OperationalError("INSERT", {}, Exception("connection to server was lost"))
        real_batch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(upsert, "_upsert_batch", failing_batch)
    runner.app.config["IMPORT_BATCH_SIZE"] = 10

    result = runner.invoke(args=["import-albums", "--csv", str(path)])

    assert result.exit_code == 1
    assert "database error: connection to server was lost" in result.output
    assert calls["n"] == 3  # two batches were written before the failure…
    assert album_count() == 0  # …and rolled back


def test_usage_errors_explain_the_options(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["import-albums"])
    assert result.exit_code == 2
    assert "give exactly one of --csv PATH or --sheet KEY_OR_URL" in result.output


def test_no_skip_spotify_queues_one_fetch_per_album_without_a_cover(tmp_path: Path) -> None:
    """--no-skip-spotify hands the fetches to the worker through the real broker: every
    album without a cover, linked (3) or looked for by search and the other sources (6)."""
    url = redis_url()
    app = create_app(TestConfig(f"sqlite:///{tmp_path / 'q.db'}", redis_url=url))
    with app.app_context():
        db.create_all()
        result = app.test_cli_runner().invoke(
            args=["import-albums", "--csv", MESSY, "--no-skip-spotify"]
        )
        db.engine.dispose()
    assert result.exit_code == 0, result.output
    assert "9 albums queued for a background fetch" in result.output
    broker = redis.Redis.from_url(url)
    prefix = app.config["REDIS_PREFIX"]
    assert broker.zcard(f"{prefix}refresh:run") == 9  # waiting for the background lane's feeder
    assert broker.llen(f"{prefix}interactive") == 1  # the feeder, through the real broker
    broker.flushdb()


def test_changed_spotify_id_also_drops_the_redis_copy(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "r.csv"
    write_csv(
        path, [["Artist", "Album", "Spotify"], ["Air", "Moon Safari", "6rVFgEvlqz3Ub69NBBdKYh"]]
    )
    runner.invoke(args=["import-albums", "--csv", str(path)])
    album_id = album_by_title("Moon Safari").id
    get_redis().set(entry_key(album_id, "cover"), '{"status": "ready"}')
    get_redis().set(entry_key(album_id, "metadata"), '{"status": "ready"}')

    write_csv(
        path, [["Artist", "Album", "Spotify"], ["Air", "Moon Safari", "2fGCAYUMssLKiUAoNdxGLx"]]
    )
    runner.invoke(args=["import-albums", "--csv", str(path)])

    assert not get_redis().exists(entry_key(album_id, "cover"))
    assert not get_redis().exists(entry_key(album_id, "metadata"))


def test_no_skip_spotify_is_single_flight(runner: FlaskCliRunner) -> None:
    first = runner.invoke(args=["import-albums", "--csv", MESSY, "--no-skip-spotify"])
    again = runner.invoke(args=["import-albums", "--csv", MESSY, "--no-skip-spotify"])
    assert "9 albums queued for a background fetch" in first.output
    assert "0 albums queued for a background fetch" in again.output  # already queued


def test_strict_rejects_rows_with_an_unusable_year_or_link(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["import-albums", "--csv", MESSY, "--strict"])
    assert "created 7, updated 0, unchanged 0, skipped 4, removed 0" in result.output
    assert "row 8: year 'next year' is not a year" in result.output.splitlines()
    assert album_count() == 7


def test_nul_and_bad_bytes_reject_their_row_not_the_import(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b"Artist,Album\nAir,Moon Safari\nNUL,Al\x00bum\nLatin1,Caf\xe9\nBj\xc3\xb6rk,Homogenic\n"
    )
    result = runner.invoke(args=["import-albums", "--csv", str(path)])
    assert result.exit_code == 0, result.output
    assert "created 2, updated 0, unchanged 0, skipped 2, removed 0" in result.output
    assert "row 3: contains a NUL character" in result.output
    assert "row 4: contains bytes that are not UTF-8 text" in result.output
    assert album_count() == 2
