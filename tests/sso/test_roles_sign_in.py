"""A member's role and seat state around single sign-on (issue 16): the role is in /api/me and
/me, a first sign-in turns a pending member active, and a member in Recently removed cannot sign in."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.sso.support import browser, me, sign_in, sso_tenant
from tests.sso_idp import TestUser
from tests.support import LiveServer, admin_client


def test_role_in_api_me_and_pending_becomes_active(live_server: LiveServer, tmp_path: Path) -> None:
    sso = sso_tenant(live_server, tmp_path)
    email = f"ada@{sso.domain}"
    sso.tenant.create_user(email, emails=[{"value": email, "primary": True}], roles=[{"value": "Editor"}])
    with admin_client(sso.tenant) as api:
        assert api.get("/seats").json()["pending"] == 1
        client = browser()
        response = sign_in(sso, client, TestUser(email, str(uuid.uuid4())))
        assert response.status_code == 303, response.text
        assert me(sso, client).json()["role"] == "editor"
        home = client.get(live_server.url + "/me")
        assert "editor" in home.text and "managed by your identity provider" in home.text
        seats = api.get("/seats").json()
        assert (seats["pending"], seats["active"]) == (0, 1)


def test_removed_member_cannot_sign_in(live_server: LiveServer, tmp_path: Path) -> None:
    sso = sso_tenant(live_server, tmp_path)
    email = f"bob@{sso.domain}"
    created = sso.tenant.create_user(email, emails=[{"value": email, "primary": True}])
    subject = str(uuid.uuid4())
    client = browser()
    assert sign_in(sso, client, TestUser(email, subject)).status_code == 303
    assert sso.tenant.delete(f"/Users/{created['id']}").status_code == 204
    assert me(sso, client).status_code == 401  # its session ended with the removal
    again = sign_in(sso, browser(), TestUser(email, subject))
    assert again.status_code == 403
