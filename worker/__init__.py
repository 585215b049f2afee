"""Celery tasks. Tasks take album ids; no Flask app is created when this is imported."""
