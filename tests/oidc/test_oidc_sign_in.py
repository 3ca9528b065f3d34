"""Member sign-in over OpenID Connect end to end: CLI setup against an in-process provider's
discovery document, /login, the provider's authorize and token endpoints over HTTP, the
callback, /api/me (issue 18; OpenID Connect Core 1.0 §3.1, RFC 7636)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from scimgate.config import Settings, resolve_secret_key
from scimgate.services import oidc as oidc_service
from scimgate.services import sso
from scimgate.storage.db import transaction
from scimgate.storage.models import SsoBinding, SsoConnection
from tests.oidc.support import browser, cli, me, oidc_tenant, sign_in
from tests.support import LiveServer


def secret_key() -> str:
    """The secret key the live server and the CLI share (the test process's settings)."""
    return resolve_secret_key(Settings())


def test_okta_shaped_sign_in_lands_in_the_member(live_server: LiveServer, tmp_path: Path) -> None:
    """Okta claims (sub = user id, email, preferred_username): /api/me answers the SCIM id."""
    oidc = oidc_tenant(live_server, tmp_path, shape="okta")
    user = oidc.user("grace")
    created = oidc.tenant.create_user(f"Grace@{oidc.domain}")
    client = browser()
    response = sign_in(oidc, client, user.email)
    assert response.status_code == 303 and response.headers["location"] == "/me", response.text
    cookies = response.headers.get_list("set-cookie")
    member_cookie = next(c for c in cookies if c.startswith("scimgate_member=")).lower()
    assert "httponly" in member_cookie and "samesite=lax" in member_cookie
    body = me(oidc, client).json()
    assert body["id"] == created["id"] and body["workspace"]["id"] == oidc.tenant.workspace_id
    with live_server.sessions() as session:
        binding = session.scalar(select(SsoBinding).where(SsoBinding.member_id == created["id"]))
        assert binding is not None and binding.subject == f"oidc:{oidc.provider.issuer}!{user.sub}"


def test_entra_shaped_sign_in_binds_tid_and_oid(live_server: LiveServer, tmp_path: Path) -> None:
    """Entra claims (tid, oid, preferred_username, pairwise sub, no email): bound by tid + oid."""
    oidc = oidc_tenant(live_server, tmp_path, shape="entra")
    user = oidc.user("ada")
    created = oidc.tenant.create_user(user.email)
    client = browser()
    assert sign_in(oidc, client, user.email).status_code == 303
    assert me(oidc, client).json()["id"] == created["id"]
    with live_server.sessions() as session:
        binding = session.scalar(select(SsoBinding).where(SsoBinding.member_id == created["id"]))
        assert binding is not None and binding.subject == f"oid:{oidc.provider.tenant_id}:{user.object_id}"


def test_authorization_request_carries_pkce_state_nonce(live_server: LiveServer, tmp_path: Path) -> None:
    """The redirect to the provider: code flow, S256 challenge, fresh state and nonce, the
    scopes, the login hint; the state is also in an HttpOnly cookie on the callback path."""
    oidc = oidc_tenant(live_server, tmp_path)
    client = browser()
    email = f"someone@{oidc.domain}"
    first = client.post(live_server.url + "/login", data={"email": email})
    second = browser().post(live_server.url + "/login", data={"email": email})
    queries = [parse_qs(urlsplit(r.headers["location"]).query) for r in (first, second)]
    for query in queries:
        assert query["response_type"] == ["code"] and query["client_id"] == [oidc.provider.client_id]
        assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
        assert query["scope"] == ["openid email profile"] and query["login_hint"] == [email]
        assert query["redirect_uri"] == [oidc.redirect_uri]
    assert queries[0]["state"] != queries[1]["state"] and queries[0]["nonce"] != queries[1]["nonce"]
    cookie = next(c for c in first.headers.get_list("set-cookie") if c.startswith("scimgate_oidc_state="))
    assert f"Path=/sso/oidc/{oidc.tenant.workspace_id}/callback" in cookie and "HttpOnly" in cookie
    assert queries[0]["state"][0] in cookie


def test_renamed_member_signs_in_to_the_same_id(live_server: LiveServer, tmp_path: Path) -> None:
    """ada@old-company renamed by SCIM to ada@new-company signs in with the new address into the
    same member: the binding (iss + sub) finds it, not the email."""
    oidc = oidc_tenant(live_server, tmp_path, domain="oidc-old-company.example")
    result = cli(live_server, "domain", "add", "oidc-new-company.example", "-w", oidc.tenant.workspace_id)
    assert result.exit_code == 0, result.output
    result = cli(live_server, "domain", "verify", "oidc-new-company.example", "-w",
                 oidc.tenant.workspace_id, "--operator", "test fixture")
    assert result.exit_code == 0, result.output
    created = oidc.tenant.create_user("ada@oidc-old-company.example")
    user = oidc.user("ada")
    first = browser()
    assert sign_in(oidc, first, user.email).status_code == 303
    assert me(oidc, first).json()["id"] == created["id"]
    patched = oidc.tenant.patch(f"/Users/{created['id']}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "userName", "value": "ada@oidc-new-company.example"}],
    })
    assert patched.status_code == 200, patched.text
    user.email = "ada@oidc-new-company.example"
    oidc.provider.add_user(user)
    second = browser()
    assert sign_in(oidc, second, user.email).status_code == 303
    body = me(oidc, second).json()
    assert body["id"] == created["id"] and body["userName"] == "ada@oidc-new-company.example"


def test_key_rotation_is_followed(live_server: LiveServer, tmp_path: Path) -> None:
    """After the provider rotates its signing key, the next sign-in (new kid) refetches the JWKS
    once and succeeds."""
    oidc = oidc_tenant(live_server, tmp_path)
    oidc.tenant.create_user(f"rot@{oidc.domain}")
    user = oidc.user("rot")
    assert sign_in(oidc, browser(), user.email).status_code == 303
    fetches = oidc.provider.jwks_fetches
    oidc.provider.rotate()
    client = browser()
    assert sign_in(oidc, client, user.email).status_code == 303
    assert me(oidc, client).status_code == 200
    assert oidc.provider.jwks_fetches == fetches + 1


def test_externalid_lookup_matches_okta_user_id(live_server: LiveServer, tmp_path: Path) -> None:
    """--lookup externalId: Okta's SCIM externalId is its user id, which its ID tokens carry as sub."""
    oidc = oidc_tenant(live_server, tmp_path, lookup="externalId")
    user = oidc.user("ext")
    created = oidc.tenant.create_user(f"someone-else@{oidc.domain}", externalId=user.sub)
    client = browser()
    assert sign_in(oidc, client, user.email).status_code == 303
    assert me(oidc, client).json()["id"] == created["id"]


def test_sso_require_works_for_oidc(live_server: LiveServer, tmp_path: Path) -> None:
    """`scimgate sso require` applies to an OIDC connection: refused before a test sign-in."""
    oidc = oidc_tenant(live_server, tmp_path)
    result = cli(live_server, "sso", "require", oidc.tenant.workspace_id, "on")
    assert result.exit_code == 1 and "test sign-in" in result.output
    assert cli(live_server, "sso", "require", oidc.tenant.workspace_id, "off").exit_code == 0


def test_client_secret_is_sealed_at_rest(live_server: LiveServer, tmp_path: Path) -> None:
    """The database holds the client secret only sealed (AES-GCM), never in the clear."""
    oidc = oidc_tenant(live_server, tmp_path)
    with live_server.sessions() as session:
        connection = session.scalar(
            select(SsoConnection).where(SsoConnection.workspace_id == oidc.tenant.workspace_id)
        )
        assert connection is not None and connection.kind == "oidc"
        sealed = connection.oidc_client_secret or ""
    assert sealed.startswith("v1.") and oidc.provider.client_secret not in sealed



def test_test_sign_in_records_success_and_allows_require(live_server: LiveServer, tmp_path: Path) -> None:
    """A test-mode request (as the admin's Test sign-in issues it) answers the result page with
    the matched member, starts no session, and lets `scimgate sso require ... on` pass."""
    oidc = oidc_tenant(live_server, tmp_path)
    user = oidc.user("admin-test")
    created = oidc.tenant.create_user(user.email)
    with transaction(live_server.sessions) as session:
        connection = sso.get_connection(session, oidc.tenant.workspace_id, "oidc")
        assert connection is not None
        begun = oidc_service.begin(session, live_server.url, secret_key(), connection,
                                   login_hint=user.email, test=True)
    client = browser()
    client.cookies.set("scimgate_oidc_state", begun.state, path=urlsplit(oidc.redirect_uri).path)
    callback = client.get(begun.location).headers["location"]
    result = client.get(callback)
    assert result.status_code == 200 and "Test sign-in succeeded" in result.text, result.text
    assert created["id"] in result.text and "preferred_username" in result.text
    assert me(oidc, client).status_code == 401
    result = cli(live_server, "sso", "require", oidc.tenant.workspace_id, "on")
    assert result.exit_code == 0, result.output


def test_deactivating_by_scim_ends_the_oidc_session(live_server: LiveServer, tmp_path: Path) -> None:
    """PATCH active false ends a session started by OIDC at once."""
    oidc = oidc_tenant(live_server, tmp_path, shape="entra")
    user = oidc.user("leaver")
    created = oidc.tenant.create_user(user.email)
    client = browser()
    assert sign_in(oidc, client, user.email).status_code == 303
    assert me(oidc, client).status_code == 200
    answer = oidc.tenant.patch(f"/Users/{created['id']}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    })
    assert answer.status_code == 200
    assert me(oidc, client).status_code == 401


def test_es256_signed_id_tokens_are_accepted(live_server: LiveServer, tmp_path: Path) -> None:
    """A provider signing with ES256 (P-256 key in its JWKS) works; the stored algorithms are
    what its discovery document offers."""
    oidc = oidc_tenant(live_server, tmp_path, algorithm="ES256")
    user = oidc.user("ec")
    created = oidc.tenant.create_user(user.email)
    client = browser()
    assert sign_in(oidc, client, user.email).status_code == 303
    assert me(oidc, client).json()["id"] == created["id"]
    with live_server.sessions() as session:
        connection = session.scalar(
            select(SsoConnection).where(SsoConnection.workspace_id == oidc.tenant.workspace_id)
        )
        assert connection is not None and connection.oidc_algorithms == "ES256"
