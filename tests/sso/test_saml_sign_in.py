"""Member sign-in over SAML 2.0 end to end: CLI setup, /login, an in-process IdP, the ACS over
HTTP, /api/me and /me (issue 18; SAML 2.0 Web Browser SSO Profile, Profiles §4.1)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.sso.support import browser, cli, me, sign_in, sso_tenant
from tests.sso_idp import TestUser
from tests.support import LiveServer


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


def test_entra_shaped_sign_in_lands_in_the_member(live_server: LiveServer, tmp: Path) -> None:
    """Persistent NameID + objectidentifier claim: /api/me answers the SCIM id, userName, workspace."""
    sso = sso_tenant(live_server, tmp)
    email = f"ada@{sso.domain}"
    created = sso.tenant.create_user(email, emails=[{"value": email, "primary": True}])
    client = browser()
    response = sign_in(sso, client, TestUser(email, str(uuid.uuid4())))
    assert response.status_code == 303 and response.headers["location"] == "/me", response.text
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    body = me(sso, client).json()
    assert body["id"] == created["id"] and body["userName"] == email
    assert body["workspace"]["id"] == sso.tenant.workspace_id
    home = client.get(live_server.url + "/me")
    assert home.status_code == 200 and created["id"] in home.text and sso.tenant.workspace_name in home.text


def test_okta_shaped_sign_in_lands_in_the_member(live_server: LiveServer, tmp: Path) -> None:
    """emailAddress NameID with attribute statements, matched by userName (case-insensitive)."""
    sso = sso_tenant(live_server, tmp)
    created = sso.tenant.create_user(f"Grace@{sso.domain}")
    client = browser()
    response = sign_in(sso, client, TestUser(f"grace@{sso.domain}"), shape="okta")
    assert response.status_code == 303, response.text
    assert me(sso, client).json()["id"] == created["id"]


def test_renamed_member_signs_in_to_the_same_id(live_server: LiveServer, tmp: Path) -> None:
    """ada@old-company.example renamed by SCIM PATCH to ada@new-company.example keeps its id."""
    sso = sso_tenant(live_server, tmp, domain="old-company.example")
    result = cli(live_server, "domain", "add", "new-company.example", "-w", sso.tenant.workspace_id)
    assert result.exit_code == 0, result.output
    result = cli(
        live_server,
        "domain",
        "verify",
        "new-company.example",
        "-w",
        sso.tenant.workspace_id,
        "--operator",
        "test fixture",
    )
    assert result.exit_code == 0, result.output
    created = sso.tenant.create_user("ada@old-company.example")
    object_id = str(uuid.uuid4())
    first = browser()
    assert sign_in(sso, first, TestUser("ada@old-company.example", object_id)).status_code == 303
    assert me(sso, first).json()["id"] == created["id"]
    patched = sso.tenant.patch(
        f"/Users/{created['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "userName", "value": "ada@new-company.example"}],
        },
    )
    assert patched.status_code == 200, patched.text
    second = browser()
    assert sign_in(sso, second, TestUser("ada@new-company.example", object_id)).status_code == 303
    body = me(sso, second).json()
    assert body["id"] == created["id"] and body["userName"] == "ada@new-company.example"


def test_not_provisioned_and_deactivated_are_refused(live_server: LiveServer, tmp: Path) -> None:
    """No JIT: an unknown person is told to ask the admin; active false is refused; no session."""
    sso = sso_tenant(live_server, tmp)
    client = browser()
    response = sign_in(sso, client, TestUser(f"nobody@{sso.domain}", str(uuid.uuid4())))
    assert response.status_code == 403 and "Ask your admin to give you access" in response.text
    assert me(sso, client).status_code == 401
    email = f"gone@{sso.domain}"
    sso.tenant.create_user(email, active=False)
    response = sign_in(sso, client, TestUser(email, str(uuid.uuid4())))
    assert response.status_code == 403 and "Your organisation has deactivated your access" in response.text
    assert me(sso, client).status_code == 401


def test_deactivating_by_scim_ends_the_session(live_server: LiveServer, tmp: Path) -> None:
    """PATCH active false and DELETE end the member's sessions at once."""
    sso = sso_tenant(live_server, tmp)
    for change in ("deactivate", "delete"):
        email = f"{change}@{sso.domain}"
        created = sso.tenant.create_user(email)
        client = browser()
        assert sign_in(sso, client, TestUser(email, str(uuid.uuid4()))).status_code == 303
        assert me(sso, client).status_code == 200
        if change == "deactivate":
            answer = sso.tenant.patch(
                f"/Users/{created['id']}",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": False}],
                },
            )
            assert answer.status_code == 200
            sso.tenant.patch(
                f"/Users/{created['id']}",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": True}],
                },
            )
        else:
            assert sso.tenant.delete(f"/Users/{created['id']}").status_code == 204
        assert me(sso, client).status_code == 401


def test_sign_out_ends_the_session(live_server: LiveServer, tmp: Path) -> None:
    """POST /logout revokes the server-side session: the old cookie no longer works."""
    sso = sso_tenant(live_server, tmp)
    email = f"out@{sso.domain}"
    sso.tenant.create_user(email)
    client = browser()
    assert sign_in(sso, client, TestUser(email, str(uuid.uuid4()))).status_code == 303
    token = client.cookies.get("scimgate_member")
    assert client.post(live_server.url + "/logout").status_code == 303
    assert (
        browser().get(live_server.url + "/api/me", cookies={"scimgate_member": token or ""}).status_code
        == 401
    )


def test_unknown_domain_at_login_is_refused(live_server: LiveServer) -> None:
    """Home realm discovery: a domain no workspace verified gets the login form back with a reason."""
    response = browser().post(live_server.url + "/login", data={"email": "x@unclaimed-domain.example"})
    assert (
        response.status_code == 400 and "No workspace signs in people of this email domain" in response.text
    )


def test_require_sso_needs_a_test_sign_in(live_server: LiveServer, tmp: Path) -> None:
    """`scimgate sso require WORKSPACE on` is refused before a successful test sign-in."""
    sso = sso_tenant(live_server, tmp)
    result = cli(live_server, "sso", "require", sso.tenant.workspace_id, "on")
    assert result.exit_code == 1 and "test sign-in" in result.output
    assert cli(live_server, "sso", "require", sso.tenant.workspace_id, "off").exit_code == 0
