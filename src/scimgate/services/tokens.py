"""Bearer tokens: made here, shown once, stored as SHA-256, looked up by that hash.

A token is 256 bits from ``secrets`` (``sg_`` + URL-safe base64). Because it is random and long,
a single unsalted SHA-256 is the right stored form (as for API keys in GitHub and Stripe): the
lookup is one indexed equality, and the hash reveals nothing usable.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from scimgate.storage.models import ScimToken, Workspace, utcnow

TOKEN_PREFIX = "sg_"
DISPLAY_CHARS = 10
LAST_USED_RESOLUTION_SECONDS = 60


@dataclass(frozen=True)
class IssuedToken:
    """A freshly made token: ``secret`` is shown to the admin once and never stored."""

    record: ScimToken
    secret: str


def token_hash(secret: str) -> str:
    """Hex SHA-256 of the presented token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(session: Session, workspace: Workspace, *, kind: str = "scim") -> IssuedToken:
    """Make a new token of ``kind`` (``scim`` or ``admin``) for ``workspace``."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ScimToken(
        id=str(uuid.uuid4()),
        workspace_id=workspace.id,
        kind=kind,
        token_sha256=token_hash(secret),
        prefix=secret[:DISPLAY_CHARS],
    )
    session.add(record)
    session.flush()
    return IssuedToken(record=record, secret=secret)


_LIVE_TOKEN = (  # built once: every SCIM request runs it
    select(ScimToken, Workspace)
    .join(Workspace, Workspace.id == ScimToken.workspace_id)
    .where(ScimToken.token_sha256 == bindparam("token_sha256"), ScimToken.kind == bindparam("kind"),
           ScimToken.revoked_at.is_(None))
)


def find_live_token(session: Session, secret: str, *,
                    kind: str = "scim") -> tuple[ScimToken, Workspace] | None:
    """(token, its workspace) for the live (not revoked) token of ``kind`` whose hash matches
    ``secret``, or None; one indexed query, reading only, so it may run in a read-only unit of
    work (every SCIM request runs it). Empty secrets never match (case C34). ``last_used`` is
    the caller's to refresh: :func:`use_is_stale`, :func:`note_use`."""
    if not secret:
        return None
    row = session.execute(_LIVE_TOKEN, {"token_sha256": token_hash(secret), "kind": kind}).first()
    return (row[0], row[1]) if row else None


def find_refused_token(session: Session, secret: str, *,
                       kind: str = "scim") -> tuple[ScimToken, Workspace] | None:
    """(token, its workspace) for a presented ``secret`` that is not a live token but is
    recognisably one the workspace issued: a revoked token (its hash matches), or a mangled copy
    (a truncated or mistyped paste) that still starts with a token's ``DISPLAY_CHARS``-character
    prefix. None otherwise. Only for a request already refused 401, so that the refusal can be
    shown on that workspace's health card (services.health); the prefix carries 42 random bits,
    so a stranger cannot aim rows at a workspace by guessing it."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) < DISPLAY_CHARS:
        return None
    join = (select(ScimToken, Workspace).join(Workspace, Workspace.id == ScimToken.workspace_id)
            .where(ScimToken.kind == kind))
    row = session.execute(join.where(ScimToken.token_sha256 == token_hash(secret))).first()
    if row is None:
        row = session.execute(join.where(ScimToken.prefix == secret[:DISPLAY_CHARS])
                              .order_by(ScimToken.created.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def use_is_stale(record: ScimToken) -> bool:
    """True when ``last_used`` is unset or older than ``LAST_USED_RESOLUTION_SECONDS``: it is
    refreshed at most once a minute, so that reads do not turn into writes on every request."""
    last = record.last_used
    return last is None or (utcnow() - last).total_seconds() > LAST_USED_RESOLUTION_SECONDS


def note_use(session: Session, record: ScimToken) -> None:
    """Set the token's ``last_used`` to now (in ``session``'s transaction)."""
    now = utcnow()
    session.execute(update(ScimToken).where(ScimToken.id == record.id).values(last_used=now))
    record.last_used = now


def list_tokens(session: Session, workspace: Workspace, *, kind: str = "scim") -> list[ScimToken]:
    """The workspace's tokens of ``kind``, newest first (revoked ones included)."""
    return list(
        session.scalars(
            select(ScimToken)
            .where(ScimToken.workspace_id == workspace.id, ScimToken.kind == kind)
            .order_by(ScimToken.created.desc())
        )
    )


def revoke_token(session: Session, workspace: Workspace, token_id: str, *, kind: str = "scim") -> ScimToken:
    """Revoke the one live token ``token_id`` of ``workspace``; returns it. Raises LookupError
    (nothing revoked) when it is not a live token of ``kind`` of this workspace (another
    workspace's id included)."""
    record = session.scalar(
        select(ScimToken).where(ScimToken.workspace_id == workspace.id, ScimToken.id == token_id,
                                ScimToken.kind == kind, ScimToken.revoked_at.is_(None))
    )
    if record is None:
        raise LookupError("That token is not a live token of this workspace.")
    record.revoked_at = utcnow()
    return record


def revoke_tokens(session: Session, workspace: Workspace, *, prefix: str | None = None,
                  kind: str = "scim", keep: ScimToken | None = None) -> int:
    """Revoke the workspace's live tokens of ``kind`` (only those starting with ``prefix`` if
    given; never ``keep``). Returns how many were revoked."""
    count = 0
    for record in list_tokens(session, workspace, kind=kind):
        if record.revoked_at is not None or (keep is not None and record.id == keep.id):
            continue
        if prefix and not record.prefix.startswith(prefix[:DISPLAY_CHARS]):
            continue
        record.revoked_at = utcnow()
        count += 1
    return count
