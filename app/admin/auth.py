"""Administrators' accounts, sign-in with throttling, and the session that follows.

Passwords are stored as werkzeug's scrypt hashes. Failed sign-ins are counted in Redis
(shared by every web process) per account and per client address; ADMIN_MAX_FAILURES
within ADMIN_LOCK_MINUTES lock the account for that long (three times as many lock the
address), and the sign-in page says so. A locked account stays locked for the right
password too: that is what stops guessing. The session holds the admin's id and the
hash's tail, so a password change or a deleted account ends every session at once.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import redis
from flask import Flask, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from app.config import setting
from app.curation import audit
from app.extensions import db, get_redis, redis_key
from app.models import NAME_MAX, Admin, name_key

MIN_PASSWORD = 12
SESSION_KEY = "admin"


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the name is unknown, so a wrong name takes as long as a wrong
    password. Made on first use: a scrypt hash costs a fifth of a second, and every
    command and worker process imports this module."""
    return generate_password_hash("not-a-password-anyone-has")


class AccountError(ValueError):
    """An account cannot be created or changed; the message says why."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"The password must have at least {MIN_PASSWORD} characters.")
    return generate_password_hash(password)


def find(name: str) -> Admin | None:
    return db.session.scalar(select(Admin).where(Admin.name_key == name_key(name)))


def create(name: str, password: str) -> Admin:
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise AccountError(f"A name of 1 to {NAME_MAX} characters, please.")
    if find(name) is not None:
        raise AccountError(f"There is an administrator called {name} already.")
    admin = Admin(name=name, name_key=name_key(name), password_hash=hash_password(password))
    db.session.add(admin)
    db.session.commit()
    return admin


@dataclass(frozen=True, slots=True)
class SignIn:
    """What a sign-in attempt came to: the admin, or the message to show."""

    admin: Admin | None
    message: str | None = None


def _failures_key(kind: str, value: str) -> str:
    return redis_key(f"admin:failures:{kind}:{value}")


def _locked_for(client: redis.Redis, key: str, limit: int) -> int:
    """Seconds this account or address stays locked (0: not locked)."""
    count = int(cast(bytes | None, client.get(key)) or 0)
    if count < limit:
        return 0
    return max(1, int(client.ttl(key)))  # pyright: ignore[reportArgumentType]


def _count_failure(client: redis.Redis, key: str, seconds: int) -> None:
    pipe = client.pipeline(transaction=True)  # pyright: ignore[reportUnknownMemberType]
    pipe.incr(key)
    pipe.expire(key, seconds, nx=True)
    pipe.execute()


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def sign_in(name: str, password: str, address: str) -> SignIn:
    """Check a name and password under the throttle; records the attempt in the audit."""
    limit = int(setting("ADMIN_MAX_FAILURES"))
    lock_seconds = int(setting("ADMIN_LOCK_MINUTES")) * 60
    account_key = _failures_key("account", name_key(name)[:NAME_MAX])
    address_key = _failures_key("address", address)
    try:
        client = get_redis()
        account_locked = _locked_for(client, account_key, limit)
        address_locked = _locked_for(client, address_key, 3 * limit)
    except redis.RedisError:
        # Without Redis nothing counts the guesses: no sign-in until it is back.
        return SignIn(None, "Signing in is unavailable right now; try again in a minute.")
    if account_locked or address_locked:
        # Not recorded: the lock itself was, and a script hammering a locked form must
        # not fill the audit trail.
        if account_locked:
            return SignIn(
                None,
                "This account is locked after too many failed sign-ins; "
                f"try again in {_minutes(account_locked)}.",
            )
        return SignIn(
            None,
            f"Too many failed sign-ins from your address; try again in {_minutes(address_locked)}.",
        )
    admin = find(name) if name else None
    valid = check_password_hash(admin.password_hash if admin else _dummy_hash(), password)
    if admin is None or not valid:
        _count_failure(client, account_key, lock_seconds)
        _count_failure(client, address_key, lock_seconds)
        audit.record(name or "?", audit.SIGN_IN_FAILED, address=address)
        db.session.commit()
        left = limit - int(cast(bytes | None, client.get(account_key)) or 0)
        if left <= 0:
            return SignIn(
                None,
                f"Wrong name or password. This account is now locked for {_minutes(lock_seconds)}.",
            )
        return SignIn(None, "Wrong name or password.")
    client.delete(account_key)
    admin.last_sign_in_at = datetime.now(UTC)
    audit.record(admin.name, audit.SIGN_IN, address=address)
    db.session.commit()
    return SignIn(admin)


def _stamp(admin: Admin) -> str:
    return admin.password_hash[-16:]


def start_session(admin: Admin) -> None:
    session.clear()  # a fresh session: nothing from before the sign-in carries over
    session.permanent = True  # PERMANENT_SESSION_LIFETIME bounds it
    session[SESSION_KEY] = {"id": admin.id, "stamp": _stamp(admin)}


def end_session() -> None:
    session.clear()


def current_admin() -> Admin | None:
    """The signed-in administrator of this request, or None (every visitor)."""
    if "admin" in g:
        return cast(Admin | None, g.admin)
    found: Admin | None = None
    raw = session.get(SESSION_KEY)
    if isinstance(raw, dict):
        data = cast(dict[str, object], raw)
        admin_id = data.get("id")
        if isinstance(admin_id, int):
            admin = db.session.get(Admin, admin_id)
            if admin is not None and data.get("stamp") == _stamp(admin):
                found = admin
    g.admin = found
    return found


def forget_current() -> None:
    """End of a request: forget who it was (and Flask-WTF's token, kept in `g` too)."""
    g.pop("admin", None)
    g.pop("csrf_token", None)  # WTF_CSRF_FIELD_NAME, left at its default


def client_address() -> str:
    return request.remote_addr or "unknown"


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with the Secure flag whenever served over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        secure = super().get_cookie_secure(app)
        return secure or (has_request_context() and request.is_secure)


def register_sessions(app: Flask) -> None:
    app.session_interface = SessionInterface()
