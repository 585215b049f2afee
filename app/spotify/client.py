"""Spotify Web API client on spotipy, with spotipy's own retries switched off.

spotipy would sleep for Retry-After inside a call (up to hours) and hide the
headers; here every call fails fast with a classified error and the caller (the
worker, under the global limiter) decides when to try again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import redis
import requests
import spotipy  # pyright: ignore[reportMissingTypeStubs]
from spotipy import cache_handler, oauth2  # pyright: ignore[reportMissingTypeStubs]

from app.spotify.errors import (
    AlbumNotFoundError,
    AuthError,
    BatchUnavailableError,
    RateLimitedError,
    SpotifyError,
    TransientError,
)
from app.spotify.models import AlbumData, parse_album
from app.spotify.quota import Bucket

log = logging.getLogger(__name__)
# spotipy is untyped; everything from it is treated as Any, behind this module's types.
_SP: Any = spotipy
_OAUTH: Any = oauth2
_CACHE: Any = cache_handler
SpotifyException: type[Exception] = _SP.SpotifyException
SpotifyOauthError: type[Exception] = _OAUTH.SpotifyOauthError
T = TypeVar("T")
BatchMode = Literal["auto", "on", "off"]
PAGE = 50
MAX_BATCH = 20
SEARCH_LIMIT = 10  # development-mode apps: at most 10 results per search
TOKEN_KEY = "spotify:token"
PROGRESS_KEY = "spotify:album-progress:"  # + album id: the pages an earlier try fetched
PROGRESS_SECONDS = 600
BATCH_OFF_KEY = "spotify:batch-unavailable"
BATCH_OK_KEY = "spotify:batch-available"
BATCH_PROBE_KEY = "spotify:batch-probe"
BATCH_PROBE_SECONDS = 10  # a probe that never reports back frees the way after this
BATCH_PROBE_RETRY_SECONDS = 5  # after a probe that failed, single lookups this long
# Delete KEYS[1] only while it holds ARGV[1] (a probe's own token, not a later one's).
_DELETE_IF = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end"
# Re-probe once a day: the app may have been granted (or lost) extended quota meanwhile.
BATCH_REPROBE_SECONDS = 24 * 3600.0
# A Retry-After longer than this means the daily quota, whatever the body says.
QUOTA_RETRY_AFTER = 3600.0


@dataclass(frozen=True, slots=True)
class SpotifySettings:
    client_id: str
    client_secret: str
    api_base: str = "https://api.spotify.com/v1/"
    token_url: str = "https://accounts.spotify.com/api/token"
    timeout: float = 10.0
    batch: BatchMode = "auto"
    # The app's REDIS_PREFIX: the token and batch-probe keys live inside it.
    key_prefix: str = ""


# Wraps every HTTP call, told which quota bucket it spends (the limiter, the day's budget).
Guard = Callable[[Bucket], AbstractContextManager[object]]


def _no_guard(_bucket: Bucket) -> AbstractContextManager[object]:
    return nullcontext()


def _retry_after(headers: Any) -> float:
    try:
        return max(1.0, float(cast(dict[str, str], headers or {}).get("Retry-After", "") or 1))
    except (TypeError, ValueError):
        return 1.0


def _ignore(_outcome: str) -> None:
    return None


def classify(exc: Exception) -> SpotifyError:
    """The SpotifyError for whatever spotipy or requests raised."""
    if isinstance(exc, SpotifyError):
        return exc
    if isinstance(exc, SpotifyException):
        err: Any = exc
        status = int(err.http_status or 0)
        message = str(err.msg).strip().splitlines()[-1].strip()
        if status in (400, 404):
            return AlbumNotFoundError(f"Spotify answered {status}: {message}")
        if status == 429:
            retry_after = _retry_after(err.headers)
            quota = err.reason == "QUOTA_EXCEEDED" or retry_after >= QUOTA_RETRY_AFTER
            return RateLimitedError(retry_after, quota_exhausted=quota)
        if status == 403:
            return BatchUnavailableError(f"Spotify answered 403: {message}")
        return TransientError(f"Spotify answered {status or 'an error'}: {message}")
    if isinstance(exc, SpotifyOauthError):
        code = str(cast(Any, exc).error)
        if code in ("invalid_client", "unauthorized_client"):
            return AuthError(f"Spotify refused the client credentials: {code}")
        return TransientError(f"token request failed: {exc}")
    if isinstance(exc, requests.Timeout):
        return TransientError(f"Spotify timed out: {type(exc).__name__}")
    if isinstance(exc, requests.RequestException):
        return TransientError(f"cannot reach Spotify: {type(exc).__name__}")
    return TransientError(f"unexpected answer from Spotify: {exc}")


class _ExpiringRedisCache(_CACHE.RedisCacheHandler):  # type: ignore[misc]
    """spotipy's Redis token cache, but the token expires with its `expires_in`: a
    stolen Redis dump holds no live token for long, and no dead one lingers."""

    def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
        ttl = token_info.get("expires_in")
        seconds = int(ttl) if isinstance(ttl, int | float) and ttl > 0 else 3600
        try:
            self.redis.set(self.key, json.dumps(token_info), ex=seconds)
        except redis.RedisError:
            log.warning("could not store the Spotify token in Redis")


class SpotifyClient:
    """Album lookups; `guard` wraps every HTTP call (the global limiter)."""

    def __init__(
        self,
        settings: SpotifySettings,
        *,
        redis_client: redis.Redis | None = None,
        guard: Guard | None = None,
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self._redis = redis_client
        self._key_prefix = settings.key_prefix
        # spotipy logs every non-2xx answer as an ERROR; we classify and log them ourselves.
        logging.getLogger("spotipy").setLevel(logging.CRITICAL)
        self._guard: Guard = guard or _no_guard
        self._on_call: Callable[[str], None] = on_call or _ignore
        self._batch_off_until = 0.0  # time.monotonic() until which batch is known refused
        # The probe this thread took and has not made yet (its token in BATCH_PROBE_KEY).
        self._probing = threading.local()
        self._sp: Any = None
        self._sp_lock = threading.Lock()

    def _spotify(self) -> Any:
        """spotipy's client, made at the first call: an app without credentials still
        starts (its pages work), and that call fails with AuthError instead."""
        with self._sp_lock:
            if self._sp is None:
                self._sp = self._build()
            return self._sp

    def _build(self) -> Any:
        settings = self.settings
        if not (settings.client_id and settings.client_secret):
            raise AuthError("SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET are not set")
        session = requests.Session()  # no Retry adapter: nothing retries behind our back
        # The token lives in Redis (shared by all workers) or memory, never a .cache file.
        cache: Any = (
            _ExpiringRedisCache(self._redis, key=self._key_prefix + TOKEN_KEY)
            if self._redis is not None
            else _CACHE.MemoryCacheHandler()
        )
        credentials: Any = _OAUTH.SpotifyClientCredentials(
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            requests_session=session,
            requests_timeout=settings.timeout,
            cache_handler=cache,
        )
        credentials.OAUTH_TOKEN_URL = settings.token_url
        sp: Any = _SP.Spotify(
            auth_manager=credentials,
            requests_session=session,
            requests_timeout=settings.timeout,
            retries=0,
            status_retries=0,
            status_forcelist=(),
        )
        sp.prefix = settings.api_base
        return sp

    def _call(self, fn: Callable[[], T], bucket: Bucket = "albums") -> T:
        with self._guard(bucket):
            try:
                result = fn()
            except Exception as exc:
                error = classify(exc)
                error.bucket = bucket
                self._on_call(type(error).__name__)
                raise error from exc
        if result is None:  # spotipy swallows undecodable bodies
            self._on_call("TransientError")
            raise TransientError("Spotify sent an answer that is not JSON")
        self._on_call("ok")
        return result

    def _progress_key(self, spotify_id: str) -> str:
        return f"{self._key_prefix}{PROGRESS_KEY}{spotify_id}"

    def _load_progress(self, spotify_id: str) -> tuple[dict[str, Any], list[Any]] | None:
        """What an earlier try of this album already fetched (the album, its later pages)."""
        if self._redis is None:
            return None
        try:
            raw = self._redis.get(self._progress_key(spotify_id))
            saved: Any = json.loads(cast(bytes, raw)) if raw else None
        except (redis.RedisError, ValueError):
            return None
        if not isinstance(saved, dict):
            return None
        found = cast(dict[str, Any], saved)
        album, items = found.get("album"), found.get("items")
        if not isinstance(album, dict) or not isinstance(items, list):
            return None
        return cast(dict[str, Any], album), cast(list[Any], items)

    def _save_progress(self, spotify_id: str, album: dict[str, Any], items: list[Any]) -> None:
        if self._redis is None:
            return
        with contextlib.suppress(redis.RedisError):
            body = json.dumps({"album": album, "items": items})
            self._redis.set(self._progress_key(spotify_id), body, ex=PROGRESS_SECONDS)

    def _forget_progress(self, spotify_id: str) -> None:
        if self._redis is not None:
            with contextlib.suppress(redis.RedisError):
                self._redis.delete(self._progress_key(spotify_id))

    def _more_tracks(self, spotify_id: str, album: dict[str, Any], items: list[Any]) -> list[Any]:
        """The track pages after the first, from where an earlier try stopped.

        A page that must wait (the limiter, a 5xx) raises; what came before it is kept
        in Redis, so the retry goes on from there: one call per page, ever."""
        first_page: dict[str, Any] = album.get("tracks") or {}
        total = first_page.get("total")
        offset = len(first_page.get("items") or []) + len(items)
        more = bool(first_page.get("next"))
        while more and isinstance(total, int) and offset < total:
            try:
                page: dict[str, Any] = self._call(
                    lambda o=offset: self._spotify().album_tracks(spotify_id, limit=PAGE, offset=o),
                    "tracks",
                )
            except Exception:
                self._save_progress(spotify_id, album, items)
                raise
            batch = cast(list[Any], page.get("items") or [])
            if not batch:
                break
            items.extend(batch)
            offset += len(batch)
            more = bool(page.get("next"))
        return items

    def album(self, spotify_id: str) -> AlbumData:
        """`GET /albums/{id}` and, past 50 tracks, the following track pages."""
        saved = self._load_progress(spotify_id)
        if saved is None:
            raw: dict[str, Any] = self._call(lambda: self._spotify().album(spotify_id))
            album, items = raw, list[Any]()
        else:
            album, items = saved
        extra = self._more_tracks(spotify_id, album, items)
        self._forget_progress(spotify_id)
        return parse_album(album, spotify_id, extra)

    def search_albums(self, query: str, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
        """`GET /search?type=album`: the albums Spotify offers for `query`, as it sends them.

        Development-mode apps may ask for at most 10 (11 is a 400 "Invalid limit")."""
        capped = max(1, min(limit, SEARCH_LIMIT))
        raw: dict[str, Any] = self._call(
            lambda: self._spotify().search(query, limit=capped, type="album"), "search"
        )
        albums: Any = raw.get("albums")
        items: Any = cast(dict[str, Any], albums).get("items") if isinstance(albums, dict) else None
        return [
            cast(dict[str, Any], i) for i in cast(list[Any], items or []) if isinstance(i, dict)
        ]

    # Batch lookups: only for extended-quota apps.
    def batch_available(self) -> bool:
        mode = self.settings.batch
        if mode != "auto":
            return mode == "on"
        if time.monotonic() < self._batch_off_until:
            return False
        if self._redis is None:
            return True
        # Nobody may know yet: one caller probes (a refused probe costs a call and quota;
        # eight at once would cost eight), and the others look their albums up on their
        # own meanwhile. Waiting for the probe's answer instead stalled every task for
        # seconds whenever the probe itself had to wait (for a token, or after a 5xx).
        try:
            if self._redis.exists(self._key_prefix + BATCH_OFF_KEY):
                return False
            if self._redis.exists(self._key_prefix + BATCH_OK_KEY):
                return True
            token = uuid.uuid4().hex
            key = self._key_prefix + BATCH_PROBE_KEY
            if not self._redis.set(key, token, nx=True, ex=BATCH_PROBE_SECONDS):
                return False
            self._probing.token = token
            return True
        except redis.RedisError:
            return False

    def end_probe(self) -> None:
        """The caller that took the probe ends without making it (its albums were fetched
        by others meanwhile, or held): the next caller probes, instead of everyone
        looking albums up singly until the probe key lapses."""
        token: str | None = getattr(self._probing, "token", None)
        self._probing.token = None
        if token is None or self._redis is None:
            return
        with contextlib.suppress(redis.RedisError):
            self._redis.eval(_DELETE_IF, 1, self._key_prefix + BATCH_PROBE_KEY, token)  # pyright: ignore[reportUnknownMemberType]

    def batch_confirmed(self) -> bool:
        """Whether a several-albums call has succeeded lately (not just being probed)."""
        if self.settings.batch != "auto":
            return self.settings.batch == "on"
        if self._redis is None:
            return False
        try:
            return bool(self._redis.exists(self._key_prefix + BATCH_OK_KEY))
        except redis.RedisError:
            return False

    def _disable_batch(self) -> None:
        self._batch_off_until = time.monotonic() + BATCH_REPROBE_SECONDS
        if self._redis is not None:
            try:
                self._redis.set(
                    self._key_prefix + BATCH_OFF_KEY, "403", ex=int(BATCH_REPROBE_SECONDS)
                )
            except redis.RedisError:
                log.warning("cannot record in Redis that batch lookups are unavailable")

    def albums(self, spotify_ids: Sequence[str]) -> dict[str, AlbumData | None]:
        """Up to 20 albums in one call; None for an id Spotify does not know.

        Raises BatchUnavailableError (and, in auto mode, stops trying batch for good)
        when Spotify refuses the endpoint.
        """
        ids = list(dict.fromkeys(spotify_ids))[:MAX_BATCH]
        self._probing.token = None  # made: its answer (or failure) settles the probe key
        try:
            raw: dict[str, Any] = self._call(lambda: self._spotify().albums(ids))
        except BatchUnavailableError:
            if self.settings.batch == "auto" and time.monotonic() >= self._batch_off_until:
                # Said once per process, not once per task that was already probing.
                log.info("several-albums endpoint refused (403): using single lookups from now on")
                self._disable_batch()
            raise
        except Exception:
            # The probe failed (a 5xx, a timeout) and told nothing: single lookups for a
            # few seconds, then another probe (not at once: during an outage every probe
            # fails, and the albums it carried go on singly without waiting for it).
            if self.settings.batch == "auto" and self._redis is not None:
                with contextlib.suppress(redis.RedisError):
                    key = self._key_prefix + BATCH_PROBE_KEY
                    self._redis.set(key, "failed", ex=BATCH_PROBE_RETRY_SECONDS)
            raise
        if self.settings.batch == "auto" and self._redis is not None:
            with contextlib.suppress(redis.RedisError):
                self._redis.set(
                    self._key_prefix + BATCH_OK_KEY, "200", ex=int(BATCH_REPROBE_SECONDS)
                )
        result: dict[str, AlbumData | None] = dict.fromkeys(ids)
        for spotify_id, item in zip(ids, raw.get("albums") or [], strict=False):
            if isinstance(item, dict):
                album = cast(dict[str, Any], item)
                extra = self._more_tracks(spotify_id, album, [])
                result[spotify_id] = parse_album(album, spotify_id, extra)
        return result
