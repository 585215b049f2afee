"""Celery worker entry point: `celery -A celery_app worker`."""

from app import create_app
from worker.heartbeat import install as install_heartbeat

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
celery_app.conf.imports = ["worker.tasks", "worker.candidates"]
install_heartbeat(flask_app)
