"""A long album's track pages are each fetched once, even when a page must wait."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import fakeredis

from app.spotify.client import SpotifyClient, SpotifySettings
from app.spotify.limiter import LimiterBusyError
from app.spotify.quota import Bucket
from tools.spotify_sim import SimServer
from tools.spotify_sim.albums import track_count


def _long_album_id() -> str:
    """An id the simulator gives 101-150 tracks: one album call and two track pages."""
    n = 0
    while True:
        candidate = f"longalbum{n:013d}"
        if 100 < track_count(candidate) <= 150:
            return candidate
        n += 1


def test_a_120_track_album_costs_three_calls_though_its_last_page_had_to_wait() -> None:
    album_id = _long_album_id()
    refused: list[Bucket] = []
    calls: dict[str, int] = {"tracks": 0}

    @contextmanager
    def busy_once(bucket: Bucket) -> Iterator[None]:
        # The limiter has no token for the second track page, once (a full queue).
        if bucket == "tracks" and not refused and calls["tracks"] == 1:
            refused.append(bucket)
            raise LimiterBusyError(0.5, "rate")
        calls[bucket] = calls.get(bucket, 0) + 1
        yield

    def guarded(bucket: Bucket) -> AbstractContextManager[object]:
        return busy_once(bucket)

    with SimServer() as sim:
        settings = SpotifySettings(
            "sim-client", "sim-secret", sim.api_base, sim.token_url, timeout=5, batch="off"
        )
        client = SpotifyClient(settings, redis_client=fakeredis.FakeRedis(), guard=guarded)
        try:
            client.album(album_id)
            raise AssertionError("the second page had to wait: the fetch is re-queued")
        except LimiterBusyError:
            pass
        data = client.album(album_id)  # the re-queued try goes on from there
        api = [c.path.split("?")[0] for c in sim.state.api_calls("/v1/albums")]
    assert refused == ["tracks"]
    assert len(data.tracks) == track_count(album_id)
    assert [n.number for n in data.tracks][:3] == [1, 2, 3]
    assert len(api) == 3  # the album, page 2, page 3: each once
    assert len(set(api)) == 2  # /albums/{id} once, /albums/{id}/tracks twice (offsets)
