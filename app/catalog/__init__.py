"""The catalog blueprint: the album grid, album pages and their fragments."""

from app.catalog import fragments, views
from app.catalog.blueprint import bp

__all__ = ["bp", "fragments", "views"]
