"""What a not-yet-ready fragment shows: keep polling (with backoff), or stop and offer
a retry. Shared by the cover-art and metadata fragments and the pages that embed them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from flask import url_for

from app.cache.lookup import Lookup
from app.cache.states import RowState
from app.config import setting

POLL_GROWTH = 1.3
POLL_MAX_DELAY = 3.0
# Most covers arrive within a second or two: poll at the base rate that long, then back off.
POLL_STEADY = 8
# Polls after which a pending cover says "Looking for the cover" (about 1.5 s): no longer
# loading, the sources are being asked.
LOOKING_AFTER = 6
# A failing album's fragment polls again at its retry time, but at least this often.
FAILING_POLL_MAX = 30.0
Waiting = Literal["pending", "unavailable", "no-spotify"]
ViewState = Literal["ready", "pending", "unavailable", "no-spotify"]


def poll_delay(attempt: int, retry_after: float | None, base: float) -> float:
    """Seconds before poll number `attempt + 1` (the first after `base`).

    A fragment never gives up while the server says a fetch is scheduled: it backs off
    to POLL_MAX_DELAY and keeps asking, so a cover shows as soon as it exists."""
    delay = min(base * POLL_GROWTH ** max(0, attempt - POLL_STEADY + 1), POLL_MAX_DELAY)
    return max(delay, min(retry_after or 0, POLL_MAX_DELAY * 3))


def fragment_url(
    endpoint: str,
    album_id: int,
    spotify_id: str | None = None,
    attempt: int = 0,
    *,
    retry: bool = False,
) -> str:
    """The URL of a fragment (`catalog.cover_art`, `catalog.metadata`) and its poll count.

    `sid` is the Spotify id the page was rendered with: a Redis entry for another
    Spotify id (another database's, or an old link's) is then never served.
    """
    args: dict[str, Any] = {"album_id": album_id}
    if spotify_id:
        args["sid"] = spotify_id
    if attempt:
        args["attempt"] = attempt
    if retry:
        args["retry"] = 1  # "Try again": fetch now, whatever the retry time says
    return url_for(endpoint, **args)


@dataclass(frozen=True, slots=True)
class Messages:
    no_spotify: str
    not_found: str
    failing: str
    slow: str


@dataclass(frozen=True, slots=True)
class Polling:
    """Where a fragment that is not ready stands, and what it asks for next."""

    state: Waiting
    message: str = ""
    poll_url: str | None = None  # pending: the fragment to ask for next
    poll_trigger: str = ""  # htmx trigger for that request
    retry_url: str | None = None  # unavailable for now: a "try again" control


class Waits:
    """A fragment's view: ready, or `waiting` says where it stands (`data-*-state`)."""

    __slots__ = ()
    waiting: Polling | None

    @property
    def state(self) -> ViewState:
        return "ready" if self.waiting is None else self.waiting.state


def from_row(
    row: RowState,
    album_id: int,
    spotify_id: str | None,
    endpoint: str,
    messages: Messages,
    trigger: str,
) -> Polling:
    """A page rendered from the database: the row's state, or a fragment to load."""
    if row.state == "no_spotify":
        return Polling("no-spotify", messages.no_spotify)
    if row.state == "not_found":
        return Polling("unavailable", messages.not_found)
    if row.state == "error":
        return _failing(album_id, spotify_id, endpoint, messages, row.retry_at)
    url = fragment_url(endpoint, album_id, spotify_id)
    return Polling("pending", poll_url=url, poll_trigger=trigger)


def _failing(
    album_id: int,
    spotify_id: str | None,
    endpoint: str,
    messages: Messages,
    retry_at: datetime | None,
) -> Polling:
    """Failing for now: say when it is tried again, poll then, and offer "Try again"."""
    wait = max(0.0, (retry_at - datetime.now(UTC)).total_seconds()) if retry_at else 0.0
    message = messages.failing
    if wait >= 1:
        message = f"{messages.failing} in {_duration(wait)}"
    return Polling(
        "unavailable",
        message,
        poll_url=fragment_url(endpoint, album_id, spotify_id),
        poll_trigger=f"load delay:{round(min(max(wait, 1.0), FAILING_POLL_MAX) * 1000)}ms",
        retry_url=fragment_url(endpoint, album_id, spotify_id, retry=True),
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{round(seconds)} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"


def from_lookup(result: Lookup, attempt: int, endpoint: str, messages: Messages) -> Polling:
    """A polled fragment whose lookup is not `ready`."""
    if result.status == "no_spotify":
        return Polling("no-spotify", messages.no_spotify)
    if result.status == "unavailable":
        if result.reason == "not_found":
            return Polling("unavailable", messages.not_found)
        retry_at = datetime.now(UTC) + timedelta(seconds=result.retry_after or 0)
        return _failing(result.album_id, result.spotify_id, endpoint, messages, retry_at)
    delay = poll_delay(attempt, result.retry_after, float(setting("COVER_POLL_SECONDS")))
    return Polling(
        "pending",
        # After a few polls it is no longer loading: the sources are being asked.
        messages.slow if attempt >= LOOKING_AFTER else "",
        poll_url=fragment_url(endpoint, result.album_id, result.spotify_id, attempt + 1),
        poll_trigger=f"load delay:{round(delay * 1000)}ms",
    )
