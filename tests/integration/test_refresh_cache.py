"""`flask refresh-cache` and `flask cache-stats` against the simulator (and workers)."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from app.extensions import db, make_redis_client, redis_ext, set_redis
from app.models import Album, FetchStatus
from tests.helpers import add_album
from tests.pipeline import Pipeline, short_id, wait_for

pytestmark = [pytest.mark.celery, pytest.mark.xdist_group("pipeline")]


def run(pipe: Pipeline, *args: str) -> tuple[int, str]:
    result = pipe.app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def calls(pipe: Pipeline) -> int:
    return len(pipe.sim.state.api_calls("/v1/albums"))


@pytest.fixture
def club(pipe: Pipeline) -> dict[str, Album]:
    ghost_id = short_id()
    pipe.sim.state.update(missing_ids={ghost_id})
    return {
        "kid_a": add_album("Kid A", "Radiohead", genres=["Electronic"], spotify_id=short_id()),
        "ok": add_album("OK Computer", "Radiohead", genres=["Rock"], spotify_id=short_id()),
        "ghost": add_album("Ghost Album", "Radiohead", spotify_id=ghost_id),
        "dummy": add_album("Dummy", "Portishead", genres=["Electronic"], spotify_id=short_id()),
        "demo": add_album("Demo", "Garage Band"),
    }


def test_no_selection_explains_the_options(pipe: Pipeline) -> None:
    code, output = run(pipe, "refresh-cache")
    assert code == 2
    assert "--album-id N (repeatable), --artist NAME, --genre NAME, --missing" in output


def test_dry_run_lists_and_calls_nothing(pipe: Pipeline, club: dict[str, Album]) -> None:
    code, output = run(pipe, "refresh-cache", "--artist", "radiohead", "--dry-run")
    assert code == 0
    assert "dry run: would refresh 3 albums (no Spotify calls made)" in output
    assert f"#{club['kid_a'].id} Radiohead - Kid A" in output
    assert "Dummy" not in output
    assert calls(pipe) == 0


def test_artist_refresh_reports_a_summary(pipe: Pipeline, club: dict[str, Album]) -> None:
    code, output = run(pipe, "refresh-cache", "--artist", "Radiohead")
    assert code == 0, output
    assert "refreshed 2, not found 1, failed 0, skipped 0" in output
    assert calls(pipe) == 3
    db.session.expire_all()
    assert club["kid_a"].cover_url is not None
    assert club["ghost"].spotify_fetch_status == FetchStatus.NOT_FOUND
    assert club["dummy"].cover_url is None  # not selected


def test_genre_and_album_id_selection(pipe: Pipeline, club: dict[str, Album]) -> None:
    _, output = run(pipe, "refresh-cache", "--genre", "electronic", "--dry-run")
    assert "would refresh 2 albums" in output
    assert "Kid A" in output
    assert "Dummy" in output
    _, output = run(pipe, "refresh-cache", "--album-id", str(club["ok"].id), "--album-id", "999999")
    assert "album 999999: no such album" in output
    assert "refreshed 1, not found 0, failed 0, skipped 0" in output


def test_missing_selects_albums_without_a_cover(pipe: Pipeline, club: dict[str, Album]) -> None:
    run(pipe, "refresh-cache", "--album-id", str(club["ok"].id))
    _, output = run(pipe, "refresh-cache", "--missing", "--dry-run")
    # kid a, ghost, dummy and the demo (no link: looked for by search and the others); not ok
    assert "would refresh 4 albums" in output
    assert "OK Computer" not in output


def test_failures_are_listed_with_their_reason(pipe: Pipeline, club: dict[str, Album]) -> None:
    pipe.sim.state.update(error_ratio=1.0)
    code, output = run(pipe, "refresh-cache", "--all")
    assert code == 0
    # The demo has no link: its search fails too (three tries), the other sources lack it.
    assert "refreshed 0, not found 0, failed 5, skipped 0" in output
    assert "failed albums:" in output
    assert f"#{club['dummy'].id} Portishead - Dummy: Spotify answered 5" in output
    assert calls(pipe) == 4 * 3  # three backed-off tries each (refresh-cache's INLINE_ATTEMPTS)
    db.session.expire_all()
    assert club["dummy"].spotify_fetch_status == FetchStatus.ERROR
    assert club["dummy"].spotify_next_retry_at is not None


def test_enqueue_hands_the_work_to_the_workers(
    pipe: Pipeline, pipe_client: FlaskClient, club: dict[str, Album]
) -> None:
    code, output = run(pipe, "refresh-cache", "--genre", "Electronic", "--enqueue")
    assert code == 0
    assert "queued 2 albums for a background refresh (0 without a Spotify link)" in output
    for key in ("kid_a", "dummy"):
        assert wait_for(pipe_client, club[key].id)["status"] == "ready"


def test_cache_stats_counts_albums_lookups_and_calls(
    pipe: Pipeline, pipe_client: FlaskClient, club: dict[str, Album]
) -> None:
    run(pipe, "refresh-cache", "--artist", "Radiohead")
    for _ in range(3):
        pipe_client.get(f"/catalog/album/{club['kid_a'].id}/cover-art/?format=json")
    code, output = run(pipe, "cache-stats", "--json")
    assert code == 0
    stats = json.loads(output)
    assert stats["albums"] == {
        "total": 5,
        "with_spotify": 4,
        "cover_cached": 2,
        "metadata_cached": 2,
        "not_found": 1,
        "failing": 0,
        "not_fetched": 2,  # the album without a link is looked for too (not yet viewed)
        "no_spotify": 1,
    }
    lookups = stats["lookups"]
    assert lookups["redis"] + lookups["database"] == 3
    assert stats["hit_rate"] == 1.0
    # Two lookups, one dead link (404), which is then searched for by name (one search).
    assert stats["spotify_calls"] == {"AlbumNotFoundError": 1, "ok": 3}

    _, text = run(pipe, "cache-stats")
    assert "cover cached 2" in text
    assert "hit rate 100.0%" in text

    metrics = pipe_client.get("/metrics").get_data(as_text=True)
    assert 'album_catalog_albums{state="cover_cached"} 2.0' in metrics
    assert 'album_catalog_spotify_calls_total{outcome="ok"} 3.0' in metrics


def test_enqueue_without_redis_says_so_and_fails(pipe: Pipeline, club: dict[str, Album]) -> None:
    set_redis(pipe.app, make_redis_client("redis://127.0.0.1:1/0"))  # nothing listens there
    try:
        code, output = run(pipe, "refresh-cache", "--all", "--enqueue")
    finally:
        redis_ext.init_app(pipe.app)
    assert code != 0
    assert "cannot reach Redis to queue the refresh" in output
    assert "queued" not in output.replace("nothing was queued", "")
