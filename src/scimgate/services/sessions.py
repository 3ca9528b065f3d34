"""Server-side sign-in sessions, revocable at once on every worker: admins now, members (SSO) next.

A session is a row of the ``session`` table (storage.models.SessionRecord). The browser holds
only a random token (32 bytes from ``secrets``, URL-safe base64: 43 characters); the row's key is
the token's SHA-256, so neither the database nor a backup holds a usable token (OWASP Session
Management Cheat Sheet, "Session ID Properties" and "Session ID Name Fingerprinting"). Every
request resolves its token against the table, with no per-process cache: a revoked session stops
working on every worker with the revoking transaction's commit.

Like every service, each function takes the caller's SQLAlchemy ``Session`` (``db``) and runs
in the caller's unit of work (``storage.db.transaction``; :func:`resolve_session` may write, so it
needs a ``transaction``, not a ``snapshot``); nothing here commits.

Subjects: ``subject_kind`` is ``"admin"`` (``subject_id``: the admin_account id) or
``"member"`` (the member's SCIM ``id``). Whoever removes, deactivates or re-credentials a
subject calls :func:`revoke_subject_sessions` in the same transaction. Rotation at sign-in
(OWASP, "Renew the Session ID After Any Privilege Level Change"): revoke the pre-sign-in token,
if any, and create a new one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, update
from sqlalchemy.orm import Session

from scimgate.storage.models import SessionRecord, utcnow

SUBJECT_KINDS = ("admin", "member")
TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128
"""A presented token longer than this is not looked up (tokens made here have 43 characters)."""
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
"""``last_seen`` is refreshed at most this often, so that reading a session is rarely a write."""


@dataclass(frozen=True)
class SessionInfo:
    """A live session: who it belongs to and until when (UTC, aware)."""

    session_id: str
    """The row's key (SHA-256 hex of the token): safe to log or show, useless as a cookie."""
    workspace_id: str
    subject_kind: str
    subject_id: str
    created: datetime
    expires_at: datetime


def session_id_of(token: str) -> str:
    """The ``session.id`` of a cookie token: SHA-256, lower-case hex (64 characters)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(db: Session, *, workspace_id: str, subject_kind: str, subject_id: str,
                   lifetime: timedelta) -> str:
    """Start a session for ``subject_kind``/``subject_id`` of ``workspace_id`` lasting
    ``lifetime`` from now; returns the token to put in the cookie (shown once, never stored).

    The subject's sessions that are already dead (expired or revoked) are deleted on the way,
    so a subject's rows stay few. Raises ValueError for an unknown ``subject_kind`` or a
    ``lifetime`` that is not positive.
    """
    if subject_kind not in SUBJECT_KINDS:
        raise ValueError(f"unknown session subject kind {subject_kind!r}; known: {', '.join(SUBJECT_KINDS)}")
    if lifetime <= timedelta(0):
        raise ValueError("a session lifetime must be positive")
    now = utcnow()
    db.execute(delete(SessionRecord).where(
        *_of_subject(workspace_id, subject_kind, subject_id),
        (SessionRecord.revoked_at.is_not(None)) | (SessionRecord.expires_at <= now),
    ))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.add(SessionRecord(id=session_id_of(token), workspace_id=workspace_id, subject_kind=subject_kind,
                         subject_id=subject_id, created=now, last_seen=now, expires_at=now + lifetime))
    db.flush()
    return token


def resolve_session(db: Session, token: str) -> SessionInfo | None:
    """The live session of ``token``, or None when it is empty, unknown, expired or revoked
    (one primary-key lookup). Refreshes ``last_seen`` when older than ``LAST_SEEN_RESOLUTION``."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    record = db.get(SessionRecord, session_id_of(token))
    now = utcnow()
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        return None
    if now - record.last_seen > LAST_SEEN_RESOLUTION:
        record.last_seen = now
    return SessionInfo(record.id, record.workspace_id, record.subject_kind, record.subject_id,
                       record.created, record.expires_at)


def revoke_session(db: Session, token: str) -> bool:
    """End the session of ``token`` (sign-out); True when a live session was ended, False when
    it was unknown or already dead (signing out twice is harmless)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return False
    result = db.execute(
        update(SessionRecord)
        .where(SessionRecord.id == session_id_of(token), SessionRecord.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_subject_sessions(db: Session, *, workspace_id: str, subject_kind: str, subject_id: str) -> int:
    """End every live session of one subject (password reset, removal, deactivation); returns
    how many were ended. Served by the index on (workspace_id, subject_kind, subject_id)."""
    result = db.execute(
        update(SessionRecord)
        .where(*_of_subject(workspace_id, subject_kind, subject_id), SessionRecord.revoked_at.is_(None),
               SessionRecord.expires_at > utcnow())
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _of_subject(workspace_id: str, subject_kind: str, subject_id: str) -> tuple[ColumnElement[bool], ...]:
    return (SessionRecord.workspace_id == workspace_id, SessionRecord.subject_kind == subject_kind,
            SessionRecord.subject_id == subject_id)
