"""Covers that an administrator uploads: only a real image is kept, re-encoded by us.

The upload is never stored as sent. It is decoded, turned upright, flattened to RGB and
written again as plain JPEG files in a few widths, so no script, metadata or odd format
reaches the browser. Files are named by the digest of their content.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MIN_SIDE = 64
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
# The album page shows 640 px, the grid's tile 300 px; 1200 px serves high-density screens.
WIDTHS = (1200, 640, 300)
URL_PREFIX = "/media/covers/"
NAME_PATTERN = re.compile(r"[0-9a-f]{64}-\d{2,4}\.jpg")

JPEG_QUALITY = 85
# How files of the accepted formats begin: a file that does but cannot be opened is damaged.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
# What Pillow raises on a broken file; it has no single base class for it.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
# Messages read "20000 by 20000 px" with the typographic sign, not the letter x.
_BY = " \N{MULTIPLICATION SIGN} "
_DAMAGED = "The image is damaged and cannot be read."
_NOT_AN_IMAGE = "This is not a JPEG, PNG or WebP image."
_PIXEL_LIMIT = f"{MAX_PIXELS // 1_000_000} megapixels, the most accepted"


class UploadRefusedError(ValueError):
    """The upload is not kept; the message is shown to the administrator as is."""


@dataclass(frozen=True, slots=True)
class StoredCover:
    """The stored files of one cover, widest first, as Spotify-shaped image dicts."""

    digest: str
    images: list[dict[str, Any]]


def store_upload(data: bytes, folder: Path) -> StoredCover:
    """Check, re-encode and store an uploaded cover; raise UploadRefusedError if refused."""
    encoded = _encode_widths(_decode(data))
    digest = hashlib.sha256(encoded[0][2]).hexdigest()
    # Nothing touches the disk before this point, so a refused upload leaves no trace.
    folder.mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    for width, height, blob in encoded:
        name = f"{digest}-{width}.jpg"
        _write_once(folder / name, blob)
        images.append({"url": URL_PREFIX + name, "width": width, "height": height})
    return StoredCover(digest=digest, images=images)


def cover_path(folder: Path, name: str) -> Path | None:
    """The stored file for a requested name, or None; the pattern rules out path traversal."""
    if NAME_PATTERN.fullmatch(name) is None:
        return None
    path = folder / name
    return path if path.is_file() else None


def _decode(data: bytes) -> Image.Image:
    """The upload's first frame, upright, in RGB, once every check has passed."""
    if not data:
        raise UploadRefusedError("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRefusedError(f"The file is larger than {MAX_UPLOAD_BYTES // 2**20} MB.")
    try:
        # Image.open reads only the header; pixels are decoded by load() below.
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            raise UploadRefusedError(_DAMAGED) from None
        raise UploadRefusedError(_NOT_AN_IMAGE) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard (about 89 and 179 megapixels by default) fires before ours can
        # see the size. Its global limit is left alone: other code may rely on it, and
        # changing it for one call would race with other threads.
        raise UploadRefusedError(f"The image is far larger than {_PIXEL_LIMIT}.") from None
    except _DECODE_ERRORS:
        raise UploadRefusedError(_DAMAGED) from None
    with image:
        _check_header(image)
        try:
            # A camera JPEG with extra pictures opens as MPO. draft() lets the JPEG decoder
            # scale down while decoding, which saves time and memory on large photos.
            if image.format in ("JPEG", "MPO"):
                image.draft(None, (WIDTHS[0], WIDTHS[0]))
            image.seek(0)
            image.load()
            # EXIF is read here, and a broken EXIF block is as unreadable as broken pixels.
            return _flatten(ImageOps.exif_transpose(image))
        except _DECODE_ERRORS:
            raise UploadRefusedError(_DAMAGED) from None


def _check_header(image: ImageFile.ImageFile) -> None:
    """Refuse by what the header declares, before any pixel is decoded."""
    kind = "JPEG" if image.format == "MPO" else image.format
    if not kind:
        raise UploadRefusedError(_NOT_AN_IMAGE)
    if kind not in ACCEPTED_FORMATS:
        raise UploadRefusedError(
            f"{kind} images are not accepted: upload a JPEG, PNG or WebP image."
        )
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise UploadRefusedError(f"The image is {width}{_BY}{height} px, more than {_PIXEL_LIMIT}.")
    if min(width, height) < MIN_SIDE:
        raise UploadRefusedError(f"The image is too small (at least {MIN_SIDE}{_BY}{MIN_SIDE} px).")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB pixels, with any transparency laid on white (JPEG has no alpha)."""
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _encode_widths(picture: Image.Image) -> list[tuple[int, int, bytes]]:
    """(width, height, JPEG bytes) for each stored width, widest first."""
    source_width, source_height = picture.size
    widths = sorted(
        {min(source_width, WIDTHS[0]), *(w for w in WIDTHS if w <= source_width)}, reverse=True
    )
    encoded: list[tuple[int, int, bytes]] = []
    current = picture
    for width in widths:
        height = max(1, round(source_height * width / source_width))
        if current.size != (width, height):
            # Each size comes from the previous one, far cheaper than from a large source.
            # (Pillow's stubs leave a numpy type unknown here: numpy is not installed.)
            current = current.resize(  # pyright: ignore[reportUnknownMemberType]
                (width, height), Image.Resampling.LANCZOS
            )
        buffer = io.BytesIO()
        # No exif/icc_profile arguments: the files carry no metadata at all.
        current.save(buffer, "JPEG", quality=JPEG_QUALITY, progressive=True, optimize=True)
        encoded.append((width, height, buffer.getvalue()))
    return encoded


def _write_once(path: Path, blob: bytes) -> None:
    """Write atomically; a file of that name already holds the same bytes (content address)."""
    if path.exists():
        return
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(blob)
            temp.flush()
            os.fsync(temp.fileno())
        # mkstemp makes the file private; covers are public and may be served by a proxy.
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
