"""Connection health per SCIM client (Entra, Okta, other), from the provisioning log.

For each client kind (services.audit.guess_client): the last request, the requests and failures
of the last ``WINDOW``, the 401s among them (a wrong token, the most common setup fault: http.deps
records those of tokens the workspace issued) and the top refusal reasons, each with the fix an
admin can apply (every reason has one: ``fix_for``). Every
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
    fix: Fix


@dataclass
class ClientHealth:
    """One client kind's health over ``WINDOW`` ending at ``now``."""

    client: str
    state: str
    last_request: datetime | None
    requests: int
    failures: int
    unauthorized: int = 0
    """401s in the window: a revoked or mistyped token the workspace issued (http.deps)."""
    reasons: list[Reason] = field(default_factory=list)

    @property
    def error_rate(self) -> float:
        """Failures / requests in the window (0.0 without requests)."""
        return self.failures / self.requests if self.requests else 0.0


FIX_BY_SCIM_TYPE = {  # RFC 7644 §3.12's scimType values, each with what resolves it
    "invalidFilter": "the client sends a filter scimgate does not answer: match users on userName, "
                     "externalId or emails.value and groups on displayName or externalId (operator eq) "
                     "in the identity provider's attribute mappings",
    "tooMany": "the filter matches more resources than one answer holds: narrow the filter",
    "uniqueness": "the user or group already exists here: match it in the identity provider "
                  "(by userName or displayName) instead of creating it again",
    "mutability": "the client tries to change a read-only attribute (id, meta, groups): remove that "
                  "attribute's mapping in the identity provider",
    "invalidSyntax": "the request body is not the SCIM JSON it should be: check the client's custom "
                     "attribute mappings and expressions (the detail says what was wrong)",
    "invalidPath": "a PATCH path names an attribute scimgate does not hold: correct or remove that "
                   "attribute's mapping in the identity provider",
    "noTarget": "a PATCH path selects nothing on that resource: check that attribute's mapping",
    "invalidValue": "an attribute has a value of the wrong type or shape (the detail names it): fix "
                    "that attribute's mapping or expression in the identity provider",
    "invalidVers": "the resource changed since the client read it (its ETag no longer matches): the "
                   "client reads it again and retries",
    "sensitive": "the request puts sensitive data in the URL: send it in the body instead",
}
FIX_BY_STATUS = {
    401: "the identity provider sends a revoked or mistyped SCIM bearer token: paste the current "
         "token into it (Security settings; generate a new one if nobody has it)",
    403: "the request is not allowed in this workspace: the detail says which setting refuses it",
    404: "the client refers to a user or group that is not here (deleted, or never created): let the "
         "identity provider create it again, or restore it from Recently removed",
    405: "the client uses a method this endpoint does not answer: check its SCIM base URL (no "
         "extra path after /api/scim/v2)",
    409: "concurrent requests on the same resources collided: the client retries",
    412: "the resource changed since the client read it (its ETag no longer matches): the client "
         "reads it again and retries",
    413: "the request is larger than scimgate accepts: the client sends smaller batches",
    415: "the client sends a body that is not JSON: it must send Content-Type application/scim+json",
    429: "the client sends more than the rate limit allows; it retries after Retry-After",
    500: "a fault on scimgate's side: the server log has the request id of each such answer",
    501: "the client uses a SCIM feature scimgate does not offer (see /ServiceProviderConfig): "
         "turn that feature off in the client",
}
FIX_OTHERWISE = "see the detail; the provisioning log lists each such request with its answer"


def fix_for(workspace: Workspace, status: int, scim_type: str | None, detail: str | None) -> Fix:
    """The fix of a refusal, from its status, scimType and detail (the details scimgate itself
    writes: services.domains, http.deps, http.group_routes, scim.patch), then its scimType
    (RFC 7644 §3.12), then its status; ``FIX_OTHERWISE`` when none of those is known, so every
    refusal shown has a fix sentence."""
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
    if scim_type in FIX_BY_SCIM_TYPE:
        return Fix(FIX_BY_SCIM_TYPE[scim_type])
    return Fix(FIX_BY_STATUS.get(status, FIX_OTHERWISE))


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
        key = (status, scim_type, fix.text)  # "User x not found" x many: one reason
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
    requests, failures, unauthorized = session.execute(
        select(func.count(), func.coalesce(func.sum(case((AuditEvent.status >= 400, 1), else_=0)), 0),
               func.coalesce(func.sum(case((AuditEvent.status == 401, 1), else_=0)), 0))
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
    return ClientHealth(client, state, last, int(requests), int(failures), int(unauthorized), reasons)


def workspace_health(session: Session, workspace: Workspace,
                     now: datetime | None = None) -> list[ClientHealth]:
    """:func:`client_health` of every client kind, Entra, Okta, other."""
    return [client_health(session, workspace, client, now) for client in CLIENTS]
