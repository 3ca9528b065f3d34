"""The admin side of SAML over HTTP (issue 18): the Single sign-on card, metadata given by upload
or paste and refused with a reason next to the field, certificate expiry and roll-over, the test
sign-in (no session, nothing bound), and "Require SSO" refused until its prerequisites are met,
on the page, the CLI and the admin API. Both databases."""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select, update

from scimgate.sso.metadata import stored_certificates, with_signing_certificates
from scimgate.storage.db import transaction
from scimgate.storage.models import EmailDomain, SsoBinding, SsoConnection
from tests.admin.client import AdminClient, signed_in
from tests.sso.support import SsoTenant, browser, cli, me, post_acs, sign_in, sso_tenant
from tests.sso_idp import TestIdp, TestUser
from tests.support import LiveServer, Tenant, admin_client, make_tenant

Setup = tuple[Tenant, AdminClient, TestIdp, str]


@pytest.fixture
def setup(live_server: LiveServer) -> Iterator[Setup]:
    """A tenant with a verified domain, no SAML yet, an admin signed in, and an IdP."""
    domain = f"{uuid.uuid4().hex[:10]}.example"
    tenant = make_tenant(live_server, domains=(domain,))
    admin = signed_in(tenant)
    yield tenant, admin, TestIdp(f"https://idp-{uuid.uuid4().hex[:8]}.test/"), domain
    admin.close()


def upload(admin: AdminClient, xml: str, *, pasted: bool = False) -> httpx.Response:
    """Post the metadata form, as a file upload or pasted into the text area."""
    form = {"csrf_token": admin.csrf(), "lookup": "userName", "metadata_xml": xml if pasted else ""}
    files = {"metadata_file": ("", b"", "application/octet-stream")} if pasted else {
        "metadata_file": ("idp.xml", xml.encode(), "application/xml")}
    return admin.http.post("/admin/security/sso/metadata", data=form, files=files)


def connect(setup: Setup) -> SsoTenant:
    """Configure SAML through the card and let the IdP learn the SP from the downloaded metadata."""
    tenant, admin, idp, domain = setup
    assert upload(admin, idp.metadata_xml).status_code == 303
    entity_id = f"{tenant.server.url}/sso/saml/{tenant.workspace_id}/metadata"
    idp.trust_sp(httpx.get(entity_id).text)
    acs_url = f"{tenant.server.url}/sso/saml/{tenant.workspace_id}/acs"
    return SsoTenant(tenant, idp, domain, entity_id, acs_url)


def card(admin: AdminClient) -> str:
    page = admin.get("/admin/security")
    assert page.status_code == 200
    found = re.search(r'<section class="card" id="sso".*?</section>', page.text, re.S)
    assert found, "no Single sign-on card"
    return html.unescape(found.group(0))


def field_error(body: str, field: str) -> str:
    found = re.search(rf'<p id="{field}-error" class="error field-help" role="alert">(.*?)</p>', body, re.S)
    assert found, f"no error next to {field}"
    return html.unescape(found.group(1))


def test_card_shows_what_to_paste_per_provider(setup: Setup) -> None:
    """Entra's, Okta's and Google's field names with copy buttons; SP metadata downloadable first."""
    tenant, admin, _, _ = setup
    body = card(admin)
    entity_id = f"{tenant.server.url}/sso/saml/{tenant.workspace_id}/metadata"
    acs_url = f"{tenant.server.url}/sso/saml/{tenant.workspace_id}/acs"
    for label, value in [
        ("Microsoft Entra ID: Identifier (Entity ID)", entity_id),
        ("Microsoft Entra ID: Reply URL (Assertion Consumer Service URL)", acs_url),
        ("Microsoft Entra ID: Sign on URL", f"{tenant.server.url}/login"),
        ("Okta: Single sign-on URL", acs_url),
        ("Okta: Audience URI (SP Entity ID)", entity_id),
        ("Google Workspace: ACS URL", acs_url),
        ("Google Workspace: Entity ID", entity_id),
    ]:
        found = re.search(rf'<label for="([^"]+)">{re.escape(label)}</label>', body)
        assert found, label
        assert f'id="{found.group(1)}" type="text" readonly value="{value}"' in body
        assert f'data-copy="{found.group(1)}"' in body
    download = httpx.get(entity_id + "?download=1")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert f'entityID="{entity_id}"' in download.text and acs_url in download.text
    assert httpx.get(f"{tenant.server.url}/sso/saml/{uuid.uuid4()}/metadata").status_code == 404


@pytest.mark.parametrize("pasted", [False, True])
def test_metadata_by_upload_or_paste(setup: Setup, pasted: bool) -> None:
    """Either way the connection is saved and the card shows the IdP and its certificate expiry."""
    tenant, admin, idp, _ = setup
    response = upload(admin, idp.metadata_xml, pasted=pasted)
    assert response.status_code == 303, response.text
    body = card(admin)
    assert idp.entity_id in body and "Trusted signing certificates" in body
    not_after = x509.load_pem_x509_certificate(idp.cert_file.read_bytes()).not_valid_after_utc
    assert not_after.strftime("%Y-%m-%d") in body and "sso-expiry-warning" not in body
    assert admin_client(tenant).get("/sso").json()["idp"]["entity_id"] == idp.entity_id


def sp_metadata_of(tenant: Tenant) -> str:
    return httpx.get(f"{tenant.server.url}/sso/saml/{tenant.workspace_id}/metadata").text


@pytest.mark.parametrize("case", ["not-xml", "no-certificate", "expired", "service-provider"])
def test_bad_metadata_is_refused_next_to_the_field(setup: Setup,
                                                   tmp_path: Path, case: str) -> None:
    """Not XML, no signing certificate, only an expired certificate, an SP's metadata: 400 with
    the reason next to the field, and nothing saved."""
    tenant, admin, idp, _ = setup
    if case == "not-xml":
        xml, reason = "this is not xml", "This is not XML"
    elif case == "no-certificate":
        xml = re.sub(r"<(\w+:)?KeyDescriptor.*?</(\w+:)?KeyDescriptor>", "", idp.metadata_xml, flags=re.S)
        reason = "no signing certificate"
    elif case == "expired":
        xml, reason = TestIdp(idp.entity_id, days=1, folder=tmp_path).metadata_xml, "expired"  # ends now
    else:
        xml, reason = sp_metadata_of(tenant), "is not an identity provider"
    response = upload(admin, xml, pasted=True)
    assert response.status_code == 400
    assert reason in field_error(response.text, "sso-metadata")
    assert 'id="sso-metadata"' in response.text and 'aria-invalid="true"' in response.text
    assert "Not connected yet." in card(admin)


def test_certificate_expiring_within_30_days_is_warned(setup: Setup,
                                                       tmp_path: Path) -> None:
    tenant, admin, idp, _ = setup
    soon = TestIdp(idp.entity_id, days=20, folder=tmp_path)
    assert upload(admin, soon.metadata_xml).status_code == 303
    body = card(admin)
    assert "sso-expiry-warning" in body and "Create the new certificate" in body
    assert re.search(r"in 1[89] days", body)


def pem_of(idp: TestIdp) -> str:
    return idp.cert_file.read_text()


def fingerprint(idp: TestIdp) -> str:
    der = x509.load_pem_x509_certificate(idp.cert_file.read_bytes()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def test_second_certificate_rolls_over(setup: Setup) -> None:
    """A second certificate is trusted next to the first; after the old one is removed, responses
    signed with the old key are refused and the new key's are accepted; the last one stays."""
    sso = connect(setup)
    _, admin, old, _ = setup
    new = old.forger()  # same entity ID, its own key: the IdP's next certificate
    email = f"ada@{sso.domain}"
    sso.tenant.create_user(email)
    user = TestUser(email, str(uuid.uuid4()))
    rolled = SsoTenant(sso.tenant, new, sso.domain, sso.entity_id, sso.acs_url)
    assert sign_in(rolled, browser(), user).status_code == 403  # not trusted yet
    bad = admin.post("/admin/security/sso/certificates", {"certificate": "not a certificate"})
    assert bad.status_code == 400 and "not an X.509 certificate" in field_error(bad.text, "sso-certificate")
    added = admin.http.post("/admin/security/sso/certificates",
                            data={"csrf_token": admin.csrf(), "certificate": ""},
                            files={"certificate_file": ("new.pem", pem_of(new).encode(), "text/plain")})
    assert added.status_code == 303, added.text
    again = admin.post("/admin/security/sso/certificates", {"certificate": pem_of(new)})
    assert again.status_code == 400 and "already trusted" in again.text
    assert sign_in(sso, browser(), user).status_code == 303  # old key still trusted
    assert sign_in(rolled, browser(), user).status_code == 303  # new key trusted too
    assert len(admin_client(sso.tenant).get("/sso").json()["certificates"]) == 2
    path = f"/admin/security/sso/certificates/{fingerprint(old)}/remove"
    asked = admin.post(path)
    assert asked.status_code == 200 and "Stop trusting the certificate" in asked.text
    assert admin.post(path, {"confirm": "yes"}).status_code == 303
    assert sign_in(sso, browser(), user).status_code == 403  # old key no longer trusted
    assert sign_in(rolled, browser(), user).status_code == 303
    last = admin.post(f"/admin/security/sso/certificates/{fingerprint(new)}/remove", {"confirm": "yes"})
    assert last.status_code == 409 and "last valid signing certificate" in html.unescape(last.text)
    assert admin.post(f"/admin/security/sso/certificates/{'0' * 64}/remove").status_code == 404


def bindings(tenant: Tenant) -> int:
    with transaction(tenant.server.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(SsoBinding)
                                  .where(SsoBinding.workspace_id == tenant.workspace_id)) or 0)


def start_test(sso: SsoTenant, admin: AdminClient) -> str:
    """Press "Start a test sign-in": a page linking to the IdP (a same-origin page: the admin
    CSP's form-action forbids a cross-origin redirect); the request id the IdP reads."""
    response = admin.post("/admin/security/sso/test")
    assert response.status_code == 200, response.text
    found = re.search(r'id="sso-test-go" href="([^"]+)"', response.text)
    assert found, response.text
    location = html.unescape(found.group(1))
    assert location.startswith(sso.idp.sso_url)
    return sso.idp.read_request(location)[0]


def test_test_sign_in_shows_the_match_and_starts_nothing(setup: Setup) -> None:
    """The outcome page names the member and the attributes; no cookie, no session, no binding;
    the success time is recorded; a real sign-in afterwards binds as usual."""
    sso = connect(setup)
    _, admin, _, _ = setup
    email = f"ada@{sso.domain}"
    created = sso.tenant.create_user(email)
    assert "No successful test sign-in yet." in card(admin)
    user = TestUser(email, str(uuid.uuid4()))
    request_id = start_test(sso, admin)
    client = browser()
    answer = sso.idp.response(user, sp_entity_id=sso.entity_id, acs_url=sso.acs_url,
                              in_response_to=request_id)
    result = post_acs(sso, client, answer)
    assert result.status_code == 200, result.text
    text = html.unescape(result.text)
    assert "Test sign-in succeeded" in text and created["id"] in text and email in text
    assert "http://schemas.microsoft.com/identity/claims/objectidentifier" in text and user.object_id in text
    assert "A first sign-in binds this identity to the member." in text
    assert "set-cookie" not in result.headers and me(sso, client).status_code == 401
    assert bindings(sso.tenant) == 0
    assert "Last successful test sign-in" in card(admin)
    assert admin_client(sso.tenant).get("/sso").json()["tested_at"] is not None
    assert post_acs(sso, client, answer).status_code == 403  # a test response is single-use too
    assert sign_in(sso, browser(), user).status_code == 303 and bindings(sso.tenant) == 1


def test_test_sign_in_reports_problems(setup: Setup) -> None:
    """An unprovisioned person, a deactivated member and a forged signature: the problem is shown
    to the admin, and no success is recorded."""
    sso = connect(setup)
    _, admin, _, _ = setup
    sso.tenant.create_user(f"gone@{sso.domain}", active=False)
    for user, idp, expected in [
        (TestUser(f"nobody@{sso.domain}", str(uuid.uuid4())), sso.idp, "no provisioned member matches"),
        (TestUser(f"gone@{sso.domain}", str(uuid.uuid4())), sso.idp, "deactivated"),
        (TestUser(f"gone@{sso.domain}", str(uuid.uuid4())), sso.idp.forger(), "failed its checks"),
    ]:
        request_id = start_test(sso, admin)
        answer = idp.response(user, sp_entity_id=sso.entity_id, acs_url=sso.acs_url,
                              in_response_to=request_id)
        result = post_acs(sso, browser(), answer)
        assert result.status_code == 403, result.text
        text = html.unescape(result.text)
        assert "Test sign-in found a problem" in text and expected in text
        assert "set-cookie" not in result.headers
    assert bindings(sso.tenant) == 0
    assert "No successful test sign-in yet." in card(admin)


def required(admin: AdminClient, state: str) -> httpx.Response:
    return admin.post("/admin/security/sso/required", {"active": state})


def test_require_sso_needs_a_verified_domain_and_a_test(live_server: LiveServer) -> None:
    """Refused without a connection, without a verified domain, before a successful test sign-in:
    on the page (409, the reason by the switch), the admin API (409 conflict) and the CLI."""
    domain = f"{uuid.uuid4().hex[:10]}.example"
    tenant = make_tenant(live_server, domains=(domain,))
    api = admin_client(tenant)
    with transaction(tenant.server.sessions) as session:  # the domain not verified yet
        session.execute(update(EmailDomain).where(EmailDomain.workspace_id == tenant.workspace_id)
                        .values(verified_at=None, verified_by=None))
    admin = signed_in(tenant)
    refused = required(admin, "on")
    assert refused.status_code == 409 and "Configure single sign-on first" in html.unescape(refused.text)
    assert api.put("/sso/required", json={"required": True}).status_code == 404
    idp = TestIdp(f"https://idp-{uuid.uuid4().hex[:8]}.test/")
    sso = connect((tenant, admin, idp, domain))
    refused = required(admin, "on")
    assert refused.status_code == 409 and "Verify an email domain first" in html.unescape(refused.text)
    body = api.put("/sso/required", json={"required": True})
    assert body.status_code == 409 and body.json()["error"]["code"] == "conflict"
    assert "Verify an email domain first" in body.json()["error"]["detail"]
    with transaction(tenant.server.sessions) as session:
        session.execute(update(EmailDomain).where(EmailDomain.workspace_id == tenant.workspace_id)
                        .values(verified_at=func.now(), verified_by="operator"))
    refused = required(admin, "on")
    assert refused.status_code == 409 and "Run a test sign-in first" in html.unescape(refused.text)
    detail = api.put("/sso/required", json={"required": True}).json()["error"]["detail"]
    assert "Run a test sign-in first" in detail
    result = cli(live_server, "sso", "require", tenant.workspace_id, "on")
    assert result.exit_code == 1 and "test sign-in" in result.output
    assert 'data-testid="sso-required-state">Off' in card(admin)
    email = f"ada@{domain}"
    tenant.create_user(email)
    request_id = start_test(sso, admin)
    answer = idp.response(TestUser(email, str(uuid.uuid4())), sp_entity_id=sso.entity_id, acs_url=sso.acs_url,
                          in_response_to=request_id)
    assert post_acs(sso, browser(), answer).status_code == 200
    assert required(admin, "on").status_code == 303
    assert 'data-testid="sso-required-state">On' in card(admin)
    assert api.get("/sso").json()["required"] is True
    assert api.put("/sso/required", json={"required": False}).json()["required"] is False
    assert cli(live_server, "sso", "require", tenant.workspace_id, "on").exit_code == 0
    with transaction(tenant.server.sessions) as session:
        connection = session.scalar(select(SsoConnection)
                                    .where(SsoConnection.workspace_id == tenant.workspace_id))
        assert connection is not None and connection.required
    admin.close()


def test_local_admins_are_shown_as_break_glass(setup: Setup) -> None:
    tenant, admin, _, _ = setup
    body = card(admin)
    listed = re.search(r'<ul id="sso-break-glass">(.*?)</ul>', body, re.S)
    assert listed and "break-glass" in listed.group(1) and "@example.com" in listed.group(1)


def test_sso_forms_need_csrf_and_a_session(setup: Setup) -> None:
    tenant, admin, idp, _ = setup
    assert admin.post("/admin/security/sso/test", csrf=False).status_code == 403
    anonymous = AdminClient.open(tenant.server)
    response = anonymous.http.post("/admin/security/sso/metadata",
                                   data={"csrf_token": anonymous.csrf("/admin/login"),
                                         "metadata_xml": idp.metadata_xml})
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert "Not connected yet." in card(admin)


def test_admin_api_configures_saml(setup: Setup) -> None:
    """PUT /api/admin/v1/sso/saml: bad metadata 400 with the reason (the admin API's JSON), good
    metadata 200 with the connection; another workspace's key sees its own (none: 404)."""
    tenant, _, idp, _ = setup
    api = admin_client(tenant)
    refused = api.put("/sso/saml", json={"metadata_xml": sp_metadata_of(tenant)})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid"
    assert "is not an identity provider" in refused.json()["error"]["detail"]
    assert api.get("/sso").status_code == 404
    saved = api.put("/sso/saml", json={"metadata_xml": idp.metadata_xml, "lookup": "externalId"})
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["idp"]["entity_id"] == idp.entity_id and body["lookup"] == "externalId"
    assert body["sp"]["acs_url"] == f"{tenant.server.url}/sso/saml/{tenant.workspace_id}/acs"
    assert body["tested_at"] is None and body["required"] is False
    other = admin_client(make_tenant(tenant.server, domains=()))
    assert other.get("/sso").status_code == 404


def test_an_expired_certificate_signs_nothing(setup: Setup, tmp_path: Path) -> None:
    """A certificate left in the metadata after it expired is not trusted: its signatures are
    refused while the valid one's are accepted; with only expired ones every sign-in is refused,
    the test sign-in says why and the card warns."""
    sso = connect(setup)
    _, admin, idp, _ = setup
    expired = TestIdp(idp.entity_id, days=1, folder=tmp_path)  # its certificate ends now
    expired.trust_sp(sp_metadata_of(sso.tenant))
    email = f"ada@{sso.domain}"
    sso.tenant.create_user(email)
    user = TestUser(email, str(uuid.uuid4()))

    def trust(*idps: TestIdp) -> None:
        certificates = [stored_certificates(i.metadata_xml)[0] for i in idps]
        with transaction(sso.server.sessions) as session:
            session.execute(update(SsoConnection).where(SsoConnection.workspace_id == sso.tenant.workspace_id)
                            .values(metadata_xml=with_signing_certificates(idp.metadata_xml, certificates)))

    trust(expired, idp)
    signed_by_expired = SsoTenant(sso.tenant, expired, sso.domain, sso.entity_id, sso.acs_url)
    assert sign_in(signed_by_expired, browser(), user).status_code == 403
    assert sign_in(sso, browser(), user).status_code == 303
    trust(expired)
    assert sign_in(signed_by_expired, browser(), user).status_code == 403
    request_id = start_test(sso, admin)
    answer = expired.response(user, sp_entity_id=sso.entity_id, acs_url=sso.acs_url,
                              in_response_to=request_id)
    result = post_acs(sso, browser(), answer)
    assert result.status_code == 403 and "every trusted IdP signing certificate has expired" in result.text
    assert "Test sign-in found a problem" in result.text
    assert "Every trusted signing certificate has expired" in card(admin)


def test_cli_shows_the_connection_and_rolls_certificates(live_server: LiveServer, tmp_path: Path) -> None:
    """`scimgate sso saml show`, `certificate-add` and `certificate-remove`: the same rules as the
    card (the last valid certificate stays; an unknown fingerprint is an error)."""
    sso = sso_tenant(live_server, tmp_path)
    workspace = sso.tenant.workspace_id
    shown = cli(live_server, "sso", "saml", "show", workspace)
    assert shown.exit_code == 0, shown.output
    assert f"SP entity ID: {sso.entity_id}" in shown.output and fingerprint(sso.idp) in shown.output
    assert "Last successful test sign-in: never" in shown.output and "Require SSO: off" in shown.output
    new = sso.idp.forger()
    added = cli(live_server, "sso", "saml", "certificate-add", workspace, str(new.cert_file))
    assert added.exit_code == 0 and fingerprint(new) in added.output
    assert fingerprint(new) in cli(live_server, "sso", "saml", "show", workspace).output
    removed = cli(live_server, "sso", "saml", "certificate-remove", workspace, fingerprint(sso.idp))
    assert removed.exit_code == 0 and "No longer trusted" in removed.output
    last = cli(live_server, "sso", "saml", "certificate-remove", workspace, fingerprint(new))
    assert last.exit_code == 1 and "last valid signing certificate" in last.output
    unknown = cli(live_server, "sso", "saml", "certificate-remove", workspace, "ab" * 32)
    assert unknown.exit_code == 1 and "No trusted signing certificate" in unknown.output
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    refused = cli(live_server, "sso", "saml", "certificate-add", workspace, str(garbage))
    assert refused.exit_code == 1 and "not an X.509 certificate" in refused.output
