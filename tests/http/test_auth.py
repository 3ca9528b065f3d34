"""Authentication, the sync switch and the audit trail over HTTP (issue 2 §5, §9).

401 for every missing or bad credential with a Bearer challenge (RFC 7644 §2, RFC 6750 §3);
403 when SCIM user sync is off; one audit_event per authenticated request, never a token.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from scimgate.services import tokens, workspaces
from scimgate.storage.db import transaction
from scimgate.storage.models import AuditEvent, Workspace
from tests.support import Tenant, audit_events

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def get_users(tenant: Tenant, authorization: str | None, **headers: str) -> httpx.Response:
    """GET /Users with exactly this Authorization header (or none)."""
    if authorization is not None:
        headers["Authorization"] = authorization
    with httpx.Client(base_url=tenant.server.base_url, timeout=60) as client:
        return client.get("/Users", headers=headers)


def assert_unauthorized(response: httpx.Response) -> None:
    """401 with a Bearer challenge and a SCIM error body holding no user data (RFC 6750 §3)."""
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/scim+json"
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == "401" and body["detail"]
    assert set(body) == {"schemas", "status", "detail"}


def set_sync(tenant: Tenant, active: bool) -> None:
    with transaction(tenant.server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        workspaces.set_scim_sync(session, workspace, active)


def audit_rows(tenant: Tenant, at_least: int) -> list[AuditEvent]:
    return audit_events(tenant.server, tenant.workspace_id, at_least)


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "bearer", "Bearer null", "Bearer undefined", "Basic Zm9vOmJhcg==", "Token abc",
    "Bearer sg_" + "A" * 43, "Bearer,abc",
])
def test_missing_or_malformed_credentials_are_401(tenant: Tenant, authorization: str | None) -> None:
    """Missing, empty, other-scheme and unknown tokens: 401 with WWW-Authenticate: Bearer (case C33, C34)."""
    tenant.create_user("hidden@example.com")
    response = get_users(tenant, authorization)
    assert_unauthorized(response)
    assert "hidden" not in response.text


def test_token_variants_that_are_not_the_token_are_401(tenant: Tenant) -> None:
    """The token with a character added or removed, in another scheme, or as the bare header: 401;
    the scheme name itself is case-insensitive (RFC 7235 §2.1)."""
    for authorization in (f"Bearer {tenant.token}x", f"Bearer {tenant.token[:-1]}", f"Basic {tenant.token}",
                          tenant.token, f"Bearer {tenant.token.upper()}"):
        assert_unauthorized(get_users(tenant, authorization))
    assert get_users(tenant, f"bearer {tenant.token}").status_code == 200
    assert get_users(tenant, f"BEARER  {tenant.token}").status_code == 200


def test_revoked_rotated_and_admin_tokens_are_401(tenant: Tenant) -> None:
    """A revoked (rotated-out) token and a token of another kind are refused (issue 2 §5, case C34)."""
    with transaction(tenant.server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        new = tokens.issue_token(session, workspace)
        admin = tokens.issue_token(session, workspace, kind="admin")
        tokens.revoke_tokens(session, workspace, keep=new.record)
    assert_unauthorized(get_users(tenant, f"Bearer {tenant.token}"))
    assert_unauthorized(get_users(tenant, f"Bearer {admin.secret}"))
    assert get_users(tenant, f"Bearer {new.secret}").status_code == 200


def test_sync_off_is_403_with_the_reason_on_every_endpoint(tenant: Tenant) -> None:
    """With "SCIM user sync active" off, the right token gets 403 saying so (issue 2 §5)."""
    user = tenant.create_user("paused@example.com")
    set_sync(tenant, False)
    for response in (tenant.get("/Users"), tenant.get(f"/Users/{user['id']}"),
                     tenant.post("/Users", json={"userName": "new@example.com"}),
                     tenant.delete(f"/Users/{user['id']}"), tenant.get("/ServiceProviderConfig")):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/scim+json"
        body = response.json()
        assert body["schemas"] == [ERROR] and body["status"] == "403"
        assert "SCIM user sync is not active" in body["detail"]
    set_sync(tenant, True)
    assert tenant.get(f"/Users/{user['id']}").status_code == 200


def test_one_audit_event_per_request(tenant: Tenant) -> None:
    """Each authenticated request writes exactly one audit_event with method, resource, status,
    scimType and client; failures and 403s included (issue 2 §9; ARCHITECTURE.md)."""
    entra = {"User-Agent": "Azure Active Directory SCIM Client"}
    okta = {"User-Agent": "Okta SCIM Client 1.0.0"}
    created = tenant.post("/Users", json={"userName": "audit@example.com"}, headers=entra)
    user_id = created.json()["id"]
    tenant.get(f"/Users/{user_id}", headers=okta)
    tenant.get("/Users?filter=userName%20eq%20%22audit@example.com%22")
    tenant.post("/Users", json={"userName": "AUDIT@example.com"}, headers=entra)
    tenant.patch(f"/Users/{user_id}", content=b"{broken", headers=entra)
    tenant.patch(f"/Users/{user_id}", json={"schemas": [PATCH_OP],
                                           "Operations": [{"op": "replace", "path": "title", "value": "T"}]})
    tenant.get("/Users?count=abc")
    tenant.get("/Schemas")
    tenant.delete(f"/Users/{user_id}")
    tenant.get(f"/Users/{user_id}")
    set_sync(tenant, False)
    tenant.get("/Users", headers=okta)
    get_users(tenant, "Bearer wrong")

    seen = [(e.method, e.resource_type, e.resource_id, e.status, e.scim_type, e.client)
            for e in audit_rows(tenant, 11)]
    assert seen == [
        ("POST", "User", user_id, 201, None, "entra"),
        ("GET", "User", user_id, 200, None, "okta"),
        ("GET", "User", None, 200, None, "other"),
        ("POST", "User", None, 409, "uniqueness", "entra"),
        ("PATCH", "User", user_id, 400, "invalidSyntax", "entra"),
        ("PATCH", "User", user_id, 200, None, "other"),
        ("GET", "User", None, 400, "invalidValue", "other"),
        ("GET", "Schema", None, 200, None, "other"),
        ("DELETE", "User", user_id, 204, None, "other"),
        ("GET", "User", user_id, 404, None, "other"),
        ("GET", "User", None, 403, None, "okta"),
    ]


def test_audit_and_log_never_hold_the_token(tenant: Tenant) -> None:
    """No column of any audit_event and no server log line holds the token (issue 2 §5)."""
    secret_path = f"/Users?filter=userName%20eq%20%22{tenant.token}%22"
    tenant.get(secret_path)
    tenant.post("/Users", json={"userName": "leak@example.com", "displayName": tenant.token})
    tenant.post("/Users", content=b'{"userName": "' + tenant.token.encode())
    rows = audit_rows(tenant, 3)
    assert len(rows) == 3
    for row in rows:
        values: dict[str, Any] = {c.name: getattr(row, c.name) for c in AuditEvent.__table__.columns}
        assert all(tenant.token not in str(value) for value in values.values()), values
    assert tenant.token not in tenant.server.log_path.read_text(errors="replace")


def test_unauthenticated_requests_write_no_audit_rows(tenant: Tenant) -> None:
    """A 401 names no workspace: nothing is written (so anonymous traffic cannot fill the table)."""
    unauthenticated = select(AuditEvent.id).where(AuditEvent.status == 401)  # other tests' rows may land
    with transaction(tenant.server.sessions) as session:
        before = len(list(session.scalars(unauthenticated)))
    get_users(tenant, f"Bearer {uuid.uuid4()}")
    get_users(tenant, None)
    with transaction(tenant.server.sessions) as session:
        assert len(list(session.scalars(unauthenticated))) == before
