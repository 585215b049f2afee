"""Pinned covers: an administrator's choice, which no job ever overwrites.

A pin writes the cover columns with source `manual` and `cover_pinned_at`; the
worker's writes (`worker.store`) and the importer leave a pinned album's cover alone,
and the read path never calls it stale. Unpin gives the album back to automatic
resolution; "This is not the album" drops a source's match, remembers that it is
wrong for this album (`cover_rejected`), and resolves again. The web and
`flask covers` both come here; every change is in the audit trail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.cache import versions as catalog_versions
from app.cache.entries import entries_from_row, forget, write_entries
from app.config import setting
from app.curation import audit
from app.curation.uploads import store_upload
from app.extensions import db
from app.models import COVER_COLUMNS, URL_MAX, Album
from app.spotify.images import image_allowed
from worker import candidates as cover_candidates
from worker.queue import enqueue_fetch

MANUAL = "manual"
# Sources whose match an administrator may reject (the sheet's own link is not a match:
# pin another cover instead).
MATCHED_SOURCES = ("spotify-search", "deezer", "coverartarchive")
METADATA_COLUMNS = (
    "spotify_metadata_json",
    "spotify_metadata_cached_at",
    "spotify_fetch_status",
    "spotify_last_error",
    "spotify_next_retry_at",
)


class PinRefusedError(ValueError):
    """The change cannot be made; the message says why, for the administrator."""


def upload_folder() -> Path:
    return Path(str(setting("MEDIA_DIR")))


def check_url(url: str) -> str:
    """A pasted image URL, if it may be a cover: https, no credentials, an allowed host."""
    if not url:
        raise PinRefusedError("Paste the image's address.")
    if any(c.isspace() for c in url):
        raise PinRefusedError("The address contains spaces or line breaks; paste it alone.")
    if len(url) > URL_MAX:
        raise PinRefusedError(f"The address is longer than {URL_MAX} characters.")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise PinRefusedError("This is not a web address.") from None
    if parts.scheme.lower() != "https":
        raise PinRefusedError("Only https:// addresses are accepted.")
    if parts.username is not None or parts.password is not None:
        raise PinRefusedError("The address contains a user name or password; remove them.")
    allowed: tuple[str, ...] = setting("IMAGE_HOSTS")
    if not image_allowed(url, allowed):
        hosts = ", ".join(a for a in allowed if "://" not in a)
        raise PinRefusedError(f"Images from {parts.hostname} are not allowed (allowed: {hosts}).")
    return url


def _album(album_id: int) -> Album:
    album = db.session.get(Album, album_id)
    if album is None:
        raise PinRefusedError(f"There is no album {album_id}.")
    return album


def _publish(album: Album) -> None:
    """Redis and the rendered pages follow the row at once."""
    forget([album.id])
    write_entries(album.id, entries_from_row(album))
    catalog_versions.bump("covers")


def pin(
    album_id: int,
    images: list[dict[str, Any]],
    *,
    actor: str,
    detail: str,
    action: str = audit.PIN,
    address: str | None = None,
) -> Album:
    """Make `images` (widest first) the album's cover, pinned."""
    album = _album(album_id)
    old, now = album.cover_url, datetime.now(UTC)
    album.cover_source = MANUAL
    album.cover_images = images
    album.cover_url = str(images[0]["url"])
    album.cover_cached_at = now
    album.cover_status = None
    album.cover_retry_at = None
    album.cover_pinned_at = now
    album.cover_pinned_by = actor[:300]
    audit.record(
        actor, action, album_id=album_id, old_cover=old, new_cover=album.cover_url,
        detail=detail, address=address,
    )  # fmt: skip
    db.session.commit()
    _publish(album)
    return album


def pin_url(album_id: int, url: str, *, actor: str, address: str | None = None) -> Album:
    checked = check_url(url)
    return pin(album_id, [{"url": checked}], actor=actor, detail="pasted URL", address=address)


def pin_upload(album_id: int, data: bytes, *, actor: str, address: str | None = None) -> Album:
    """Decode, re-encode and store an uploaded file (UploadRefusedError if it is no image)."""
    _album(album_id)  # before anything is stored
    stored = store_upload(data, upload_folder())
    return pin(
        album_id, stored.images, actor=actor, action=audit.UPLOAD,
        detail=f"uploaded {len(data)} bytes", address=address,
    )  # fmt: skip


def pin_candidate(album_id: int, number: int, *, actor: str, address: str | None = None) -> Album:
    """Pin candidate `number` of the album's listed candidates (`worker.candidates`)."""
    listed = cover_candidates.stored(album_id)
    if listed is None or listed.state != "ready":
        raise PinRefusedError("The candidates are no longer listed; look them up again.")
    candidate = listed.candidate(number)
    if candidate is None or not candidate.images:
        raise PinRefusedError(f"There is no candidate {number}.")
    images = [image.to_json() for image in candidate.images]
    detail = (
        f"candidate {number}: {candidate.source} {candidate.ref}"
        f" ({candidate.title} / {candidate.artist})"
    )
    return pin(album_id, images, actor=actor, detail=detail, address=address)


def _clear_cover(album: Album) -> None:
    for column in (*COVER_COLUMNS, "cover_pinned_at", "cover_pinned_by"):
        setattr(album, column, None)


def unpin(album_id: int, *, actor: str, address: str | None = None) -> Album:
    """Back to automatic resolution: the sources are asked again."""
    album = _album(album_id)
    if album.cover_pinned_at is None:
        raise PinRefusedError("This album's cover is not pinned.")
    old = album.cover_url
    _clear_cover(album)
    album.cover_outcomes = None  # every source is asked afresh
    audit.record(actor, audit.UNPIN, album_id=album_id, old_cover=old, address=address)
    db.session.commit()
    _publish(album)
    # A refresh: the track list may be fresh, and Spotify's lookup (which brings the
    # sheet link's cover) must be asked again all the same.
    enqueue_fetch(album_id, refresh=True)
    return album


def wrong_match(album_id: int, *, actor: str, address: str | None = None) -> Album:
    """The cover's source matched another album: never that one again; resolve anew."""
    album = _album(album_id)
    source = album.cover_source
    if album.cover_pinned_at is not None:
        raise PinRefusedError("This cover is pinned; unpin it or pin another.")
    if source not in MATCHED_SOURCES:
        raise PinRefusedError(
            "This cover comes from the sheet's own Spotify link, not a match; pin another."
        )
    outcomes = dict(album.cover_outcomes or {})
    found: Any = outcomes.pop(source, None)
    ref = album.spotify_match_id if source == "spotify-search" else None
    if ref is None and isinstance(found, dict):
        ref = found.get("ref")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    rejected = {k: list(v) for k, v in (album.cover_rejected or {}).items()}
    if ref:
        rejected.setdefault(source, []).append(str(ref))  # pyright: ignore[reportUnknownArgumentType]
    old = album.cover_url
    _clear_cover(album)
    album.cover_outcomes = outcomes
    album.cover_rejected = rejected
    if source == "spotify-search":  # its track list came from the wrong album too
        album.spotify_match_id = None
        for column in METADATA_COLUMNS:
            setattr(album, column, None)
    audit.record(
        actor, audit.WRONG_MATCH, album_id=album_id, old_cover=old,
        detail=f"{source} {ref or '?'} is not this album", address=address,
    )  # fmt: skip
    db.session.commit()
    _publish(album)
    enqueue_fetch(album_id)
    return album
