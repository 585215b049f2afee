"""What the album page's Spotify section shows: track list and facts, or a state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import url_for

from app.cache import Lookup
from app.catalog.polling import Messages, not_ready
from app.models import Album, FetchStatus


@dataclass(frozen=True, slots=True)
class MetadataView:
    state: str
    metadata: dict[str, Any] = field(default_factory=lambda: dict[str, Any]())
    poll_url: str | None = None
    poll_trigger: str = ""
    retry_url: str | None = None
    message: str = ""

    @property
    def total_ms(self) -> int:
        tracks: list[dict[str, Any]] = self.metadata.get("tracks") or []
        return sum(t.get("duration_ms") or 0 for t in tracks)


def _url(album_id: int, attempt: int) -> str:
    args: dict[str, Any] = {"album_id": album_id}
    if attempt:
        args["attempt"] = attempt
    return url_for("catalog.metadata", **args)


def metadata_from_row(album: Album) -> MetadataView:
    """Inline when the database has it; otherwise the section loads it after the page."""
    if album.spotify_metadata_json is not None:
        return MetadataView("ready", album.spotify_metadata_json)
    if not album.spotify_album_id:
        return MetadataView("no-spotify")
    if album.spotify_fetch_status == FetchStatus.NOT_FOUND:
        return MetadataView("unavailable", message="Spotify does not know this album.")
    return MetadataView("pending", poll_url=_url(album.id, 0), poll_trigger="load")


METADATA_MESSAGES = Messages(
    no_spotify="This album has no Spotify link, so there is no track list.",
    not_found="Spotify does not know this album.",
    failing="The track list is unavailable right now.",
    slow="The track list is taking long to arrive.",
)


def metadata_from_lookup(result: Lookup, attempt: int) -> MetadataView:
    if result.status == "ready" and result.data:
        return MetadataView("ready", result.data.get("metadata") or {})
    view = not_ready(result, attempt, _url, METADATA_MESSAGES)
    return MetadataView(
        view.state,
        message=view.message,
        poll_url=view.poll_url,
        poll_trigger=view.poll_trigger,
        retry_url=view.retry_url,
    )
