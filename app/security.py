"""Security headers on every response: a strict CSP and friends.

Scripts only from this origin (htmx and one small file, no inline code), images from
this origin and the allowed image hosts of the enabled cover sources, no framing, no plugins.
"""

from __future__ import annotations

from typing import cast

from flask import Flask
from werkzeug.wrappers import Response


def image_sources(allowed: tuple[str, ...]) -> list[str]:
    """CSP sources for the image allow-list: hosts over https, or exact origins."""
    return [entry.rstrip("/") if "://" in entry else f"https://{entry}" for entry in allowed]


def content_security_policy(allowed_images: tuple[str, ...]) -> str:
    directives = {
        "default-src": ["'self'"],
        "img-src": ["'self'", *image_sources(allowed_images)],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def register_security_headers(app: Flask) -> None:
    policy = content_security_policy(cast(tuple[str, ...], app.config["IMAGE_HOSTS"]))

    @app.after_request
    def secure(response: Response) -> Response:  # pyright: ignore[reportUnusedFunction]
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
