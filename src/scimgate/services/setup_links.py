"""Setup links: a time-limited, revocable link an admin sends to an IT colleague.

The link opens one identity provider's setup guide of the workspace and lets its holder make a
SCIM token there, nothing else (no member, group, log or setting). Its secret is 256 bits from
``secrets`` with the ``sg_`` prefix the access log redacts (http.middleware.loggable_path); the
row's id is the secret's SHA-256, so a copy of the table opens nothing, and a lookup is one
primary-key equality. A link is live while ``revoked_at`` is unset and ``expires_at`` is in the
future; it lasts ``DEFAULT_HOURS`` unless the admin chooses 1 to ``MAX_HOURS``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.models import SetupLink, Workspace, utcnow

SECRET_PREFIX = "sg_link_"
DISPLAY_CHARS = 14
DEFAULT_HOURS = 72
MAX_HOURS = 14 * 24


class SetupLinkNotFound(WorkspaceError):
    """No live setup link of this workspace with this id."""


@dataclass(frozen=True)
class IssuedLink:
    """A new link's row and its secret (shown to the admin once, never stored)."""

    record: SetupLink
    secret: str


def link_id(secret: str) -> str:
    """The row id of a link's secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_link(session: Session, workspace: Workspace, idp: str, created_by: str,
                hours: int = DEFAULT_HOURS, now: datetime | None = None) -> IssuedLink:
    """A link to ``idp``'s guide for ``workspace`` lasting ``hours`` (1 to ``MAX_HOURS``;
    WorkspaceError otherwise), recorded as made by ``created_by`` (the admin's email)."""
    if not 1 <= hours <= MAX_HOURS:
        raise WorkspaceError(f"A setup link lasts from 1 to {MAX_HOURS} hours.")
    now = now or utcnow()
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    record = SetupLink(id=link_id(secret), workspace_id=workspace.id, idp=idp, prefix=secret[:DISPLAY_CHARS],
                       created_by=created_by, created=now, expires_at=now + timedelta(hours=hours))
    session.add(record)
    session.flush()
    return IssuedLink(record, secret)


def resolve(session: Session, secret: str, now: datetime | None = None) -> tuple[SetupLink, Workspace] | None:
    """The live link of ``secret`` and its workspace, or None (unknown, expired or revoked)."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    found = session.execute(
        select(SetupLink, Workspace).join(Workspace, Workspace.id == SetupLink.workspace_id)
        .where(SetupLink.id == link_id(secret), SetupLink.revoked_at.is_(None),
               SetupLink.expires_at > (now or utcnow()))
    ).first()
    return (found[0], found[1]) if found else None


def live_links(session: Session, workspace: Workspace, now: datetime | None = None) -> list[SetupLink]:
    """The workspace's live links, soonest to expire first."""
    return list(session.scalars(
        select(SetupLink).where(SetupLink.workspace_id == workspace.id, SetupLink.revoked_at.is_(None),
                                SetupLink.expires_at > (now or utcnow()))
        .order_by(SetupLink.expires_at)
    ))


def revoke(session: Session, workspace: Workspace, row_id: str) -> None:
    """Revoke the workspace's live link ``row_id`` at once; SetupLinkNotFound otherwise."""
    link = session.scalar(select(SetupLink).where(
        SetupLink.id == row_id, SetupLink.workspace_id == workspace.id, SetupLink.revoked_at.is_(None)))
    if link is None:
        raise SetupLinkNotFound("No live setup link with this id in your workspace.")
    link.revoked_at = utcnow()
