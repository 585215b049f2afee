"""Settings read from environment variables (and `.env`), with embedded defaults.

Every setting is read when a config object is *created*, not when this module is
imported, so tests and tools can set the environment first.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = BASE_DIR / "instance"


LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ConfigError(RuntimeError):
    """The configuration cannot work (for example production without SECRET_KEY)."""


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _env(name, default).lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _env_list(name: str, default: str) -> tuple[str, ...]:
    """A comma-separated setting, lower-cased, blanks dropped."""
    return tuple(item.strip().lower() for item in _env(name, default).split(",") if item.strip())


# Every cover source there is, in the default order (app/sources, worker/resolve.py).
COVER_SOURCES = ("spotify", "spotify-search", "deezer", "coverartarchive")


def normalise_database_url(url: str) -> str:
    """Pick the psycopg 3 driver for plain `postgres://` / `postgresql://` URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_redis_prefix(database_url: str) -> str:
    """`<database name>-<hash>:`, so catalogs on different databases share one Redis safely.

    The name (the PostgreSQL database's, or the SQLite file's stem; `memory` in memory)
    makes keys readable; the hash of where the database is (host, port, name, or the
    SQLite file's absolute path; never the password) keeps apart two databases of the
    same name, such as two default installs on one machine.
    """
    name, where = "", database_url
    try:
        url = make_url(database_url)
        database = url.database or ""
        if url.get_backend_name() == "sqlite" and database and database != ":memory:":
            database = str(Path(database).resolve())
        # hide_password: "***" whatever the password is, so rotating it keeps the prefix.
        where = url.set(database=database).render_as_string(hide_password=True)
    except ArgumentError:
        database = ""
    if database and database != ":memory:":
        name = Path(database).stem if database_url.startswith("sqlite") else database
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "memory"
    return f"{name}-{hashlib.sha1(where.encode()).hexdigest()[:8]}:"


DEFAULT_DATABASE_URL = f"sqlite:///{INSTANCE_DIR / 'album_catalog.db'}"


def redis_prefix(database_url: str, configured: str | None = None) -> str:
    """REDIS_PREFIX (from the environment unless given; always ending in `:`), else the
    database's default."""
    value = _env("REDIS_PREFIX", "") if configured is None else configured.strip()
    value = value or default_redis_prefix(database_url)
    return value if value.endswith(":") else value + ":"


class Config:
    """Development defaults: SQLite under instance/, local Redis, no secrets needed."""

    TESTING = False

    def __init__(self) -> None:
        self.SECRET_KEY: str = _env("SECRET_KEY", "dev-only-not-secret")
        self._read_storage()
        self._read_spotify()
        self._read_sources()
        self._read_cache_and_fetching()
        self._read_web()

    def _read_storage(self) -> None:
        """The database, Redis (and the prefix of every key) and Celery's broker."""
        self.SQLALCHEMY_DATABASE_URI: str = normalise_database_url(
            _env("DATABASE_URL", DEFAULT_DATABASE_URL)
        )
        self.SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}
        self.REDIS_URL: str = _env("REDIS_URL", "redis://127.0.0.1:6379/0")
        # Every key the app writes (cache, locks, limiter, token, counters, the Celery
        # broker's queues) starts with this, so two catalogs can share one Redis.
        self.REDIS_PREFIX: str = redis_prefix(self.SQLALCHEMY_DATABASE_URI)
        self.CELERY: dict[str, Any] = {
            "broker_url": _env("CELERY_BROKER_URL", self.REDIS_URL),
            "result_backend": None,
            "task_ignore_result": True,
            # A fetch is idempotent, so redelivery after a worker dies is safe.
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "broker_connection_retry_on_startup": True,
            # Unacknowledged tasks of a worker that died are redelivered after this.
            "broker_transport_options": {
                "visibility_timeout": _env_int("CELERY_VISIBILITY_TIMEOUT", 600),
                # Take from the queues in the order the worker lists them (-Q
                # interactive,background): a visitor's fetch always goes first.
                "queue_order_strategy": "priority",
                "global_keyprefix": self.REDIS_PREFIX,
            },
            "task_default_queue": "interactive",
        }

    def _read_spotify(self) -> None:
        """The Spotify API: credentials, rate limits, retries and batching."""
        self.SPOTIFY_CLIENT_ID: str = _env("SPOTIFY_CLIENT_ID", "")
        self.SPOTIFY_CLIENT_SECRET: str = _env("SPOTIFY_CLIENT_SECRET", "")
        self.SPOTIFY_API_BASE: str = _env("SPOTIFY_API_BASE", "https://api.spotify.com/v1/")
        self.SPOTIFY_TOKEN_URL: str = _env(
            "SPOTIFY_TOKEN_URL", "https://accounts.spotify.com/api/token"
        )
        self.SPOTIFY_RATE_PER_SEC: float = _env_float("SPOTIFY_RATE_PER_SEC", 3.0)
        self.SPOTIFY_BURST: int = _env_int("SPOTIFY_BURST", 10)
        self.SPOTIFY_MAX_CONCURRENT: int = _env_int("SPOTIFY_MAX_CONCURRENT", 10)
        # Tries per fetch for transient errors (5xx, timeouts), each after a re-queue with
        # exponential backoff and jitter: 0.5 s, 1 s, then every 2 s. A longer outage
        # opens the circuit (below): albums then wait for its probe, not for their backoff.
        self.SPOTIFY_RETRY_ATTEMPTS: int = _env_int("SPOTIFY_RETRY_ATTEMPTS", 10)
        self.SPOTIFY_RETRY_BASE_SECONDS: float = _env_float("SPOTIFY_RETRY_BASE_SECONDS", 0.5)
        self.SPOTIFY_RETRY_MAX_SECONDS: float = _env_float("SPOTIFY_RETRY_MAX_SECONDS", 2.0)
        self.SPOTIFY_TIMEOUT: float = _env_float("SPOTIFY_TIMEOUT", 10.0)
        # Transient failures in a row that open the shared circuit (one probe at a time
        # until Spotify answers), and how long it stays open after a failed probe.
        self.SPOTIFY_CIRCUIT_FAILURES: int = _env_int("SPOTIFY_CIRCUIT_FAILURES", 10)
        self.SPOTIFY_CIRCUIT_SECONDS: float = _env_float("SPOTIFY_CIRCUIT_SECONDS", 30.0)
        # Background work (refresh-cache, import prefetch, stale refreshes) takes a token
        # only while the bucket holds more than this many: the rest is for visitors. At
        # burst - 1 background takes a token only from a full bucket, which still gives it
        # every token visitors leave, while a visitor's screenful finds the whole burst.
        self.SPOTIFY_BACKGROUND_RESERVE: int = _env_int(
            "SPOTIFY_BACKGROUND_RESERVE", max(0, self.SPOTIFY_BURST - 1)
        )
        self.SPOTIFY_BATCH: str = _env_choice("SPOTIFY_BATCH", "auto", ("auto", "on", "off"))
        # Calls per quota bucket (album lookups, track pages, search) in any rolling 24 h;
        # developers report locks after a few hundred to ~2,000 calls a day in development
        # mode. Background work stops at SPOTIFY_BACKGROUND_SHARE of it: visitors keep the rest.
        self.SPOTIFY_DAILY_BUDGET: int = _env_int("SPOTIFY_DAILY_BUDGET", 500)
        self.SPOTIFY_BACKGROUND_SHARE: float = _env_float("SPOTIFY_BACKGROUND_SHARE", 0.7)
        # Spotify serves covers from i.scdn.co and from *.spotifycdn.com hosts.
        self.SPOTIFY_IMAGE_HOSTS: tuple[str, ...] = _env_list(
            "SPOTIFY_IMAGE_HOSTS", "i.scdn.co,*.spotifycdn.com"
        )

    def _read_sources(self) -> None:
        """The cover sources after Spotify's album lookup (see app/sources)."""
        self.COVER_SOURCES: tuple[str, ...] = _env_list("COVER_SOURCES", ",".join(COVER_SOURCES))
        # Who to contact about our MusicBrainz traffic (its User-Agent rule): required for
        # the coverartarchive source, which is left out without it.
        self.COVER_CONTACT: str = _env("COVER_CONTACT", "")
        self.DEEZER_API_BASE: str = _env("DEEZER_API_BASE", "https://api.deezer.com/")
        self.MUSICBRAINZ_API_BASE: str = _env(
            "MUSICBRAINZ_API_BASE", "https://musicbrainz.org/ws/2/"
        )
        self.COVERARTARCHIVE_BASE: str = _env(
            "COVERARTARCHIVE_BASE", "https://coverartarchive.org/"
        )
        self.DEEZER_IMAGE_HOSTS: tuple[str, ...] = _env_list(
            "DEEZER_IMAGE_HOSTS", "cdn-images.dzcdn.net,e-cdns-images.dzcdn.net"
        )
        # Cover Art Archive URLs answer 307 to an archive.org host (CSP checks both).
        self.COVERARTARCHIVE_IMAGE_HOSTS: tuple[str, ...] = _env_list(
            "COVERARTARCHIVE_IMAGE_HOSTS", "coverartarchive.org,archive.org,*.archive.org"
        )
        # Deezer allows about 50 requests per 5 s per IP; MusicBrainz 1 per second.
        self.DEEZER_RATE_PER_SEC: float = _env_float("DEEZER_RATE_PER_SEC", 8.0)
        self.DEEZER_BURST: int = _env_int("DEEZER_BURST", 10)
        self.MUSICBRAINZ_RATE_PER_SEC: float = _env_float("MUSICBRAINZ_RATE_PER_SEC", 0.9)
        self.MUSICBRAINZ_BURST: int = _env_int("MUSICBRAINZ_BURST", 1)
        # "No cover" from a source is remembered this long: nothing is asked twice.
        self.COVER_NOT_FOUND_TTL: int = _env_int("COVER_NOT_FOUND_TTL", 14 * 24 * 3600)
        # Consecutive failures of one source that open its circuit for a while.
        self.SOURCE_CIRCUIT_FAILURES: int = _env_int("SOURCE_CIRCUIT_FAILURES", 5)
        self.SOURCE_CIRCUIT_SECONDS: float = _env_float("SOURCE_CIRCUIT_SECONDS", 30.0)
        enabled = self.enabled_sources()
        self.IMAGE_HOSTS: tuple[str, ...] = tuple(
            dict.fromkeys(
                (
                    *self.SPOTIFY_IMAGE_HOSTS,
                    *(self.DEEZER_IMAGE_HOSTS if "deezer" in enabled else ()),
                    *(self.COVERARTARCHIVE_IMAGE_HOSTS if "coverartarchive" in enabled else ()),
                )
            )
        )

    def enabled_sources(self) -> tuple[str, ...]:
        """COVER_SOURCES as they can run: the coverartarchive source needs COVER_CONTACT."""
        return tuple(
            name for name in self.COVER_SOURCES if name != "coverartarchive" or self.COVER_CONTACT
        )

    def _read_cache_and_fetching(self) -> None:
        """The background window, cache lifetimes, fetch locks and leases, re-queues, polling."""
        # At most this many background fetches are queued or running at once; a large
        # refresh waits in Redis (`refresh:run`) and is fed to the lane in small chunks.
        self.BACKGROUND_WINDOW: int = _env_int("BACKGROUND_WINDOW", 10)
        # Cache lifetimes in seconds.
        self.COVER_CACHE_TTL: int = _env_int("COVER_CACHE_TTL", 30 * 24 * 3600)
        self.METADATA_CACHE_TTL: int = _env_int("METADATA_CACHE_TTL", 30 * 24 * 3600)
        self.NOT_FOUND_TTL: int = _env_int("NOT_FOUND_TTL", 7 * 24 * 3600)
        # After the retries of one fetch fail, wait this long before the next fetch.
        self.ERROR_RETRY_SECONDS: int = _env_int("ERROR_RETRY_SECONDS", 300)
        # Single flight: a queued fetch holds its album this long before a worker takes it;
        # a lost task therefore delays the album by at most this much.
        self.FETCH_LOCK_SECONDS: int = _env_int("FETCH_LOCK_SECONDS", 10)
        # A worker holds the album it fetches with a lease this long, renewed while it
        # works; a killed worker's albums are queued again once it lapses.
        self.FETCH_LEASE_SECONDS: float = _env_float("FETCH_LEASE_SECONDS", 5.0)
        # Workers publish a heartbeat this often; /healthz calls a worker gone after three
        # missed beats (12 s by default: "down within 15 s").
        self.WORKER_HEARTBEAT_SECONDS: float = _env_float("WORKER_HEARTBEAT_SECONDS", 4.0)
        # A worker waits this long for the limiter, then re-queues the task instead.
        self.WORKER_MAX_WAIT: float = _env_float("WORKER_MAX_WAIT", 2.0)
        # Waits longer than this (long 429 cooldowns, the daily quota) are not re-queued:
        # the album is marked "try again at" and the next view enqueues it again.
        self.REQUEUE_MAX_SECONDS: int = _env_int("REQUEUE_MAX_SECONDS", 300)
        # A visitor's fetch is made only while someone asked for the album this recently
        # (a tile polls every few seconds at most); else it is dropped, costing nothing.
        self.FETCH_WANTED_SECONDS: float = _env_float("FETCH_WANTED_SECONDS", 15.0)
        # Outstanding misses (queued, not yet fetched) one client (address) may have before
        # its misses go to the background lane (still only while wanted); counted over
        # its misses of the last FETCH_CLIENT_WINDOW_SECONDS.
        self.FETCH_CLIENT_CAP: int = _env_int("FETCH_CLIENT_CAP", 40)
        self.FETCH_CLIENT_WINDOW_SECONDS: float = _env_float("FETCH_CLIENT_WINDOW_SECONDS", 30.0)
        # Interactive tasks waiting at most; past it, misses go to the background lane.
        self.FETCH_QUEUE_MAX: int = _env_int("FETCH_QUEUE_MAX", 500)
        # How soon a pending tile polls again (first poll; it then backs off).
        self.COVER_POLL_SECONDS: float = _env_float("COVER_POLL_SECONDS", 0.25)

    def _read_web(self) -> None:
        """The web app (hosts, pages, their cache) and the importer (Google, batches)."""
        # Host names the app answers to (Flask rejects others with 400): set it in
        # production so a forged Host header never reaches a redirect.
        hosts = [h.strip() for h in _env("TRUSTED_HOSTS", "").split(",") if h.strip()]
        self.TRUSTED_HOSTS: list[str] | None = hosts or None
        self.GOOGLE_SERVICE_ACCOUNT_FILE: str = _env("GOOGLE_SERVICE_ACCOUNT_FILE", "")
        self.IMPORT_BATCH_SIZE: int = _env_int("IMPORT_BATCH_SIZE", 1000)
        self.CATALOG_PAGE_SIZE: int = 48
        # Rendered grid pages are kept this long at most (0: render every request).
        self.CATALOG_PAGE_CACHE_SECONDS: int = _env_int("CATALOG_PAGE_CACHE_SECONDS", 30)
        # Administrators' sessions: HttpOnly and SameSite=Lax cookies, Secure over https
        # (app.admin.auth), signed out after ADMIN_SESSION_HOURS.
        self.SESSION_COOKIE_HTTPONLY: bool = True
        self.SESSION_COOKIE_SAMESITE: str = "Lax"
        self.SESSION_COOKIE_SECURE: bool = _env("SESSION_COOKIE_SECURE", "") == "1"
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=_env_float("ADMIN_SESSION_HOURS", 8))
        # Failed sign-ins: this many per account (or 3x per address) within the lock
        # time lock the account (or the address) for ADMIN_LOCK_MINUTES.
        self.ADMIN_MAX_FAILURES: int = _env_int("ADMIN_MAX_FAILURES", 10)
        self.ADMIN_LOCK_MINUTES: int = _env_int("ADMIN_LOCK_MINUTES", 15)
        self.WTF_CSRF_TIME_LIMIT: int | None = None  # the token lives as long as the session
        # Where uploaded covers are kept (content-addressed files the app serves itself).
        self.MEDIA_DIR: str = _env("MEDIA_DIR", str(INSTANCE_DIR / "covers"))
        # An uploaded cover may be 10 MB; the request around it a little more.
        self.MAX_CONTENT_LENGTH: int = 11 * 1024 * 1024

    def validate(self) -> None:
        """Raise ConfigError when these settings cannot be used."""
        unknown = [name for name in self.COVER_SOURCES if name not in COVER_SOURCES]
        if unknown:
            raise ConfigError(
                f"COVER_SOURCES: unknown source {', '.join(unknown)}; "
                f"the sources are {', '.join(COVER_SOURCES)}"
            )
        token = urlsplit(self.SPOTIFY_TOKEN_URL)
        if token.scheme != "https" and token.hostname not in LOOPBACK:
            # The token request carries the client secret: plain http only to this machine.
            raise ConfigError(
                f"SPOTIFY_TOKEN_URL must be https (or point at this machine), got "
                f"{self.SPOTIFY_TOKEN_URL!r}"
            )


class ProductionConfig(Config):
    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = os.environ.get("SECRET_KEY", "").strip()

    def validate(self) -> None:
        super().validate()
        if not self.SECRET_KEY:
            raise ConfigError(
                "SECRET_KEY is not set; production refuses to start without one "
                '(generate one with: python -c "import secrets; print(secrets.token_hex(32))")'
            )


class TestConfig(Config):
    """The test suite's: in-memory SQLite and an in-process broker, unless told otherwise."""

    __test__ = False  # not a pytest test class
    TESTING = True

    def __init__(self, database_url: str = "sqlite://", redis_url: str | None = None) -> None:
        super().__init__()
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(database_url)
        self.REDIS_PREFIX = redis_prefix(self.SQLALCHEMY_DATABASE_URI)
        self.CELERY["broker_transport_options"]["global_keyprefix"] = self.REDIS_PREFIX
        # In-process broker unless a test asks for real Redis.
        self.CELERY["broker_url"] = "memory://"
        if redis_url is not None:
            self.REDIS_URL = redis_url
            self.CELERY["broker_url"] = redis_url


def setting(name: str) -> Any:
    """A setting of the current app (Flask's config dict is untyped)."""

    return cast(Any, current_app.config[name])


def config_from_env() -> Config:
    """The config class named by APP_ENV (development, production)."""
    name = _env_choice("APP_ENV", "development", ("development", "production"))
    return ProductionConfig() if name == "production" else Config()
