"""What a not-yet-ready fragment shows: keep polling (with backoff), or stop and offer
a retry. Shared by the cover-art and metadata fragments and the pages that embed them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from flask import url_for

from app.cache.lookup import Lookup
from app.cache.states import RowState
from app.config import setting

POLL_GROWTH = 1.3
POLL_MAX_DELAY = 3.0
# Most covers arrive within a second or two: poll at the base rate that long, then back off.
POLL_STEADY = 8
POLL_GIVE_UP_AFTER = 30.0  # seconds of polling before showing "unavailable" + retry
Waiting = Literal["pending", "unavailable", "no-spotify"]
ViewState = Literal["ready", "pending", "unavailable", "no-spotify"]


def poll_delay(attempt: int, retry_after: float | None, base: float) -> float | None:
    """Seconds before poll number `attempt + 1` (the first after `base`), or None to stop."""
    delays = [
        min(base * POLL_GROWTH ** max(0, n - POLL_STEADY + 1), POLL_MAX_DELAY)
        for n in range(attempt + 1)
    ]
    if sum(delays) > POLL_GIVE_UP_AFTER:
        return None
    return max(delays[-1], min(retry_after or 0, POLL_MAX_DELAY * 3))


def fragment_url(
    endpoint: str, album_id: int, spotify_id: str | None = None, attempt: int = 0
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
        url = fragment_url(endpoint, album_id, spotify_id)
        return Polling("unavailable", messages.failing, retry_url=url)
    url = fragment_url(endpoint, album_id, spotify_id)
    return Polling("pending", poll_url=url, poll_trigger=trigger)


def from_lookup(result: Lookup, attempt: int, endpoint: str, messages: Messages) -> Polling:
    """A polled fragment whose lookup is not `ready`."""
    retry = fragment_url(endpoint, result.album_id, result.spotify_id)
    if result.status == "no_spotify":
        return Polling("no-spotify", messages.no_spotify)
    if result.status == "unavailable":
        if result.reason == "not_found":
            return Polling("unavailable", messages.not_found)
        return Polling("unavailable", messages.failing, retry_url=retry)
    delay = poll_delay(attempt, result.retry_after, float(setting("COVER_POLL_SECONDS")))
    if delay is None:
        return Polling("unavailable", messages.slow, retry_url=retry)
    return Polling(
        "pending",
        poll_url=fragment_url(endpoint, result.album_id, result.spotify_id, attempt + 1),
        poll_trigger=f"load delay:{round(delay * 1000)}ms",
    )
