"""The catalog blueprint: the album grid, album pages and their fragments."""

from app.catalog.views import bp

__all__ = ["bp"]
