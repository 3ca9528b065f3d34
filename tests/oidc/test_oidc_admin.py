"""OpenID Connect on the Single sign-on card over HTTP (issue 18): the redirect URI under each
provider's field name, the issuer, client id and client secret saved after the discovery
document is read (refused next to the field with the CLI's messages), the secret stored sealed
and never shown back, the test sign-in over OIDC (the matched member and the claims, nothing
bound, no session) and "Require SSO" accepting it. Both databases."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from scimgate.simulate.oidc_provider import OidcProvider, ProviderUser
from scimgate.storage.db import transaction
from scimgate.storage.models import SsoBinding, SsoConnection
from tests.admin.client import AdminClient, signed_in
from tests.sso_idp import make_key_pair
from tests.support import LiveServer, Tenant, admin_client, make_tenant, start_server, stop_server

Setup = tuple[Tenant, AdminClient, OidcProvider, str]


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The module's server, allowed to read an issuer over plain http on loopback (the local
    provider); tests/oidc/test_oidc_configure.py shows the setting is needed."""
    server = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend,
                          env={"SCIMGATE_OIDC_ALLOW_LOOPBACK_HTTP": "1"})
    yield server
    stop_server(server)


@pytest.fixture
def setup(live_server: LiveServer) -> Iterator[Setup]:
    """A tenant with a verified domain and no SSO yet, an admin signed in, and a provider that
    knows the workspace's redirect URI."""
    domain = f"{uuid.uuid4().hex[:10]}.example"
    tenant = make_tenant(live_server, domains=(domain,))
    admin = signed_in(tenant)
    provider = OidcProvider()
    provider.redirect_uris.add(redirect_uri(tenant))
    yield tenant, admin, provider, domain
    admin.close()
    provider.close()


def redirect_uri(tenant: Tenant) -> str:
    return f"{tenant.server.url}/sso/oidc/{tenant.workspace_id}/callback"


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


def save(admin: AdminClient, provider: OidcProvider, **changes: str) -> httpx.Response:
    form = {"issuer": provider.issuer, "client_id": provider.client_id,
            "client_secret": provider.client_secret, "lookup": "userName", **changes}
    return admin.post("/admin/security/sso/oidc", form)


def connection_of(tenant: Tenant) -> SsoConnection | None:
    with tenant.server.sessions() as session:
        return session.scalar(select(SsoConnection).where(SsoConnection.workspace_id == tenant.workspace_id))


def bindings(tenant: Tenant) -> int:
    with transaction(tenant.server.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(SsoBinding)
                                  .where(SsoBinding.workspace_id == tenant.workspace_id)) or 0)


def test_card_shows_the_redirect_uri_per_provider(setup: Setup) -> None:
    tenant, admin, _, _ = setup
    body = card(admin)
    for label in ("Microsoft Entra ID: Redirect URI (Web)", "Okta: Sign-in redirect URIs",
                  "Google Workspace: Authorized redirect URIs"):
        found = re.search(rf'<label for="([^"]+)">{re.escape(label)}</label>', body)
        assert found, label
        assert f'id="{found.group(1)}" type="text" readonly value="{redirect_uri(tenant)}"' in body
        assert f'data-copy="{found.group(1)}"' in body


def test_bad_issuer_and_missing_fields_are_refused_next_to_the_field(setup: Setup) -> None:
    """The discovery document's problems with the CLI's messages, an unreachable issuer, an
    empty client id or secret: 400 by the field, inputs kept (not the secret), nothing saved."""
    tenant, admin, provider, _ = setup
    provider.discovery_overrides = {"issuer": "https://login.example/other"}
    refused = save(admin, provider)
    assert refused.status_code == 400
    assert "names the issuer" in field_error(refused.text, "sso-oidc-issuer")
    assert f'value="{provider.client_id}"' in refused.text
    assert provider.client_secret not in refused.text
    provider.discovery_overrides = {"code_challenge_methods_supported": ["plain"]}
    assert "PKCE with S256" in field_error(save(admin, provider).text, "sso-oidc-issuer")
    provider.discovery_overrides = {}
    closed = OidcProvider()
    closed.close()
    assert "could not be read" in field_error(save(admin, closed).text, "sso-oidc-issuer")
    ftp = save(admin, provider, issuer="ftp://idp.example")
    assert "https URL" in field_error(ftp.text, "sso-oidc-issuer")
    assert "client id" in field_error(save(admin, provider, client_id=" ").text, "sso-oidc-client-id")
    assert "client secret" in field_error(save(admin, provider, client_secret="").text,
                                          "sso-oidc-client-secret")
    assert connection_of(tenant) is None and "Not connected yet." in card(admin)


def test_saved_secret_is_sealed_never_shown_and_replaceable(setup: Setup) -> None:
    tenant, admin, provider, _ = setup
    saved = save(admin, provider)
    assert saved.status_code == 303 and saved.headers["location"].startswith("/admin/security?done=")
    body = card(admin)
    assert provider.issuer in body and provider.client_id in body and "stored sealed, not shown" in body
    assert provider.client_secret not in admin.get("/admin/security").text
    connection = connection_of(tenant)
    assert connection is not None and connection.kind == "oidc"
    first = connection.oidc_client_secret or ""
    assert first.startswith("v1.") and provider.client_secret not in first
    provider.client_secret = "replaced-" + uuid.uuid4().hex
    assert save(admin, provider).status_code == 303
    replaced = connection_of(tenant)
    assert replaced is not None and replaced.oidc_client_secret not in (first, None)
    assert provider.client_secret not in admin.get("/admin/security").text


def start_test(admin: AdminClient, provider: OidcProvider, email: str) -> str:
    """Press "Start a test sign-in over OpenID Connect" asking for ``email``; follow the link
    to the provider; return the callback URL it sends the browser back to."""
    response = admin.post("/admin/security/sso/test", {"login_hint": email})
    assert response.status_code == 200, response.text
    found = re.search(r'id="sso-test-go" href="([^"]+)"', response.text)
    assert found, response.text
    location = html.unescape(found.group(1))
    assert location.startswith(provider.issuer + "/authorize?") and "login_hint=" in location
    answer = httpx.get(location)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def test_test_sign_in_over_oidc_shows_the_claims_binds_nothing_and_allows_require(setup: Setup) -> None:
    tenant, admin, provider, domain = setup
    assert save(admin, provider).status_code == 303
    email = f"ada@{domain}"
    created = tenant.create_user(email)
    user = provider.add_user(ProviderUser(email))
    refused = admin.post("/admin/security/sso/required", {"active": "on"})
    assert refused.status_code == 409 and "Run a test sign-in first" in html.unescape(refused.text)
    callback = start_test(admin, provider, email)
    result = admin.http.get(callback)  # the admin's browser holds the state cookie
    assert result.status_code == 200, result.text
    text = html.unescape(result.text)
    assert "Test sign-in succeeded" in text and created["id"] in text and email in text
    assert "Claims received" in text and "preferred_username" in text and user.sub in text
    assert "A first sign-in binds this identity to the member." in text
    assert "scimgate_member" not in result.headers.get("set-cookie", "")
    assert me_status(admin) == 401 and bindings(tenant) == 0
    assert "Last successful test sign-in" in card(admin)
    assert admin.http.get(callback).status_code == 403  # the request is single use
    assert admin.post("/admin/security/sso/required", {"active": "on"}).status_code == 303
    assert 'data-testid="sso-required-state">On' in card(admin)


def me_status(admin: AdminClient) -> int:
    return admin.http.get("/api/me").status_code


def test_test_sign_in_over_oidc_reports_problems(setup: Setup) -> None:
    """An unprovisioned person, a deactivated member and an unsigned ID token: the problem is on
    the test page, nothing is bound and no success is recorded."""
    tenant, admin, provider, domain = setup
    assert save(admin, provider).status_code == 303
    tenant.create_user(f"gone@{domain}", active=False)
    for local, forge, expected in [
        ("nobody", None, "no provisioned member matches"),
        ("gone", None, "deactivated"),
        ("gone", OidcProvider.alg_none, "is not allowed"),
    ]:
        provider.add_user(ProviderUser(f"{local}@{domain}"))
        provider.forge = forge
        result = admin.http.get(start_test(admin, provider, f"{local}@{domain}"))
        assert result.status_code == 403, result.text
        text = html.unescape(result.text)
        assert "Test sign-in found a problem" in text and expected in text
    assert bindings(tenant) == 0 and "No successful test sign-in yet." in card(admin)
    assert me_status(admin) == 401


def test_oidc_forms_need_csrf_and_a_session(setup: Setup) -> None:
    tenant, admin, provider, _ = setup
    form = {"issuer": provider.issuer, "client_id": provider.client_id, "client_secret": "s"}
    assert admin.post("/admin/security/sso/oidc", form, csrf=False).status_code == 403
    anonymous = AdminClient.open(tenant.server)
    response = anonymous.http.post("/admin/security/sso/oidc",
                                   data={"csrf_token": anonymous.csrf("/admin/login"), **form})
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert connection_of(tenant) is None


def test_admin_api_configures_oidc(setup: Setup) -> None:
    """PUT /api/admin/v1/sso/oidc: a bad discovery document 400 ``invalid`` with the reason and
    nothing stored; a good one 200 with the issuer, client id and redirect URI, never the secret."""
    tenant, _, provider, _ = setup
    api = admin_client(tenant)
    body = {"issuer": provider.issuer, "client_id": provider.client_id,
            "client_secret": provider.client_secret}
    provider.discovery_overrides = {"response_types_supported": ["id_token"]}
    refused = api.put("/sso/oidc", json=body)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid"
    assert "authorization code flow" in refused.json()["error"]["detail"]
    assert api.get("/sso").status_code == 404
    provider.discovery_overrides = {}
    saved = api.put("/sso/oidc", json=body)
    assert saved.status_code == 200, saved.text
    answer = saved.json()
    assert answer["kind"] == "oidc" and answer["oidc"] == {
        "issuer": provider.issuer, "client_id": provider.client_id, "redirect_uri": redirect_uri(tenant)}
    assert provider.client_secret not in saved.text and answer["tested_at"] is None
    assert api.put("/sso/oidc", json={**body, "client_secret": ""}).status_code == 400


def test_saml_certificate_actions_on_an_oidc_connection_are_refused(setup: Setup, tmp_path: Path) -> None:
    """An OIDC connection has no SAML signing certificates: adding one is refused next to the
    field, removing one is the not-found page, a SAML response to the workspace's ACS is refused,
    and none of them is a 500 (each read the connection's absent SAML metadata)."""
    tenant, admin, provider, _ = setup
    assert save(admin, provider).status_code == 303
    _, certificate = make_key_pair(tmp_path, "idp")
    added = admin.post("/admin/security/sso/certificates", {"certificate": certificate.read_text()})
    assert added.status_code == 400 and "OpenID Connect" in html.unescape(added.text), added.text[:300]
    removed = admin.post(f"/admin/security/sso/certificates/{'0' * 64}/remove", {"confirm": "yes"})
    assert removed.status_code == 404
    acs = httpx.post(f"{tenant.server.url}/sso/saml/{tenant.workspace_id}/acs",
                     data={"SAMLResponse": "PHNhbWxwOlJlc3BvbnNlLz4=", "RelayState": ""})
    assert acs.status_code < 500, acs.text[:300]
    connection = connection_of(tenant)
    assert connection is not None and connection.kind == "oidc" and connection.metadata_xml is None
