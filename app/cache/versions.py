"""Catalog versions: counters in Redis that change whenever what a page shows changes.

`albums` moves when albums are added, changed or removed (an import, any ORM write of
an album); `covers` when a fetch stores a cover. Cached counts, genre menus and
rendered pages carry the versions in their keys, so a change makes them unreachable at
once and they simply expire; nothing has to find and delete them.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, cast

import redis
from flask import g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import available_redis, mark_redis_down, redis_key
from app.models import Album

log = logging.getLogger(__name__)
Part = Literal["albums", "covers"]
_CHANGED = "catalog_changed"


def _key(part: Part) -> str:
    return redis_key(f"catalog:version:{part}")


def bump(part: Part) -> None:
    """Say that `part` of the catalog changed (best effort: caches also expire)."""
    if not has_app_context():
        return
    client = available_redis()
    if client is None:
        return
    g.pop("catalog_versions", None)  # this request reads the new version from now on
    try:
        client.incr(_key(part))
    except redis.RedisError:
        mark_redis_down()
        log.info("catalog version not bumped (Redis down); cached pages expire by themselves")


def current() -> tuple[int, int] | None:
    """(albums, covers), or None without Redis (then nothing is cached).

    Read once per request: a page's total, menu and rendered copy agree on one version.
    """
    if "catalog_versions" in g:
        return cast(tuple[int, int] | None, g.catalog_versions)
    found: tuple[int, int] | None = None
    client = available_redis()
    if client is not None:
        try:
            raw = cast(list[bytes | None], client.mget([_key("albums"), _key("covers")]))  # pyright: ignore[reportUnknownMemberType]
            found = (int(raw[0] or 0), int(raw[1] or 0))
        except redis.RedisError:
            mark_redis_down()
    g.catalog_versions = found
    return found


def _after_flush(session: Session, _context: Any) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, Album) for obj in touched):
        session.info[_CHANGED] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        bump("albums")


def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def install() -> None:
    """Bump `albums` after any commit that wrote an Album through the ORM (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
