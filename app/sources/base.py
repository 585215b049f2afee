"""The one interface every cover source besides the Spotify album lookup implements.

A source answers `candidates(query)`: the albums it offers for a title and artist,
as `Candidate`s, best first as the source ranks them; the resolver (`worker.resolve`)
picks the match (`app.sources.matching`) and asks `confirm(candidate)` for the final
cover (a second call where the source needs one, such as the Cover Art Archive's art
check). A temporary failure (throttled, 5xx, timeout) raises `SourceUnavailableError` with
how long to wait. Sources make plain HTTP calls: the limiter, cooldowns and memory of
"not found" are the resolver's, the same for every source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.sources.matching import Candidate

USER_AGENT = "AlbumCatalog/1.0"


@dataclass(frozen=True, slots=True)
class AlbumQuery:
    """What the catalog knows of an album, as a source is asked for it."""

    title: str
    artist: str
    year: int | None = None
    upc: str | None = None


class SourceUnavailableError(Exception):
    """The source cannot answer now; try it again in `retry_after` seconds.

    `throttled`: the source said we ask too often (429, 503 from MusicBrainz, Deezer's
    HTTP 200 with error code 4), so every worker should pause it, not just this album.
    """

    def __init__(self, message: str, retry_after: float, *, throttled: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.throttled = throttled


class CoverSource(Protocol):
    """A cover source: one module each, chosen by COVER_SOURCES."""

    name: str  # as COVER_SOURCES and the JSON's `source` spell it

    def candidates(self, query: AlbumQuery) -> list[Candidate]:
        """The albums this source offers for `query` (may be empty)."""
        ...

    def confirm(self, candidate: Candidate) -> Candidate | None:
        """The chosen candidate with its final images, or None: it has no cover after all."""
        ...
