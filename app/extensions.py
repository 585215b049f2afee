"""Flask extension objects. A leaf module: it imports nothing from `app`."""

from __future__ import annotations

from typing import Any, cast

import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
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


class RedisExtension:
    """Holds one Redis client per app in `app.extensions["redis"]`."""

    def init_app(self, app: Flask) -> None:
        client = redis.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
            cast(str, app.config["REDIS_URL"]),
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            health_check_interval=30,
        )
        app.extensions["redis"] = client


redis_ext = RedisExtension()


def get_redis() -> redis.Redis:
    """The current app's Redis client."""
    return cast("redis.Redis", current_app.extensions["redis"])


def set_redis(app: Flask, client: Any) -> None:
    """Swap the Redis client (tests use fakeredis)."""
    app.extensions["redis"] = client
