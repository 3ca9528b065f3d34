"""The guided setup per identity provider (issue 17): choosing Entra turns on Entra
compatibility, the values to paste, the local-only warning, the token step shown once, and the
live checklist ticked by real SCIM traffic. A live server per module, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import html
import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from scimgate.services import workspaces
from scimgate.storage.db import transaction
from scimgate.storage.models import SetupLink, SsoConnection, utcnow
from tests.admin.client import AdminClient, signed_in
from tests.support import LiveServer, Tenant, make_tenant, start_server, stop_server

ENTRA = {"User-Agent": "Azure AD SCIM Client"}
OKTA = {"User-Agent": "Okta SCIM Client 1.0.0"}
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SETUP_TOKEN = re.compile(r'id="setup-token" type="text" readonly value="([^"]+)"')


@pytest.fixture
def admin(tenant: Tenant) -> Iterator[AdminClient]:
    client = signed_in(tenant)
    yield client
    client.close()


def _compatible(tenant: Tenant) -> bool:
    with transaction(tenant.server.sessions) as session:
        return workspaces.find_workspace(session, tenant.workspace_id).entra_replace_creates


def _ticks(admin: AdminClient, idp: str) -> dict[str, bool]:
    partial = admin.get(f"/admin/setup/{idp}/checklist")
    assert partial.status_code == 200
    return {key: done == "yes" for key, done in
            re.findall(r'data-testid="check-([a-z_]+)" data-done="(yes|no)"', partial.text)}


def test_choosing_entra_turns_on_entra_compatibility(admin: AdminClient, tenant: Tenant) -> None:
    """The choice page offers the four; choosing Okta changes no switch, choosing Entra turns on
    Entra compatibility; an unknown choice is the 404 page; a POST without CSRF token is 403."""
    choices = admin.get("/admin/setup").text
    for name in ("Microsoft Entra ID", "Okta", "Google Workspace", "Another SCIM client"):
        assert name in choices
    assert not _compatible(tenant)
    okta = admin.post("/admin/setup", {"idp": "okta"})
    assert okta.status_code == 303 and okta.headers["location"] == "/admin/setup/okta"
    assert not _compatible(tenant)
    assert admin.post("/admin/setup", {"idp": "entra"}, csrf=False).status_code == 403
    assert not _compatible(tenant)
    entra = admin.post("/admin/setup", {"idp": "entra"})
    assert entra.status_code == 303 and entra.headers["location"] == "/admin/setup/entra"
    assert _compatible(tenant)
    assert admin.post("/admin/setup", {"idp": "ping"}).status_code == 404
    assert admin.get("/admin/setup/ping").status_code == 404


def test_each_guide_gives_its_values_with_copy_buttons(admin: AdminClient, tenant: Tenant) -> None:
    base = tenant.server.base_url
    entra = html.unescape(admin.get("/admin/setup/entra").text)
    assert f'value="{base}?aadOptscim062020"' in entra and 'data-copy="tenant-url"' in entra
    assert "Entra compatibility is off" in entra  # reached without choosing: the page offers it
    okta = html.unescape(admin.get("/admin/setup/okta").text)
    assert f'value="{base}"' in okta and 'value="userName"' in okta and "HTTP Header" in okta
    for idp in ("google", "other"):
        assert f'value="{base}"' in admin.get(f"/admin/setup/{idp}").text


def test_a_loopback_http_base_url_is_warned_about(admin: AdminClient) -> None:
    """The test server's public URL is http://127.0.0.1:PORT: every guide warns, Entra's says https."""
    entra = admin.get("/admin/setup/entra").text
    assert 'data-testid="local-only"' in entra and "public <strong>https://</strong> address" in entra
    assert 'data-testid="local-only"' in admin.get("/admin/setup/okta").text


def test_a_public_https_base_url_is_not_warned_about(database_url: str, backend: str,
                                                     tmp_path: Path) -> None:
    server: LiveServer = start_server(database_url, tmp_path / "server.log", backend,
                                      env={"SCIMGATE_PUBLIC_URL": "https://scim.example.org"})
    try:
        client = signed_in(make_tenant(server))
        page = client.get("/admin/setup/entra").text
        assert 'value="https://scim.example.org/api/scim/v2?aadOptscim062020"' in page
        assert 'data-testid="local-only"' not in page
        client.close()
    finally:
        stop_server(server)


def test_the_token_step_shows_a_working_token_once(admin: AdminClient, tenant: Tenant) -> None:
    minted = admin.post("/admin/setup/okta/token")
    assert minted.status_code == 303 and minted.headers["location"] == "/admin/setup/okta#token"
    found = SETUP_TOKEN.search(admin.get("/admin/setup/okta").text)
    assert found
    assert tenant.get("/Users", headers={"Authorization": f"Bearer {found.group(1)}"}).status_code == 200
    again = admin.get("/admin/setup/okta").text
    assert SETUP_TOKEN.search(again) is None and found.group(1) not in again
    assert "already: a new one does not revoke them" in again


def _by(admin: AdminClient, idp: str) -> dict[str, str]:
    partial = html.unescape(admin.get(f"/admin/setup/{idp}/checklist").text)
    return dict(re.findall(r'data-testid="by-([a-z_]+)">by ([^<]+)<', partial))


def test_the_checklist_ticks_from_any_clients_traffic(admin: AdminClient, tenant: Tenant) -> None:
    """The README's curl examples (no identity provider's User-Agent) tick the steps on every
    guide, and Entra's guide says the ticks did not come from Entra; Entra's own traffic says
    Entra; once complete the checklist stops polling."""
    assert _ticks(admin, "entra") == dict.fromkeys(("test_connection", "user_created", "group_pushed",
                                                     "first_update"), False)
    curl = {"User-Agent": "curl/8.5.0"}
    assert tenant.get("/Users", params={"filter": 'userName eq "x"'}, headers=curl).status_code == 200
    assert tenant.post("/Users", json={"userName": "curl@example.com"}, headers=curl).status_code == 201
    for idp in ("entra", "okta", "google", "other"):
        assert _ticks(admin, idp) == {"test_connection": True, "user_created": True, "group_pushed": False,
                                      "first_update": False}
    assert _by(admin, "other")["user_created"] == "a SCIM client without an Entra or Okta User-Agent"
    entra_page = admin.get("/admin/setup/entra/checklist").text
    assert 'data-testid="not-idp-user_created"' in entra_page
    assert "did not come from Microsoft Entra ID" in entra_page
    assert 'data-testid="not-idp-' not in admin.get("/admin/setup/other/checklist").text
    ada = tenant.post("/Users", json={"userName": "ada@example.com"}, headers=ENTRA).json()
    tenant.post("/Groups", json={"displayName": "Engineering"}, headers=ENTRA)
    assert 'hx-trigger="every 5s"' in admin.get("/admin/setup/entra/checklist").text
    patched = tenant.patch(f"/Users/{ada['id']}", headers=OKTA, json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Ada Lovelace"}]})
    assert patched.status_code == 200
    assert all(_ticks(admin, "entra").values())
    by = _by(admin, "entra")
    assert by["group_pushed"] == "Entra" and by["first_update"] == "Okta"
    done = admin.get("/admin/setup/entra/checklist").text
    assert "hx-trigger" not in done and "Every step is done." in done
    assert 'data-testid="not-idp-group_pushed"' not in done and 'data-testid="not-idp-first_update"' in done


def test_failed_requests_tick_nothing(admin: AdminClient, tenant: Tenant) -> None:
    """A create refused (unverified domain) and a 404 update are not milestones."""
    tenant.post("/Users", json={"userName": "x@unverified.example"}, headers=ENTRA)
    tenant.patch("/Users/none", headers=ENTRA, json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "x"}]})
    assert not any(_ticks(admin, "entra").values())


def test_the_sso_step_follows_the_connections_test_sign_in(admin: AdminClient, tenant: Tenant) -> None:
    """No SSO connection: no SSO step. A connection: the step, ticked once tested_at is set."""
    assert "sso_test" not in _ticks(admin, "other")
    with transaction(tenant.server.sessions) as session:
        session.add(SsoConnection(id=str(uuid.uuid4()), workspace_id=tenant.workspace_id,
                                  idp_entity_id="https://idp.example/", idp_sso_url="https://idp.example/sso",
                                  metadata_xml="<md/>", certificate_not_after=utcnow()))
    assert _ticks(admin, "other")["sso_test"] is False
    with transaction(tenant.server.sessions) as session:
        connection = session.query(SsoConnection).filter_by(workspace_id=tenant.workspace_id).one()
        connection.tested_at = utcnow()
    assert _ticks(admin, "other")["sso_test"] is True


def test_the_checklist_keeps_to_the_workspace(admin: AdminClient, tenant: Tenant) -> None:
    other = make_tenant(tenant.server)
    other.get("/Users", headers=ENTRA)
    other.post("/Users", json={"userName": "someone@example.com"}, headers=ENTRA)
    assert not any(_ticks(admin, "entra").values())


# --- Setup links ------------------------------------------------------------------------------

SETUP_LINK = re.compile(r'id="setup-link" type="text" readonly value="([^"]+)"')


def _make_link(admin: AdminClient, idp: str = "okta", hours: str = "2") -> str:
    made = admin.post(f"/admin/setup/{idp}/links", {"hours": hours})
    assert made.status_code == 303 and made.headers["location"] == f"/admin/setup/{idp}#links"
    found = SETUP_LINK.search(admin.get(f"/admin/setup/{idp}").text)
    assert found
    return found.group(1)


def _colleague(tenant: Tenant) -> AdminClient:
    return AdminClient.open(tenant.server)


def test_a_setup_link_is_shown_once_and_stored_as_a_hash(admin: AdminClient, tenant: Tenant) -> None:
    link = _make_link(admin)
    assert link.startswith(tenant.server.url + "/admin/setup-link/sg_link_")
    secret = link.rsplit("/", 1)[1]
    again = admin.get("/admin/setup/okta").text
    assert SETUP_LINK.search(again) is None and secret not in again
    assert secret[:14] in again and "Revoke the setup link" in again  # listed by its prefix
    with transaction(tenant.server.sessions) as session:
        row = session.get(SetupLink, hashlib.sha256(secret.encode()).hexdigest())
        assert row is not None and row.idp == "okta" and row.workspace_id == tenant.workspace_id
        assert secret not in repr([getattr(row, c.name) for c in SetupLink.__table__.columns])


def test_a_colleague_sets_up_through_the_link_and_gets_nothing_else(admin: AdminClient,
                                                                   tenant: Tenant) -> None:
    """Without an account: the guide of the link's provider, its checklist and a working token,
    shown once; no navigation, and every other admin page still asks to sign in."""
    link = _make_link(admin, "okta")
    path = link[len(tenant.server.url):]
    colleague = _colleague(tenant)
    try:
        guide = colleague.get(path)
        assert guide.status_code == 200 and "Set up Okta" in guide.text
        assert tenant.workspace_name in guide.text
        assert 'href="/admin/members"' not in guide.text and "Make a setup link" not in guide.text
        assert colleague.get(path + "/checklist").status_code == 200
        assert colleague.post(path + "/token", csrf=False).status_code == 403
        token = colleague.http.post(path + "/token", data={"csrf_token": colleague.csrf(path)})
        assert token.status_code == 303 and token.headers["location"] == path + "#token"
        found = SETUP_TOKEN.search(colleague.get(path).text)
        assert found and SETUP_TOKEN.search(colleague.get(path).text) is None
        assert tenant.get("/Users", headers={"Authorization": f"Bearer {found.group(1)}"}).status_code == 200
        for other in ("/admin/security", "/admin/members", "/admin/log", "/admin/setup/okta",
                      "/admin/health"):
            assert colleague.get(other).headers.get("location") == "/admin/login", other
        switched = colleague.http.post("/admin/setup",
                                       data={"csrf_token": colleague.csrf(path), "idp": "entra"})
        assert switched.status_code == 303 and switched.headers["location"] == "/admin/login"
        assert not _compatible(tenant)
    finally:
        colleague.close()


def test_a_revoked_or_expired_link_opens_nothing(admin: AdminClient, tenant: Tenant) -> None:
    link = _make_link(admin)
    path = link[len(tenant.server.url):]
    colleague = _colleague(tenant)
    try:
        csrf = colleague.csrf(path)
        row_id = hashlib.sha256(path.rsplit("/", 1)[1].encode()).hexdigest()
        assert admin.post(f"/admin/setup/links/{row_id}/revoke", {"idp": "okta"}).status_code == 303
        gone = colleague.get(path)
        assert gone.status_code == 404 and "expired or was revoked" in gone.text
        assert colleague.http.post(path + "/token", data={"csrf_token": csrf}).status_code == 404
        assert admin.post(f"/admin/setup/links/{row_id}/revoke", {"idp": "okta"}).status_code == 404
        expiring = _make_link(admin)[len(tenant.server.url):]
        assert colleague.get(expiring).status_code == 200
        with transaction(tenant.server.sessions) as session:
            row = session.get(SetupLink, hashlib.sha256(expiring.rsplit("/", 1)[1].encode()).hexdigest())
            assert row is not None
            row.expires_at = utcnow() - timedelta(seconds=1)
        assert colleague.get(expiring).status_code == 404
        for guess in ("/admin/setup-link/sg_link_nope", "/admin/setup-link/anything"):
            assert colleague.get(guess).status_code == 404
    finally:
        colleague.close()


@pytest.mark.parametrize("hours", ["0", "337", "abc", "-1"])
def test_a_link_lasts_one_hour_to_two_weeks(admin: AdminClient, hours: str) -> None:
    assert admin.post("/admin/setup/okta/links", {"hours": hours}).status_code == 400


def test_another_workspaces_admin_cannot_revoke_the_link(admin: AdminClient, tenant: Tenant) -> None:
    link = _make_link(admin)
    row_id = hashlib.sha256(link.rsplit("/", 1)[1].encode()).hexdigest()
    stranger = signed_in(make_tenant(tenant.server))
    try:
        assert stranger.post(f"/admin/setup/links/{row_id}/revoke", {"idp": "okta"}).status_code == 404
    finally:
        stranger.close()
    assert httpx.get(link, timeout=30).status_code == 200


def test_the_link_secret_never_reaches_the_access_log(admin: AdminClient, tenant: Tenant) -> None:
    """The access log names the link's page with its secret redacted (``sg_`` segments)."""
    link = _make_link(admin)
    secret = link.rsplit("/", 1)[1]
    colleague = _colleague(tenant)
    try:
        assert colleague.get(link[len(tenant.server.url):]).status_code == 200
    finally:
        colleague.close()
    deadline = time.monotonic() + 10  # the server process writes its log line after answering
    redacted = "/admin/setup-link/<redacted>"
    while redacted not in tenant.server.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    written = tenant.server.log_path.read_text()
    assert redacted in written and secret not in written
