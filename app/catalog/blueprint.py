"""The catalog blueprint object, shared by its page and fragment modules."""

from flask import Blueprint, g

bp = Blueprint("catalog", __name__, template_folder="templates")


@bp.app_template_filter("duration")
def duration(ms: int | None) -> str:
    """Milliseconds as m:ss (or h:mm:ss)."""
    if not ms:
        return ""
    seconds = round(ms / 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# What a request read once (catalog versions, the genre list) lives in `g`; a test
# client shares one app context between requests, so drop it when a request ends.
REQUEST_MEMOS = ("catalog_versions", "catalog_genres")


@bp.teardown_request
def forget_request_memos(_exc: BaseException | None) -> None:
    for name in REQUEST_MEMOS:
        g.pop(name, None)
