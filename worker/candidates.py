"""Cover candidates for an administrator: what every enabled source offers for an album.

The album page's "Change cover" panel asks for them; a web request never calls a
source, so `request_candidates` queues `collect_candidates_task` and the panel polls
until the list is in Redis (`stored`). `flask covers candidates` gathers them in
the command itself. Every call goes through the sources' own limiters, as a fetch's do.

A candidate is listed only with an image from an allowed host (nothing else could be
pinned). The list keeps its order for CANDIDATES_TTL, so "candidate 3" means the same
album on the panel and on the command line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import redis
from celery import Celery, Task, shared_task
from flask import current_app

from app.config import setting
from app.extensions import get_redis, redis_key
from app.sources.base import AlbumQuery, SourceUnavailableError
from app.sources.matching import Candidate, score
from app.spotify.errors import SpotifyError
from app.spotify.images import allowed_images
from app.spotify.limiter import LimiterBusyError
from worker.service import spotify_service
from worker.sources import cover_sources
from worker.store import FetchRow, load_album

log = logging.getLogger(__name__)
COLLECT_CANDIDATES_TASK = "worker.tasks.collect_candidates"
CANDIDATES_TTL = 3600  # s: a listed candidate keeps its number this long
PENDING_TTL = 60  # s: a lost task lets the panel ask again after this
CONFIRMED_PER_SOURCE = 3  # sources whose images need a second call (the CAA): the best few
MAX_WAIT = 5.0  # s a source's limiter may keep the administrator waiting


def candidates_key(album_id: int) -> str:
    return redis_key(f"curation:candidates:{album_id}")


@dataclass(frozen=True, slots=True)
class CandidateList:
    """An album's candidates: "pending" while the worker asks, then "ready"."""

    state: str
    candidates: list[dict[str, Any]] = field(default_factory=lambda: list[dict[str, Any]]())
    errors: dict[str, str] = field(default_factory=lambda: dict[str, str]())
    at: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {"state": self.state, "candidates": self.candidates, "errors": self.errors,
             "at": self.at}
        )  # fmt: skip

    def candidate(self, number: int) -> Candidate | None:
        """Candidate `number` (1-based, as listed)."""
        if not 1 <= number <= len(self.candidates):
            return None
        return Candidate.from_json(self.candidates[number - 1])


def stored(album_id: int) -> CandidateList | None:
    raw = cast(bytes | None, get_redis().get(candidates_key(album_id)))
    if raw is None:
        return None
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    data = cast(dict[str, Any], data)
    candidates: Any = data.get("candidates")
    errors: Any = data.get("errors")
    return CandidateList(
        str(data.get("state", "pending")),
        cast(list[dict[str, Any]], candidates) if isinstance(candidates, list) else [],
        cast(dict[str, str], errors) if isinstance(errors, dict) else {},
        cast(str | None, data.get("at")),
    )


def request_candidates(album_id: int, *, again: bool = False) -> CandidateList:
    """The stored list, or "pending" with a task queued to gather it (one at a time)."""
    client = get_redis()
    found = stored(album_id)
    if found is not None and not (again and found.state == "ready"):
        return found
    pending = CandidateList("pending")
    if client.set(candidates_key(album_id), pending.to_json(), ex=PENDING_TTL, nx=not again):
        try:
            _task(collect_candidates_task).apply_async((album_id,), queue="interactive")
        except Exception:
            client.delete(candidates_key(album_id))
            raise
    return pending


def _with_images(candidate: Candidate) -> Candidate | None:
    allowed: tuple[str, ...] = setting("IMAGE_HOSTS")
    images = tuple(allowed_images(candidate.images, allowed))
    if not images:
        return None
    return Candidate(
        candidate.source, candidate.ref, candidate.title, candidate.artist, candidate.year,
        images, candidate.url, candidate.upc,
    )  # fmt: skip


def _linked(row: FetchRow) -> Candidate | None:
    """The album the sheet's link (or a search match) names, as Spotify has it."""
    if not row.spotify_id:
        return None
    data = spotify_service().client.album(row.spotify_id)
    artist = ", ".join(data.artists) if data.artists else row.artist
    released = data.release_date or ""
    year = int(released[:4]) if released[:4].isdigit() else None
    source = "spotify" if row.sheet_id else "spotify-search"
    return Candidate(source, row.spotify_id, data.name, artist, year, data.images, data.spotify_url)


def _from_source(name: str, query: AlbumQuery) -> list[Candidate]:
    sources = cover_sources()
    source = sources.entries[name].source
    offered = sources.call(name, "search", MAX_WAIT, lambda: source.candidates(query))
    if sources.entries[name].confirm is None:
        return offered  # the search answer carries the images
    confirmed: list[Candidate] = []
    for candidate in offered[:CONFIRMED_PER_SOURCE]:
        found = sources.call(name, "confirm", MAX_WAIT, lambda c=candidate: source.confirm(c))
        if found is not None:
            confirmed.append(found)
    return confirmed


def gather(album_id: int) -> CandidateList | None:
    """Ask every enabled source now (under its limiter); None when there is no such album."""
    row = load_album(album_id)
    if row is None:
        return None
    query = AlbumQuery(row.title, row.artist, row.year, row.upc)
    offered: list[Candidate] = []
    errors: dict[str, str] = {}
    # An administrator waits: a visitor's budget (the interactive lane), a short wait.
    with spotify_service().waiting_at_most(MAX_WAIT, "interactive"):
        try:
            if (linked := _linked(row)) is not None:
                offered.append(linked)
        except (SpotifyError, LimiterBusyError) as exc:
            errors["spotify"] = str(exc)[:200] or type(exc).__name__
        for name in cover_sources().names():
            try:
                offered += _from_source(name, query)
            except (SourceUnavailableError, SpotifyError, LimiterBusyError) as exc:
                errors[name] = str(exc)[:200] or type(exc).__name__
    listed: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for candidate in offered:
        usable = _with_images(candidate)
        if usable is None or (usable.source, usable.ref) in seen:
            continue
        seen.add((usable.source, usable.ref))
        fit = score(row.title, row.artist, row.year, usable)
        listed.append(usable.to_json() | {"score": round(fit, 3) if fit is not None else None})
    return CandidateList("ready", listed, errors, datetime.now(UTC).isoformat())


def save(album_id: int, found: CandidateList) -> None:
    get_redis().set(candidates_key(album_id), found.to_json(), ex=CANDIDATES_TTL)


@shared_task(name=COLLECT_CANDIDATES_TASK, ignore_result=True)
def collect_candidates_task(album_id: int) -> int:
    """Gather an album's candidates for the administrator's panel; how many were found."""
    try:
        found = gather(album_id)
    except redis.RedisError:
        log.warning("album %s: Redis unavailable; candidates not gathered", album_id)
        return 0
    except Exception:
        # The panel must not poll "pending" for a minute: say so, and offer to ask again.
        log.exception("album %s: gathering candidates failed", album_id)
        found = CandidateList("ready", [], {"worker": "gathering candidates failed"})
    if found is None:
        get_redis().delete(candidates_key(album_id))
        return 0
    save(album_id, found)
    return len(found.candidates)


def _task(task: Any) -> Task[Any, Any]:
    """The task as registered on this Flask app's Celery (see worker.tasks._task)."""
    celery: Celery[Any] = current_app.extensions["celery"]
    return celery.tasks[cast(Task[Any, Any], task).name]
