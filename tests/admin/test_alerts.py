"""Alerts mailed to a workspace's admins (issue 17): provisioning failing, Entra quiet, the SSO
certificate ending; at most one per condition per day; received by a real SMTP server on
loopback (aiosmtpd). Failures come from real SCIM traffic to a live server; ``scimgate alerts
run`` runs as cron would start it. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import Result
from typer.testing import CliRunner

from scimgate.alerts.run import run_alerts
from scimgate.cli import app as cli_app
from scimgate.config import Settings
from scimgate.storage.db import transaction
from scimgate.storage.models import AlertSent, AuditEvent, SsoConnection, utcnow
from tests.admin.client import make_admin
from tests.support import LiveServer, Tenant, admin_client, free_port, make_tenant

ENTRA = {"User-Agent": "Azure AD SCIM Client"}


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [message for rcpt, message in self.messages if address in rcpt]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def _run(server: LiveServer, port: int | None) -> Result:
    env = {"SCIMGATE_DATABASE_URL": server.database_url, "SCIMGATE_PUBLIC_URL": server.url,
           "SCIMGATE_SMTP_FROM": "alerts@scimgate.example"}
    if port is not None:
        env.update(SCIMGATE_SMTP_HOST="127.0.0.1", SCIMGATE_SMTP_PORT=str(port))
    return CliRunner().invoke(cli_app, ["alerts", "run"], env=env)


def _fail_provisioning(tenant: Tenant, count: int = 3) -> None:
    for i in range(count):
        name = f"u{i}-{uuid.uuid4().hex[:6]}@new-company.example"
        refused = tenant.post("/Users", json={"userName": name}, headers=ENTRA)
        assert refused.status_code == 400


def test_failing_provisioning_is_mailed_to_the_admins_once_a_day(smtp: tuple[Inbox, int],
                                                                tenant: Tenant) -> None:
    """Entra's creates refused for an unverified domain: every admin of the workspace gets one
    mail naming the fix; a second run sends nothing more; another workspace's admin gets none."""
    inbox, port = smtp
    first, second = make_admin(tenant), make_admin(tenant)
    other = make_tenant(tenant.server)
    stranger = make_admin(other)
    _fail_provisioning(tenant)
    done = _run(tenant.server, port)
    assert done.exit_code == 0, done.output
    mails = inbox.to(first)
    assert len(mails) == 1 and inbox.to(second) == mails
    mail = mails[0]
    assert mail["Subject"] == f"[scimgate] Entra provisioning is failing for {tenant.workspace_name}"
    assert mail["From"] == "alerts@scimgate.example"
    body = mail.get_payload()
    assert "3 of 3 provisioning requests from Entra" in body and "fix: verify new-company.example" in body
    assert f"{tenant.server.url}/admin/health" in body and tenant.token not in body
    assert "@new-company.example" not in body  # the request details (addresses) stay out
    assert inbox.to(stranger) == []
    again = _run(tenant.server, port)
    assert again.exit_code == 0 and "already sent today" in again.output
    assert len(inbox.to(first)) == 1
    with admin_client(tenant) as admin:  # and once as an event for the product (docs/events.md)
        alerts = admin.get("/events", params={"type": "workspace.alert"}).json()["data"]
    assert [e["data"]["subject"] for e in alerts] == [mail["Subject"]]
    assert alerts[0]["resource"] == {"type": "Workspace", "id": tenant.workspace_id}


def test_quiet_entra_and_an_ending_certificate_are_mailed(smtp: tuple[Inbox, int], tenant: Tenant) -> None:
    inbox, port = smtp
    admin = make_admin(tenant)
    with transaction(tenant.server.sessions) as session:
        session.add(AuditEvent(workspace_id=tenant.workspace_id, at=utcnow() - timedelta(minutes=81),
                               request_id="last", method="GET", path="/api/scim/v2/Users", status=200,
                               client="entra", duration_ms=1.0))
        session.add(SsoConnection(id=str(uuid.uuid4()), workspace_id=tenant.workspace_id,
                                  idp_entity_id="https://idp.example/", idp_sso_url="https://idp.example/sso",
                                  metadata_xml="<md/>", certificate_not_after=utcnow() + timedelta(days=5)))
    assert _run(tenant.server, port).exit_code == 0
    subjects = sorted(mail["Subject"] for mail in inbox.to(admin))
    assert len(subjects) == 2
    assert subjects[0] == f"[scimgate] Entra provisioning has gone quiet for {tenant.workspace_name}"
    ends = (utcnow() + timedelta(days=5)).strftime("%Y-%m-%d")
    assert subjects[1].startswith(f"[scimgate] The SSO certificate of {tenant.workspace_name} ends on {ends}")


def test_an_oidc_connection_has_no_certificate_to_end(smtp: tuple[Inbox, int], tenant: Tenant) -> None:
    """A workspace signing in over OIDC has no SAML signing certificate (no metadata, no end
    date): the run checks the others' conditions, mails nothing for it and does not fail."""
    inbox, port = smtp
    admin = make_admin(tenant)
    with transaction(tenant.server.sessions) as session:
        session.add(SsoConnection(id=str(uuid.uuid4()), workspace_id=tenant.workspace_id, kind="oidc",
                                  idp_entity_id="https://idp.example/", idp_sso_url="https://idp.example/authorize",
                                  oidc_client_id="scimgate", oidc_jwks_uri="https://idp.example/jwks"))
    assert _run(tenant.server, port).exit_code == 0
    assert inbox.to(admin) == []


def test_a_healthy_workspace_gets_no_mail(smtp: tuple[Inbox, int], tenant: Tenant) -> None:
    """Below the failure threshold of 20% (1 failure in 6), not quiet, no certificate: nothing."""
    inbox, port = smtp
    admin = make_admin(tenant)
    for i in range(5):
        created = tenant.post("/Users", json={"userName": f"ok{i}@example.com"}, headers=ENTRA)
        assert created.status_code == 201
    _fail_provisioning(tenant, 1)
    assert _run(tenant.server, port).exit_code == 0
    assert inbox.to(admin) == []


def test_an_unreachable_mail_server_fails_the_run_and_the_next_run_sends(smtp: tuple[Inbox, int],
                                                                       tenant: Tenant) -> None:
    """SMTP down: exit 1, no alert recorded; the next run (server up) mails it."""
    inbox, port = smtp
    admin = make_admin(tenant)
    _fail_provisioning(tenant)
    down = _run(tenant.server, free_port())
    assert down.exit_code == 1 and "Could not mail" in down.output
    with transaction(tenant.server.sessions) as session:
        assert session.query(AlertSent).filter_by(workspace_id=tenant.workspace_id).count() == 0
    assert _run(tenant.server, port).exit_code == 0
    assert len(inbox.to(admin)) == 1


def test_without_an_smtp_host_the_run_says_so(tenant: Tenant) -> None:
    done = _run(tenant.server, None)
    assert done.exit_code == 1 and "SCIMGATE_SMTP_HOST is not set" in done.output


def test_parallel_runs_mail_an_alert_once(smtp: tuple[Inbox, int], tenant: Tenant) -> None:
    """Four runs at once (cron overlapping itself): the unique claim lets one mail out."""
    inbox, port = smtp
    admin = make_admin(tenant)
    _fail_provisioning(tenant)
    settings = Settings(database_url=tenant.server.database_url, public_url=tenant.server.url,
                        smtp_host="127.0.0.1", smtp_port=port)
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: run_alerts(tenant.server.sessions, settings), range(4)))
    assert sum(len(r.sent) for r in reports) == 1 and len(inbox.to(admin)) == 1
