"""Keyset pagination for the album grid, with page numbers still working for links.

"Next" and "previous" (and infinite scroll) carry a cursor: the sort-key values of
the last or first album shown, so the next page starts where the index says, never
by skipping rows. `?page=N` (a link someone kept) reads the order stored in Redis
(`app.catalog.orders`), so page 1,000 costs what page 2 does; a search, or a catalog
without Redis, skips rows over the narrow sort index instead. Either way a page's
rows are one query.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, func, select, tuple_

from app.catalog.orders import page_ids
from app.catalog.queries import (
    CatalogFilters,
    Order,
    count_albums,
    filtered,
    known_count,
    order_for,
    remember_count,
)
from app.catalog.tiles import TILE_COLUMNS, TileRow
from app.extensions import db
from app.models import Album

MAX_PAGE = 100_000  # far past any catalog's end; keeps OFFSET within the database's range
MAX_CURSOR_LENGTH = 2048
INT_RANGE = range(-(2**31), 2**31)  # the database's integer columns


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page starts: a page number, or after/before a cursor (then `number` is
    the page's number as the link that led here knew it, for display)."""

    number: int = 1
    after: tuple[Any, ...] | None = None
    before: tuple[Any, ...] | None = None


@dataclass(frozen=True, slots=True)
class CatalogPage:
    rows: list[TileRow]
    number: int
    per_page: int
    total: int
    next_cursor: str | None
    prev_cursor: str | None

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    def numbers(self) -> list[int | None]:
        """Page numbers for the pager: first, last and a window around this one."""
        wanted = {1, self.pages, *range(self.number - 2, self.number + 4)}
        shown = sorted(n for n in wanted if 1 <= n <= self.pages)
        out: list[int | None] = []
        for n in shown:
            if out and out[-1] is not None and n - out[-1] > 1:  # pyright: ignore[reportOperatorIssue]
                out.append(None)
            out.append(n)
        return out


def _encodable(value: str) -> bool:
    """False for lone surrogates (JSON's "\\ud800"), which no database driver can send."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def encode_cursor(values: tuple[Any, ...]) -> str:
    raw = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order) -> tuple[Any, ...] | None:
    """The key values in a cursor, or None when it does not fit this order (a tampered
    or stale link: the caller starts from the first page instead)."""
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, RecursionError):  # RecursionError: "[[[[…"
        return None
    if not isinstance(values, list) or len(values) != len(order.keys):  # pyright: ignore[reportUnknownArgumentType]
        return None
    for value, key in zip(values, order.keys, strict=True):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        python_type = key.type.python_type
        if python_type is int:
            if isinstance(value, bool) or not isinstance(value, int) or value not in INT_RANGE:
                return None
        elif not isinstance(value, str) or "\x00" in value or not _encodable(value):
            return None
    return tuple(cast(list[Any], values))


def position_from_args(args: dict[str, str], order: Order) -> Position:
    try:
        number = min(MAX_PAGE, max(1, int(args.get("page", "1"))))
    except ValueError:
        number = 1
    if after := decode_cursor(args.get("after", ""), order):
        return Position(max(2, number), after=after)
    if before := decode_cursor(args.get("before", ""), order):
        return Position(number, before=before)
    return Position(number)


def fetch_page(filters: CatalogFilters, position: Position, per_page: int) -> CatalogPage:
    """One page of albums in one SQL query (what their tiles show), plus a cached count."""
    order = order_for(filters)
    forward = position.before is None
    ascending = order.descending != forward  # walking backwards flips the order
    ordering = [k.asc() if ascending else k.desc() for k in order.keys]
    stmt = select(*TILE_COLUMNS, *order.keys)
    keys = tuple_(*order.keys)
    # A search sorts every match for its rank anyway: its page query counts them too
    # (a window over the matches) instead of a second scan for the total.
    counting = bool(filters.q) and position.after is None and position.before is None
    counting = counting and known_count(filters) is None
    if position.after is not None:
        bound = tuple_(*position.after)
        stmt = filtered(stmt, filters).where(keys < bound if order.descending else keys > bound)
    elif position.before is not None:
        bound = tuple_(*position.before)
        stmt = filtered(stmt, filters).where(keys > bound if order.descending else keys < bound)
    elif position.number > 1:
        offset = (position.number - 1) * per_page
        stored = page_ids(filters, order, offset, per_page + 1)
        if stored is not None:
            # A page by number, from the order stored in Redis: any page costs the same.
            return _page(filters, position, per_page, _rows_of(stmt, stored), forward=True)
        # No stored order (a search, no Redis): skip over the narrow sort index (ids
        # and keys only), then read just this page's rows.
        skipped = (
            filtered(select(Album.id).add_columns(*_total(counting)), filters)
            .order_by(*ordering)
            .offset(offset)
            .limit(per_page + 1)
            .subquery()
        )
        stmt = stmt.join(skipped, Album.id == skipped.c.id)
        if counting:
            stmt = stmt.add_columns(skipped.c.total)
    else:
        stmt = filtered(stmt.add_columns(*_total(counting)), filters)
    rows = [tuple(row) for row in db.session.execute(stmt.order_by(*ordering).limit(per_page + 1))]
    if counting:
        if rows:
            remember_count(filters, int(rows[0][-1]))
        rows = [row[:-1] for row in rows]
    return _page(filters, position, per_page, rows, forward=forward)


def _total(counting: bool) -> list[ColumnElement[int]]:
    return [func.count().over().label("total")] if counting else []


def _rows_of(stmt: Select[Any], ids: list[int]) -> list[tuple[Any, ...]]:
    """The rows of these albums, in the order of `ids` (one query)."""
    if not ids:
        return []
    found = {row[0]: tuple(row) for row in db.session.execute(stmt.where(Album.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def _page(
    filters: CatalogFilters,
    position: Position,
    per_page: int,
    rows: list[tuple[Any, ...]],
    *,
    forward: bool,
) -> CatalogPage:
    """A page from its rows, one more than it shows when a next page follows."""
    more = len(rows) > per_page
    rows = rows[:per_page]
    if not forward:
        rows.reverse()
    width = len(TILE_COLUMNS)
    first, last = (rows[0][width:], rows[-1][width:]) if rows else (None, None)
    if forward:
        has_prev = position.after is not None or position.number > 1
        has_next = more
    else:
        has_prev, has_next = more, True
    number = position.number if has_prev else 1
    return CatalogPage(
        rows=[TileRow.of(row) for row in rows],
        number=number,
        per_page=per_page,
        total=count_albums(filters),
        next_cursor=encode_cursor(last) if has_next and last is not None else None,
        prev_cursor=encode_cursor(first) if has_prev and first is not None else None,
    )
