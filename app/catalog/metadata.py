"""What the album page's Spotify section shows: track list and facts, or a state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import url_for

from app.cache import Lookup
from app.catalog.covers import poll_delay
from app.config import setting
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


def metadata_from_lookup(result: Lookup, attempt: int) -> MetadataView:
    if result.status == "ready" and result.data:
        return MetadataView("ready", result.data.get("metadata") or {})
    if result.status == "no_spotify":
        return MetadataView("no-spotify")
    if result.status == "unavailable":
        if result.reason == "not_found":
            return MetadataView("unavailable", message="Spotify does not know this album.")
        return MetadataView(
            "unavailable",
            message="The track list is unavailable right now.",
            retry_url=_url(result.album_id, 0),
        )
    delay = poll_delay(attempt, result.retry_after, float(setting("COVER_POLL_SECONDS")))
    if delay is None:
        return MetadataView(
            "unavailable",
            message="The track list is taking long to arrive.",
            retry_url=_url(result.album_id, 0),
        )
    return MetadataView(
        "pending",
        poll_url=_url(result.album_id, attempt + 1),
        poll_trigger=f"load delay:{round(delay * 1000)}ms",
    )
