"""Which cover images may be shown, and which one a tile downloads.

One allow-list check (`image_allowed`) for every place an image URL comes from:
Spotify's answer before it is stored, a Redis entry before it is served, a database
row before it is rendered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from app.spotify.models import Image, parse_images

TILE_WIDTH = 300  # px: the Spotify image size a tile should download
# A cover an administrator uploaded, served by the app itself (`app.curation.uploads`):
# content-addressed names only, so nothing else on this origin passes as a cover.
LOCAL_COVER = re.compile(r"/media/covers/[0-9a-f]{64}-\d{2,4}\.jpg")


@lru_cache(maxsize=65_536)
def image_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """https from an allowed host (`*.example.com`: any host under it); an entry with a
    scheme (http://127.0.0.1:8765) allows exactly that origin, which is how the
    simulators' images are let in for demos.

    Remembered per URL: every tile of every page checks its images again, and the answer
    for a URL never changes (the allow-list is part of the key)."""
    # Strict: a URL lands in `src` and `srcset`, where a space or a comma would start
    # another candidate image (from anywhere), and credentials have no business.
    if not url or "," in url or "\\" in url or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    if LOCAL_COVER.fullmatch(url):
        return True
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        origin = f"{parts.scheme}://{parts.netloc}".lower()
    except ValueError:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    for entry in allowed:
        if "://" in entry:
            if origin == entry.rstrip("/").lower():
                return True
        elif parts.scheme == "https" and (
            host == entry or (entry.startswith("*.") and host.endswith(entry[1:]))
        ):
            return True
    return False


def allowed_images(images: Iterable[Image], allowed: tuple[str, ...]) -> list[Image]:
    """The images from allowed hosts, widest first."""
    kept = [i for i in images if image_allowed(i.url, allowed)]
    return sorted(kept, key=lambda i: i.width or 0, reverse=True)


def images_from_json(raw: list[dict[str, Any]] | None, fallback_url: str | None) -> list[Image]:
    """Stored image dicts (Spotify's shape, every field optional), widest first; the
    bare cover URL when there are none."""
    images = list(parse_images(raw))
    if not images and fallback_url:
        images.append(Image(fallback_url, None, None))
    return images


def pick_src(images: list[Image], width: int = TILE_WIDTH) -> Image:
    """The smallest image at least `width` wide, else the widest there is."""
    wide_enough = [i for i in images if (i.width or 0) >= width]
    return wide_enough[-1] if wide_enough else images[0]
