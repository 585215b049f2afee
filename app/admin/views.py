"""Administrators' pages: sign-in and sign-out, and the album page's "Change cover" actions.

Every route but the sign-in page is POST only and checks the form's CSRF token;
visitors get 404 for all of them (`hide_from_visitors`), never the action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from app.admin import auth
from app.admin.blueprint import bp
from app.admin.forms import (
    UPLOAD_LIMIT_MB,
    ActionForm,
    CandidateForm,
    SignInForm,
    UploadForm,
    UrlForm,
)
from app.curation import audit, pins
from app.curation.uploads import MAX_UPLOAD_BYTES, UploadRefusedError
from app.models import Album
from worker import candidates as cover_candidates

PUBLIC_ENDPOINTS = frozenset({"admin.sign_in", "admin.sign_in_post"})
CSRF_REFUSED = (
    "This form has expired or did not come from this site; reload the page and try again."
)


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("catalog.index")


def _admin() -> Any:
    admin = auth.current_admin()
    if admin is None:
        abort(404)
    return admin


def _album_page(album_id: int) -> Response:
    return redirect(url_for("catalog.album_detail", album_id=album_id) + "#change-cover")


def _valid(form: Any) -> bool:
    """A POSTed form whose token and fields check out (Flask-WTF is not fully typed)."""
    return bool(form.validate_on_submit())


def _refused(form: Any) -> bool:
    """A form that fails validation: its CSRF token first (400), else a message."""
    if _valid(form):
        return False
    if "csrf_token" in form.errors:
        abort(400, description=CSRF_REFUSED)
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")
    return True


@bp.get("/sign-in")
def sign_in() -> str | Response:
    if auth.current_admin() is not None:
        return redirect(_safe_next(request.args.get("next")))
    return render_template("admin/sign_in.html", form=SignInForm(), next=request.args.get("next"))


@bp.post("/sign-in")
def sign_in_post() -> tuple[str, int] | Response:
    form = SignInForm()
    target = request.args.get("next")
    if not _valid(form):
        status = 400 if "csrf_token" in form.errors else 422
        message = CSRF_REFUSED if status == 400 else "Enter your name and password."
        return render_template("admin/sign_in.html", form=form, next=target, error=message), status
    result = auth.sign_in(str(form.name.data), str(form.password.data), auth.client_address())
    if result.admin is None:
        error = result.message
        return render_template("admin/sign_in.html", form=form, next=target, error=error), 401
    auth.start_session(result.admin)
    return redirect(_safe_next(target))


@bp.post("/sign-out")
def sign_out() -> Response:
    _admin()
    if not _valid(ActionForm()):
        abort(400, description=CSRF_REFUSED)
    auth.end_session()
    return redirect(url_for("catalog.index"))


@bp.post("/albums/<int(max=2147483647):album_id>/candidates")
def candidates(album_id: int) -> str:
    """The panel's candidate list, gathered by the worker; polled while it is pending."""
    _admin()
    form = ActionForm()
    if not _valid(form):
        abort(400, description=CSRF_REFUSED)
    listed = cover_candidates.request_candidates(album_id, again=request.args.get("again") == "1")
    return render_template(
        "admin/_candidates.html",
        album_id=album_id,
        listed=listed,
        form=ActionForm(),
        pick=CandidateForm(),
    )


def _change(album_id: int, form: Any, change: Callable[[str], object], done: str) -> Response:
    """Run one change under its form's checks; the album page says how it went."""
    admin = _admin()
    if _refused(form):
        return _album_page(album_id)
    try:
        change(admin.name)
    except (pins.PinRefusedError, UploadRefusedError) as exc:
        flash(str(exc), "error")
    else:
        flash(done, "ok")
    return _album_page(album_id)


@bp.post("/albums/<int(max=2147483647):album_id>/pin/candidate")
def pin_candidate(album_id: int) -> Response:
    form = CandidateForm()
    address = auth.client_address()
    return _change(
        album_id, form,
        lambda actor: pins.pin_candidate(
            album_id, int(form.number.data or 0), actor=actor, address=address
        ),
        "Cover pinned: no refresh will replace it.",
    )  # fmt: skip


@bp.post("/albums/<int(max=2147483647):album_id>/pin/url")
def pin_url(album_id: int) -> Response:
    form = UrlForm()
    address = auth.client_address()
    return _change(
        album_id, form,
        lambda actor: pins.pin_url(
            album_id, str(form.url.data or ""), actor=actor, address=address
        ),
        "Cover pinned from the address: no refresh will replace it.",
    )  # fmt: skip


@bp.post("/albums/<int(max=2147483647):album_id>/pin/upload")
def pin_upload(album_id: int) -> Response:
    form = UploadForm()
    address = auth.client_address()

    def upload(actor: str) -> Album:
        data = form.file.data.read(MAX_UPLOAD_BYTES + 1)  # one byte more says "too large"
        return pins.pin_upload(album_id, data, actor=actor, address=address)

    return _change(album_id, form, upload, "Uploaded cover pinned: no refresh will replace it.")


@bp.post("/albums/<int(max=2147483647):album_id>/unpin")
def unpin(album_id: int) -> Response:
    address = auth.client_address()
    return _change(
        album_id, ActionForm(),
        lambda actor: pins.unpin(album_id, actor=actor, address=address),
        "Unpinned: the cover sources are asked again.",
    )  # fmt: skip


@bp.post("/albums/<int(max=2147483647):album_id>/wrong-match")
def wrong_match(album_id: int) -> Response:
    address = auth.client_address()
    return _change(
        album_id, ActionForm(),
        lambda actor: pins.wrong_match(album_id, actor=actor, address=address),
        "That match is forgotten for this album; looking for the cover again.",
    )  # fmt: skip


def panel_context(album: Album) -> dict[str, Any]:
    """What the album page's "Change cover" panel needs (forms carry their tokens)."""
    return {
        "action": ActionForm(),
        "url_form": UrlForm(),
        "upload_form": UploadForm(),
        "upload_limit_mb": UPLOAD_LIMIT_MB,
        "history": audit.history(album.id)[-8:][::-1],
        "matched": album.cover_source in pins.MATCHED_SOURCES and album.cover_pinned_at is None,
    }


def register_admin(app: Flask) -> None:
    """The blueprint, its session cookie, the 404 for visitors and the upload limit page."""
    auth.register_sessions(app)
    app.register_blueprint(bp, url_prefix="/admin")

    @app.before_request
    def hide_from_visitors() -> None:  # pyright: ignore[reportUnusedFunction]
        # Before routing's 405: a visitor learns nothing of the admin routes, not even
        # which methods they take.
        admin_route = request.path.startswith("/admin/")
        if admin_route and request.endpoint not in PUBLIC_ENDPOINTS and not auth.current_admin():
            abort(404)

    @app.teardown_request
    def forget_admin(_exc: BaseException | None) -> None:  # pyright: ignore[reportUnusedFunction]
        auth.forget_current()  # a test client shares one app context (and `g`) between requests

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_error: RequestEntityTooLarge) -> tuple[str, int]:  # pyright: ignore[reportUnusedFunction]
        message = f"The file is larger than {UPLOAD_LIMIT_MB} MB; nothing was stored."
        return render_template("admin/message.html", message=message, title="Too large"), 413

    @app.context_processor
    def admin_context() -> dict[str, Any]:  # pyright: ignore[reportUnusedFunction]
        # A function, not a value: only the pages that ask (the album page) read the session.
        return {
            "current_admin": auth.current_admin,
            "admin_panel": panel_context,
            "admin_form": ActionForm,
        }
