"""Flask extension objects. A leaf module: it imports nothing from `app`."""

from __future__ import annotations

from typing import Any, cast

import redis
from flask import Flask, current_app, g
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep Alembic migrations identical on PostgreSQL and SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


def make_redis_client(url: str) -> redis.Redis:
    """A client that fails fast: one quick retry, no backoff, short timeouts.

    When Redis is down a web request must fall back to the database at once,
    not spend seconds in retries.
    """
    return redis.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
        url,
        socket_connect_timeout=0.5,
        socket_timeout=2.0,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
    )


class RedisExtension:
    """Holds one Redis client per app in `app.extensions["redis"]`."""

    def init_app(self, app: Flask) -> None:
        app.extensions["redis"] = make_redis_client(cast(str, app.config["REDIS_URL"]))


redis_ext = RedisExtension()


def get_redis() -> redis.Redis:
    """The current app's Redis client."""
    return cast("redis.Redis", current_app.extensions["redis"])


def redis_key(name: str) -> str:
    """`name` inside the current app's Redis namespace (REDIS_PREFIX)."""
    return cast(str, current_app.config["REDIS_PREFIX"]) + name


def available_redis() -> redis.Redis | None:
    """The Redis client, or None once Redis has failed during this request or task.

    One failure per request is enough: everything after it goes straight to the
    database instead of waiting on Redis again.
    """
    if g.get("redis_down"):
        return None
    return get_redis()


def mark_redis_down() -> None:
    g.redis_down = True


def set_redis(app: Flask, client: Any) -> None:
    """Swap the Redis client (tests use fakeredis)."""
    app.extensions["redis"] = client
