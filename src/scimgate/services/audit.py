"""The provisioning log: one ``audit_event`` per SCIM request, never a token or a body.

A write's row also holds what it changed (services.changes), taken from the unit of work's session.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from scimgate.services import changes
from scimgate.storage.audit import insert_rows
from scimgate.storage.models import utcnow

DETAIL_LIMIT = 500


@functools.lru_cache(maxsize=256)
def guess_client(user_agent: str | None) -> str:
    """``entra``, ``okta`` or ``other`` from the User-Agent header (the last 256 answers are
    kept: a provisioning cycle sends one User-Agent thousands of times).

    Entra's provisioning service identifies as ``Microsoft.Azure.ActiveDirectory...`` /
    ``Azure AD SCIM``; Okta's as ``Okta SCIM Client`` (docs/identity-providers.md §1, §7).
    """
    agent = (user_agent or "").lower()
    if "azure" in agent or "microsoft" in agent or "entra" in agent:
        return "entra"
    if "okta" in agent:
        return "okta"
    return "other"


@dataclass
class AuditRecord:
    """What the HTTP edge knows about a request by the time it is answered."""

    request_id: str
    method: str
    path: str
    client: str
    workspace_id: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    recorded: bool = False  # set once the request's audit_event is committed


def row(audit: AuditRecord, status: int, duration_ms: float,
        scim_type: str | None = None, detail: str | None = None,
        change: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``audit_event`` row of ``audit`` answered with ``status`` (columns cut to their
    lengths; ``at`` is now, the time the request was answered); ``change`` is what the
    request changed (services.changes), None for a read or a failure."""
    return dict(
        at=utcnow(),
        workspace_id=audit.workspace_id,
        request_id=audit.request_id,
        method=audit.method,
        path=audit.path[:512],
        resource_type=(audit.resource_type or "")[:32] or None,
        resource_id=(audit.resource_id or "")[:64] or None,
        status=status,
        scim_type=scim_type,
        detail=(detail or "")[:DETAIL_LIMIT] or None,
        client=audit.client,
        duration_ms=round(duration_ms, 3),
        change=change,
    )


def record(session: Session, audit: AuditRecord, status: int, duration_ms: float,
           scim_type: str | None = None, detail: str | None = None) -> None:
    """Insert one audit_event row in ``session``'s transaction (committed with the request's own
    change, which services noted on ``session``: services.changes), by storage.audit.insert_rows:
    the ORM's unit of work, or a statement built per call, costs more than the row (every SCIM
    request writes one)."""
    change = changes.take(session)
    insert_rows(session, [row(audit, status, duration_ms, scim_type, detail, change)])
