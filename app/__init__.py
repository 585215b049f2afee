"""Album Catalog: the application factory, where the packages are composed."""

from __future__ import annotations

from pathlib import Path

from dotenv import load_dotenv
from flask import Flask, redirect, render_template, url_for
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from app.admin.cli import admin_cli
from app.admin.views import register_admin
from app.cache import versions as catalog_versions
from app.catalog import bp as catalog_bp
from app.celery_setup import celery_init_app
from app.config import Config, config_from_env
from app.curation.cli import covers_cli
from app.curation.media import bp as media_bp
from app.extensions import db, migrate, redis_ext
from app.importer.cli import import_albums
from app.ops.cli import cache_stats
from app.ops.health import bp as health_bp
from app.ops.metrics import bp as metrics_bp
from app.security import register_security_headers
from worker import service as spotify_service
from worker.cli import refresh_cache


def create_app(config: Config | None = None) -> Flask:
    """Build the app from `config`, or from the environment (and `.env`) when None."""
    if config is None:
        load_dotenv()
        config = config_from_env()
    config.validate()
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_security_headers(app)
    register_commands(app)
    celery_init_app(app)
    return app


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent.parent / "migrations"))
    redis_ext.init_app(app)
    spotify_service.init_app(app)  # the limiter and client workers call Spotify through
    catalog_versions.install()  # cached pages and counts follow every album write


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(catalog_bp, url_prefix="/catalog")
    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(media_bp)
    register_admin(app)

    @app.get("/")
    def index() -> Response:  # pyright: ignore[reportUnusedFunction]
        return redirect(url_for("catalog.index"))

    @app.get("/favicon.ico")
    def favicon() -> Response:  # pyright: ignore[reportUnusedFunction]
        # Browsers ask for it at the root whatever the page links to.
        return app.send_static_file("favicon.ico")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(404)
    def not_found(error: NotFound) -> tuple[str, int]:  # pyright: ignore[reportUnusedFunction]
        return render_template("404.html", message=error.description), 404


def register_commands(app: Flask) -> None:
    """Each job's command lives beside it: the importer, the worker, operations,
    administrators and their covers."""
    for command in (import_albums, refresh_cache, cache_stats, admin_cli, covers_cli):
        app.cli.add_command(command)
