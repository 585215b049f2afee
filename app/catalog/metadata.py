"""What the album page's Spotify section shows: track list and facts, or a state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.cache.lookup import Lookup
from app.cache.states import row_state
from app.catalog.polling import Messages, Polling, Waits, from_lookup, from_row
from app.models import Album

ENDPOINT = "catalog.metadata"
METADATA_MESSAGES = Messages(
    no_spotify="This album is not on Spotify, so there is no track list.",
    not_found="Spotify does not know this album.",
    failing="The track list is failing, retrying",
    slow="Looking for the track list.",
)


@dataclass(frozen=True, slots=True)
class MetadataView(Waits):
    metadata: dict[str, Any] = field(default_factory=lambda: dict[str, Any]())
    waiting: Polling | None = None  # None: the track list is ready

    @property
    def total_ms(self) -> int:
        tracks: list[dict[str, Any]] = self.metadata.get("tracks") or []
        return sum(t.get("duration_ms") or 0 for t in tracks)


def metadata_from_row(album: Album) -> MetadataView:
    """Inline when the database has it; otherwise the section loads it after the page."""
    row = row_state(album, "metadata")
    if row.state == "ready" and album.spotify_metadata_json is not None:
        return MetadataView(album.spotify_metadata_json)
    return MetadataView(
        waiting=from_row(row, album.id, album.spotify_album_id, ENDPOINT, METADATA_MESSAGES, "load")
    )


def metadata_from_lookup(result: Lookup, attempt: int) -> MetadataView:
    if result.status == "ready" and result.data:
        return MetadataView(result.data.get("metadata") or {})
    return MetadataView(waiting=from_lookup(result, attempt, ENDPOINT, METADATA_MESSAGES))
