"""Celery wired the Flask way: every task runs inside an app context."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask

from app.broker import TRANSPORT


def celery_init_app(app: Flask) -> Celery[Any]:
    """One Celery app per Flask app, configured from `CELERY`; tasks run in an app context."""

    class FlaskTask(Task[Any, Any]):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app: Celery[Any] = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    if str(celery_app.conf.broker_url).startswith(("redis://", "rediss://")):
        # kombu's own, but surviving a Redis restart under a busy worker (app.broker).
        celery_app.conf.broker_transport = TRANSPORT
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
