"""Stored orders: page N of any sort, genre or artist costs what page 1 does.

A numbered page (a link someone kept, a page picked in the pager) cannot use a cursor;
skipping N x 48 index entries made page 1,000 cost twenty times page 50. Instead, the
first numbered page asked of an order (a sort, with a genre or artist filter or none)
stores that order's album ids in Redis, packed 4 bytes each, under the catalog's albums
version; every page of it is then one GETRANGE. Imports (the only writer of the order)
move the version, so the next page asked builds the new order and the old one expires.
Searches are not stored (each query is its own order, and only its first pages are
read); without Redis, pages skip rows as before.
"""

from __future__ import annotations

import struct
from typing import cast

import redis
from sqlalchemy import select

from app.cache import versions
from app.catalog.queries import CatalogFilters, Order, filtered
from app.extensions import available_redis, db, mark_redis_down, redis_key
from app.models import Album

ORDER_SECONDS = 3600  # an order nobody pages through leaves Redis after an hour
_ID = struct.Struct("<i")  # the database's integer ids, little-endian on every machine


def storable(filters: CatalogFilters) -> bool:
    return not filters.q


def _key(filters: CatalogFilters) -> str | None:
    version = versions.current()
    if version is None:
        return None
    return redis_key(f"catalog:order:{version[0]}:{filters.digest()}")


def _build(filters: CatalogFilters, order: Order) -> bytes:
    ordering = [k.desc() if order.descending else k.asc() for k in order.keys]
    ids = db.session.execute(filtered(select(Album.id), filters).order_by(*ordering)).scalars()
    return b"".join(_ID.pack(i) for i in ids)


def _unpack(raw: bytes) -> list[int]:
    return [i for (i,) in _ID.iter_unpack(raw[: len(raw) - len(raw) % _ID.size])]


def page_ids(filters: CatalogFilters, order: Order, offset: int, limit: int) -> list[int] | None:
    """The ids of albums `offset` … `offset + limit - 1` in this order; None when no order
    can be stored (a search, no Redis): the caller skips rows instead."""
    client = available_redis() if storable(filters) else None
    key = _key(filters) if client is not None else None
    if client is None or key is None:
        return None
    start, end = offset * _ID.size, (offset + limit) * _ID.size - 1
    try:
        pipe = client.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
        pipe.exists(key)
        pipe.getrange(key, start, end)
        exists, raw = pipe.execute()
        if not exists:
            packed = _build(filters, order)
            client.set(key, packed, ex=ORDER_SECONDS)
            raw = packed[start : end + 1]
    except redis.RedisError:
        mark_redis_down()
        return None
    return _unpack(cast(bytes, raw))
