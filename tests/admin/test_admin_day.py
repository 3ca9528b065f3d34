"""The admin's day over HTTP (issue 17): token rotation by post/redirect/get with a revoke per
live token, confirmation before what cuts provisioning off, a pasted URL in the domain field,
the local-only Base URL warning, ``GET /`` and the favicon, and the noTarget detail naming the
Entra switch. A live server per module, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from scimgate.services import tokens, workspaces
from scimgate.storage.db import transaction
from tests.admin.client import AdminClient, signed_in
from tests.support import Tenant, make_tenant

NEW_TOKEN = re.compile(r'id="new-token" type="text" readonly value="([^"]+)"')


@pytest.fixture
def admin(tenant: Tenant) -> Iterator[AdminClient]:
    """A client signed in as an admin of the tenant's workspace."""
    client = signed_in(tenant)
    yield client
    client.close()


def _live(tenant: Tenant) -> list[str]:
    with transaction(tenant.server.sessions) as session:
        workspace = workspaces.find_workspace(session, tenant.workspace_id)
        return [t.id for t in tokens.list_tokens(session, workspace) if t.revoked_at is None]


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_rotate_redirects_and_the_token_page_cannot_be_replayed(admin: AdminClient, tenant: Tenant) -> None:
    """POST /tokens answers 303; the next GET shows the secret once; reloads mint nothing, show nothing."""
    minted = admin.post("/admin/security/tokens")
    assert minted.status_code == 303 and minted.headers["location"] == "/admin/security#token"
    assert len(_live(tenant)) == 2
    shown = admin.get("/admin/security")
    found = NEW_TOKEN.search(shown.text)
    assert found and "shown only once" in shown.text and shown.headers["cache-control"] == "no-store"
    secret = found.group(1)
    assert tenant.get("/Users", headers=_bearer(secret)).status_code == 200
    for _ in range(2):
        again = admin.get("/admin/security")
        assert secret not in again.text and NEW_TOKEN.search(again.text) is None
    assert len(_live(tenant)) == 2


def test_a_forged_hand_over_cookie_shows_nothing(admin: AdminClient) -> None:
    """A new-token cookie not signed by the server is ignored."""
    admin.http.cookies.set("scimgate_new_token", "eyJ3IjoieCJ9.forged.sig", path="/admin/security")
    assert NEW_TOKEN.search(admin.get("/admin/security").text) is None


def test_another_workspaces_hand_over_is_not_shown(admin: AdminClient, tenant: Tenant) -> None:
    """The cookie of a token minted by another workspace's admin shows nothing on this one's page."""
    other = signed_in(make_tenant(tenant.server))
    try:
        minted = other.post("/admin/security/tokens")
        cookie = minted.cookies.get("scimgate_new_token")
        assert cookie
    finally:
        other.close()
    admin.http.cookies.set("scimgate_new_token", cookie, path="/admin/security")
    assert NEW_TOKEN.search(admin.get("/admin/security").text) is None


def test_every_live_token_has_its_own_confirmed_revoke(admin: AdminClient, tenant: Tenant) -> None:
    """Each live token row has a Revoke; it asks first, then revokes that token only."""
    admin.post("/admin/security/tokens")
    admin.get("/admin/security")
    first, second = _live(tenant)[1], _live(tenant)[0]  # newest first: the fixture's token is last
    page = admin.get("/admin/security").text
    assert all(f"/admin/security/tokens/{t}/revoke" in page for t in (first, second))
    asked = admin.post(f"/admin/security/tokens/{first}/revoke")
    assert asked.status_code == 200 and "Revoke the token" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert tenant.get("/Users").status_code == 200
    done = admin.post(f"/admin/security/tokens/{first}/revoke", {"confirm": "yes"})
    assert done.status_code == 303
    assert tenant.get("/Users").status_code == 401 and _live(tenant) == [second]
    last = admin.post(f"/admin/security/tokens/{second}/revoke")
    assert "last live token" in html.unescape(last.text)


def test_revoking_another_workspaces_token_is_404(admin: AdminClient, tenant: Tenant) -> None:
    """A token id of another workspace is 404 and stays live."""
    other = make_tenant(tenant.server)
    foreign = _live(other)[0]
    assert admin.post(f"/admin/security/tokens/{foreign}/revoke", {"confirm": "yes"}).status_code == 404
    assert other.get("/Users").status_code == 200


def test_turning_user_sync_off_asks_first(admin: AdminClient, tenant: Tenant) -> None:
    """Sync off without confirm: a page saying every SCIM request gets 403, nothing changed; with it: 403."""
    asked = admin.post("/admin/security/sync", {"switch": "user", "active": "off"})
    assert asked.status_code == 200 and "answered 403" in asked.text
    assert tenant.get("/Users").status_code == 200
    confirmed = {"switch": "user", "active": "off", "confirm": "yes"}
    assert admin.post("/admin/security/sync", confirmed).status_code == 303
    assert tenant.get("/Users").status_code == 403
    assert admin.post("/admin/security/sync", {"switch": "user", "active": "on"}).status_code == 303
    assert tenant.get("/Users").status_code == 200


def test_removing_a_verified_domain_asks_first(admin: AdminClient, tenant: Tenant) -> None:
    """Remove example.com (verified): a page says re-adding starts over as pending; confirmed, it is gone."""
    asked = admin.post("/admin/security/domains/example.com/remove")
    assert asked.status_code == 200 and "starts over as pending" in asked.text
    assert tenant.create_user(f"a{uuid.uuid4().hex[:6]}@example.com").get("id")
    assert admin.post("/admin/security/domains/example.com/remove", {"confirm": "yes"}).status_code == 303
    refused = tenant.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                          "userName": f"b{uuid.uuid4().hex[:6]}@example.com"})
    assert refused.status_code == 400


@pytest.mark.parametrize("pasted", ["https://www.paste-{}.example/", "http://paste-{}.example:8080/about",
                                    "paste-{}.example/"])
def test_a_pasted_url_adds_its_host(admin: AdminClient, tenant: Tenant, pasted: str) -> None:
    """A web address in the domain field adds its host (without www.)."""
    tag = uuid.uuid4().hex[:6]
    assert admin.post("/admin/security/domains", {"name": pasted.format(tag)}).status_code == 303
    assert f'id="domain-paste-{tag}.example"' in admin.get("/admin/security").text


def test_an_invalid_domain_is_explained_next_to_the_field(admin: AdminClient) -> None:
    """A bad name: 400, the message beside the field (aria-describedby), the input kept, no IDNA text."""
    bad = admin.post("/admin/security/domains", {"name": "exa mple!.com"})
    text = html.unescape(bad.text)
    assert bad.status_code == 400
    assert 'aria-describedby="domain-help domain-error"' in text and 'id="domain-error"' in text
    assert 'value="exa mple!.com"' in text and "not a valid domain name" in text
    assert "Codepoint" not in text and 'class="error" role="alert"' not in text.split('id="domains"')[0]


def test_security_page_warns_that_a_local_base_url_cannot_serve_entra(admin: AdminClient) -> None:
    """The test server's Base URL is http://127.0.0.1: the page says Entra needs a public HTTPS URL."""
    page = admin.get("/admin/security").text
    assert 'id="local-only"' in page and "public HTTPS URL" in page and "SCIMGATE_PUBLIC_URL" in page


def test_root_redirects_to_admin_and_favicon_is_served(tenant: Tenant) -> None:
    """GET / is 303 to /admin (then the sign-in page); /favicon.ico is an SVG icon."""
    with httpx.Client(base_url=tenant.server.url, follow_redirects=False) as client:
        root = client.get("/")
        assert root.status_code == 303 and root.headers["location"] == "/admin"
        landed = client.get("/", follow_redirects=True)
        assert landed.status_code == 200 and landed.url.path == "/admin/login"
        icon = client.get("/favicon.ico")
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.text.startswith("<svg")


def test_no_target_detail_names_the_entra_switch(tenant: Tenant) -> None:
    """Entra's replace of a phone number the member lacks, switch off: 400 noTarget naming the switch."""
    user = tenant.create_user(f"n{uuid.uuid4().hex[:6]}@example.com")
    answer = tenant.patch(f"/Users/{user['id']}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 555"}]})
    assert answer.status_code == 400 and answer.json()["scimType"] == "noTarget"
    assert "Entra compatibility" in answer.json()["detail"] and "entra-compat" in answer.json()["detail"]
