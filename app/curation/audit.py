"""The audit trail: every pin, unpin, upload, wrong match and sign-in, who and when."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry

# The actions recorded (AuditEntry.action).
PIN = "pin"
UPLOAD = "upload"
UNPIN = "unpin"
WRONG_MATCH = "wrong-match"
SIGN_IN = "sign-in"
SIGN_IN_FAILED = "sign-in-failed"


def record(
    actor: str,
    action: str,
    *,
    album_id: int | None = None,
    old_cover: str | None = None,
    new_cover: str | None = None,
    detail: str | None = None,
    address: str | None = None,
) -> None:
    """Add one entry (committed with the caller's change, or on its own)."""
    db.session.add(
        AuditEntry(
            actor=actor[:300],
            action=action,
            album_id=album_id,
            old_cover=old_cover,
            new_cover=new_cover,
            detail=detail[:2000] if detail else None,
            address=address[:64] if address else None,
        )
    )


def history(album_id: int) -> list[AuditEntry]:
    """An album's entries, oldest first."""
    query = select(AuditEntry).where(AuditEntry.album_id == album_id)
    return list(db.session.scalars(query.order_by(AuditEntry.at, AuditEntry.id)))
