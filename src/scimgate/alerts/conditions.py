"""What is wrong in a workspace right now, as alerts worth mailing to its admins.

- ``failing:<client>``: over the last 24 hours at least ``health.FAILING_MIN_REQUESTS`` requests
  from that client kind, of which ``error_rate`` or more failed (services.health); the mail
  lists the top refusals with their fix;
- ``quiet:entra``: Entra sent nothing for two of its 40-minute cycles (services.health);
- ``certificate:<date>``: the SSO connection's IdP signing certificate ends within
  ``CERTIFICATE_WARNING`` (or has ended): sign-in stops when it does.

SCIM bearer tokens have no expiry in scimgate (an admin revokes them), so none is warned about.
A mail holds counts, fixes and links, never a token, a password or a request's detail (which
may quote a person's address).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from scimgate.services import health
from scimgate.services.audit_sentence import client_name
from scimgate.storage.models import SsoConnection, Workspace, utcnow

CERTIFICATE_WARNING = timedelta(days=14)


@dataclass(frozen=True)
class Alert:
    """One alert: its condition key (unique per workspace and period), subject and plain-text body."""

    condition: str
    subject: str
    body: str


def _failing(workspace: Workspace, found: health.ClientHealth, admin_url: str) -> Alert:
    who = client_name(found.client).replace("A SCIM client", "Other SCIM clients")
    lines = [f"{found.failures} of {found.requests} provisioning requests from {who} to the workspace "
             f"{workspace.name} failed in the last 24 hours ({found.error_rate:.0%}).", ""]
    for reason in found.reasons:
        answer = f"{reason.status} {reason.scim_type}" if reason.scim_type else str(reason.status)
        lines.append(f"- {reason.count} x {answer}" + f": fix: {reason.fix.text}")
    lines += ["", f"Connection health: {admin_url}/health", f"Provisioning log: {admin_url}/log?failures=1"]
    return Alert(f"failing:{found.client}", f"[scimgate] {who} provisioning is failing for {workspace.name}",
                 "\n".join(lines) + "\n")


def _quiet(workspace: Workspace, found: health.ClientHealth, admin_url: str) -> Alert:
    minutes = int(health.QUIET_AFTER.total_seconds() // 60)
    last = found.last_request.strftime("%Y-%m-%d %H:%M UTC") if found.last_request else "never"
    body = (f"Microsoft Entra ID sent no provisioning request to the workspace {workspace.name} for over "
            f"{minutes} minutes (two of its 40-minute cycles); its last request was at {last}.\n\n"
            "Check in the Entra admin center that the provisioning job is running and not in quarantine.\n\n"
            f"Connection health: {admin_url}/health\n")
    return Alert("quiet:entra", f"[scimgate] Entra provisioning has gone quiet for {workspace.name}", body)


def _certificate(workspace: Workspace, ends: datetime, now: datetime, admin_url: str) -> Alert:
    when = "has ended" if ends <= now else f"ends on {ends.strftime('%Y-%m-%d %H:%M UTC')}"
    body = (f"The signing certificate of the identity provider for single sign-on to {workspace.name} "
            f"{when}. Members cannot sign in once it has ended: upload the identity provider's "
            "new metadata.\n\n"
            f"Security settings: {admin_url}/security\n")
    return Alert(f"certificate:{ends.strftime('%Y%m%d')}",
                 f"[scimgate] The SSO certificate of {workspace.name} {when}", body)


def due_alerts(session: Session, workspace: Workspace, *, error_rate: float, admin_url: str,
               now: datetime | None = None) -> list[Alert]:
    """Every alert condition that holds for ``workspace`` at ``now``; ``error_rate`` (0 to 1) is
    the failure rate from which a client counts as failing; ``admin_url`` the admin pages' URL
    the mails link to."""
    now = now or utcnow()
    alerts: list[Alert] = []
    for found in health.workspace_health(session, workspace, now):
        if found.requests >= health.FAILING_MIN_REQUESTS and found.error_rate >= error_rate:
            alerts.append(_failing(workspace, found, admin_url))
        if found.state == "quiet":
            alerts.append(_quiet(workspace, found, admin_url))
    connection = session.scalar(select(SsoConnection).where(SsoConnection.workspace_id == workspace.id))
    ends = connection.certificate_not_after if connection is not None else None
    if ends is not None and ends - now <= CERTIFICATE_WARNING:  # None: OIDC, no signing certificate
        alerts.append(_certificate(workspace, ends, now, admin_url))
    return alerts
