"""The guided setup's live checklist: which setup milestones real SCIM traffic has reached.

Each step is ticked by the first provisioning-log row that proves it (services.audit), from any
SCIM client: the README's curl examples tick the list as much as the chosen identity provider
does (Google Workspace and others send no agreed User-Agent, and an admin often tries the Base
URL by hand first). Each ticked step names the client kind of its row (``entra``, ``okta`` or
``scim``), so the page can say which client the tick came from:

- ``test_connection``: a list of Users answered 200 (Entra's *Test Connection* queries a user
  that cannot exist, docs/identity-providers.md §1; Okta and Google probe ``GET /Users``, §7, §9);
- ``user_created``: a User created (201); ``group_pushed``: a Group created (201);
- ``first_update``: a User or Group updated by PUT or PATCH (2xx);
- ``sso_test``: the workspace's SSO connection has a successful test sign-in
  (``sso_connection.tested_at``); only listed when a connection exists.

Each step is one ``ORDER BY at LIMIT 1`` over ix_audit_event_workspace_at: the first matching
row ends the scan, and during setup the log is short. The page stops polling once every step is ticked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from scimgate.config import SCIM_PREFIX
from scimgate.storage.models import AuditEvent, SsoConnection, Workspace

IDPS = {"entra": "Microsoft Entra ID", "okta": "Okta", "google": "Google Workspace",
        "other": "Another SCIM client"}
CLIENT_OF = {"entra": "entra", "okta": "okta"}
"""The client kind each guide's identity provider is recognised as (by its User-Agent)."""
LABELS = {
    "test_connection": "Test connection received",
    "user_created": "First user created",
    "group_pushed": "First group pushed",
    "first_update": "First update",
    "sso_test": "SSO test sign-in passed",
}


@dataclass(frozen=True)
class Step:
    """One checklist step: its key, its label, when it was first reached (None: not yet) and the
    client kind of the request that reached it (``entra``, ``okta``, ``scim``; None for the SSO
    step and for steps not reached)."""

    key: str
    label: str
    done_at: datetime | None
    client: str | None = None

    @property
    def done(self) -> bool:
        return self.done_at is not None


def _first(session: Session, workspace: Workspace, key: str,
           *conditions: ColumnElement[bool]) -> Step:
    row = session.execute(select(AuditEvent.at, AuditEvent.client)
                          .where(AuditEvent.workspace_id == workspace.id, *conditions)
                          .order_by(AuditEvent.at).limit(1)).first()
    return Step(key, LABELS[key], row.at if row else None, row.client if row else None)


def checklist(session: Session, workspace: Workspace) -> list[Step]:
    """The steps in order, each with the time it was reached and the client kind that reached it
    (the same for every guide: any client's traffic counts)."""
    conditions: dict[str, tuple[Any, ...]] = {
        "test_connection": (AuditEvent.method == "GET", AuditEvent.path == SCIM_PREFIX + "/Users",
                            AuditEvent.status == 200),
        "user_created": (AuditEvent.method == "POST", AuditEvent.resource_type == "User",
                         AuditEvent.status == 201),
        "group_pushed": (AuditEvent.method == "POST", AuditEvent.resource_type == "Group",
                         AuditEvent.status == 201),
        "first_update": (AuditEvent.method.in_(("PUT", "PATCH")),
                         AuditEvent.resource_type.in_(("User", "Group")),
                         AuditEvent.status >= 200, AuditEvent.status < 300),
    }
    steps = [_first(session, workspace, key, *where) for key, where in conditions.items()]
    connection = session.scalar(select(SsoConnection).where(SsoConnection.workspace_id == workspace.id))
    if connection is not None:
        steps.append(Step("sso_test", LABELS["sso_test"], connection.tested_at))
    return steps
