"""Connection health per SCIM client (Entra, Okta, other), from the provisioning log.

For each client kind (services.audit.guess_client): the last request, the requests and failures
of the last ``WINDOW`` and the top refusal reasons, each with the fix an admin can apply. Every
figure is an SQL aggregate over ix_audit_event_workspace_client_at_status (workspace, client,
at, status): a seek for the last request, an index range for the counts; the reasons group the
window's failures in SQL and only the ``REASON_GROUPS`` largest groups are read.

States, in this order:

- ``never``: no request from this client kind was ever logged;
- ``quiet``: Entra only, no request for ``QUIET_AFTER`` (two of Entra's 40-minute provisioning
  cycles, docs/identity-providers.md §6: Entra polls on that cycle, so silence past two means the
  job stopped or cannot reach us). Okta and others push on change: silence is normal for them;
- ``failing``: at least ``FAILING_MIN_REQUESTS`` requests in the window and a failure rate of
  ``FAILING_RATE`` or more;
- ``healthy``: anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from scimgate.services.audit_log import CLIENTS
from scimgate.storage.models import AuditEvent, Workspace, utcnow

WINDOW = timedelta(hours=24)
ENTRA_CYCLE = timedelta(minutes=40)
QUIET_AFTER = 2 * ENTRA_CYCLE
FAILING_RATE = 0.2
FAILING_MIN_REQUESTS = 3
REASON_GROUPS = 20
TOP_REASONS = 3
_UNVERIFIED = re.compile(r"The email domain (\S+) is not a verified domain")


@dataclass(frozen=True)
class Fix:
    """What resolves a refusal: a sentence, and the switch the admin pages can turn on for it
    (``user``, ``group``, ``entra``: admin /security/sync) or None."""

    text: str
    switch: str | None = None


@dataclass
class Reason:
    """One kind of refusal in the window: how many, an example status/scimType/detail, the fix."""

    count: int
    status: int
    scim_type: str | None
    detail: str | None
    fix: Fix | None


@dataclass
class ClientHealth:
    """One client kind's health over ``WINDOW`` ending at ``now``."""

    client: str
    state: str
    last_request: datetime | None
    requests: int
    failures: int
    reasons: list[Reason] = field(default_factory=list)

    @property
    def error_rate(self) -> float:
        """Failures / requests in the window (0.0 without requests)."""
        return self.failures / self.requests if self.requests else 0.0


def fix_for(workspace: Workspace, status: int, scim_type: str | None, detail: str | None) -> Fix | None:
    """The fix of a refusal, from its status, scimType and detail (the details scimgate itself
    writes: services.domains, http.deps, http.group_routes, scim.patch); None when none is known."""
    text = detail or ""
    found = _UNVERIFIED.search(text)
    if found:
        return Fix(f"verify {found.group(1)} (Security settings, Allowed email domains)")
    if status == 403 and "SCIM user sync" in text:
        return Fix("turn on SCIM user sync", "user")
    if status == 403 and "Group sync" in text:
        return Fix("turn on group sync", "group")
    if scim_type == "noTarget" and not workspace.entra_replace_creates:
        return Fix("turn on Entra compatibility (PATCH replace creates)", "entra")
    if scim_type == "uniqueness":
        return Fix("the user or group already exists here: match it in the identity provider "
                   "(by userName or displayName) instead of creating it again")
    if status == 429:
        return Fix("the client sends more than the rate limit allows; it retries after Retry-After")
    return None


def _reasons(session: Session, workspace: Workspace, client: str, since: datetime) -> list[Reason]:
    rows = session.execute(
        select(AuditEvent.status, AuditEvent.scim_type, AuditEvent.detail, func.count().label("n"))
        .where(AuditEvent.workspace_id == workspace.id, AuditEvent.client == client,
               AuditEvent.at >= since, AuditEvent.status >= 400)
        .group_by(AuditEvent.status, AuditEvent.scim_type, AuditEvent.detail)
        .order_by(func.count().desc()).limit(REASON_GROUPS)
    ).all()
    merged: dict[tuple[object, ...], Reason] = {}
    for status, scim_type, detail, count in rows:
        fix = fix_for(workspace, status, scim_type, detail)
        key = (fix.text,) if fix else (status, scim_type)  # "User x not found" x many: one reason
        if key in merged:
            merged[key].count += count
        else:
            merged[key] = Reason(count, status, scim_type, detail, fix)
    return sorted(merged.values(), key=lambda r: -r.count)[:TOP_REASONS]


def client_health(session: Session, workspace: Workspace, client: str,
                  now: datetime | None = None) -> ClientHealth:
    """The health of ``client`` (one of ``CLIENTS``) in ``workspace`` at ``now`` (default: now)."""
    now = now or utcnow()
    since = now - WINDOW
    mine = (AuditEvent.workspace_id == workspace.id, AuditEvent.client == client)
    last = session.scalar(select(func.max(AuditEvent.at)).where(*mine))
    requests, failures = session.execute(
        select(func.count(), func.coalesce(func.sum(case((AuditEvent.status >= 400, 1), else_=0)), 0))
        .where(*mine, AuditEvent.at >= since)
    ).one()
    if last is None:
        state = "never"
    elif client == "entra" and now - last > QUIET_AFTER:
        state = "quiet"
    elif requests >= FAILING_MIN_REQUESTS and failures / requests >= FAILING_RATE:
        state = "failing"
    else:
        state = "healthy"
    reasons = _reasons(session, workspace, client, since) if failures else []
    return ClientHealth(client, state, last, int(requests), int(failures), reasons)


def workspace_health(session: Session, workspace: Workspace,
                     now: datetime | None = None) -> list[ClientHealth]:
    """:func:`client_health` of every client kind, Entra, Okta, other."""
    return [client_health(session, workspace, client, now) for client in CLIENTS]
