"""The Roles and Recently removed admin pages over HTTP, on SQLite and PostgreSQL (issue 16):
the mapping's preview saves nothing, saving follows, a save removing the last admin is a 409
page; the member pages show the role as managed by the identity provider with no local change;
restore, transfer, deletion policy and seat limit through their forms."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from scimgate.storage.db import transaction
from scimgate.storage.models import SsoBinding, SsoConnection, utcnow
from tests.admin.client import AdminClient, signed_in
from tests.http.test_leaving import owned
from tests.http.test_roles import group, role
from tests.support import Tenant, admin_client


@pytest.fixture
def page(tenant: Tenant) -> Iterator[AdminClient]:
    client = signed_in(tenant)
    yield client
    client.close()


@pytest.fixture
def api(tenant: Tenant) -> Iterator[httpx.Client]:
    with admin_client(tenant) as client:
        yield client


def test_mapping_preview_then_save(tenant: Tenant, page: AdminClient, api: httpx.Client) -> None:
    a = tenant.create_user("amy@example.com")["id"]
    g = group(tenant, "Leads", a)
    shown = page.get("/admin/roles")
    assert shown.status_code == 200 and "Leads" in shown.text
    assert "managed by your identity provider" in shown.text
    form = {"default_role": "member", "source": "groups", f"role:{g}": "admin"}
    preview = page.post("/admin/roles", {**form, "action": "preview"})
    assert preview.status_code == 200
    assert "1 member would change role" in preview.text and "amy@example.com" in preview.text
    assert role(api, a) == "member"
    saved = page.post("/admin/roles", {**form, "action": "save"})
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/roles?done=roles"
    assert role(api, a) == "admin"
    refused = page.post("/admin/roles", {"default_role": "member", "source": "groups", "action": "save"})
    assert refused.status_code == 409 and "without an admin" in refused.text
    assert role(api, a) == "admin"
    bad = page.post("/admin/roles", {"default_role": "owner", "source": "groups", "action": "save"})
    assert bad.status_code == 400


def test_member_pages_show_the_role_and_offer_no_local_change(tenant: Tenant, page: AdminClient) -> None:
    user = tenant.create_user("bo@example.com", roles=[{"value": "Editor"}])
    listed = page.get("/admin/members")
    assert re.search(r'data-label="Role"[^>]*>editor<', listed.text)
    assert "1 pending" in listed.text
    detail = page.get(f"/admin/members/{user['id']}")
    assert "<strong>editor</strong> — managed by your identity provider" in detail.text
    assert 'name="role' not in detail.text  # no role field to change locally


def _state_badges(text: str) -> list[str]:
    return re.findall(r'data-state="([a-z]+)"', text)


def test_counts_and_tables_say_a_members_state_in_one_vocabulary(tenant: Tenant, page: AdminClient) -> None:
    """Never signed in: *pending* in the counts, the members table, the member's page and the
    group's members; signed in once: *active* in all; SCIM active false: *deactivated*."""
    new = tenant.create_user("new@example.com")
    known = tenant.create_user("known@example.com")
    gone = tenant.create_user("gone@example.com", active=False)
    everyone = group(tenant, "Everyone", new["id"], known["id"], gone["id"])
    with transaction(tenant.server.sessions) as session:
        connection = SsoConnection(id=str(uuid.uuid4()), workspace_id=tenant.workspace_id,
                                   idp_entity_id="https://idp.example/", idp_sso_url="https://idp.example/sso",
                                   metadata_xml="<md/>", certificate_not_after=utcnow())
        session.add(connection)
        session.flush()
        session.add(SsoBinding(id=str(uuid.uuid4()), workspace_id=tenant.workspace_id,
                               connection_id=connection.id, subject="known", member_id=known["id"]))
    listed = page.get("/admin/members").text
    assert "1 pending</span> · <span>1 active</span> ·\n    <span>1 deactivated" in listed
    assert sorted(_state_badges(listed)) == ["active", "deactivated", "pending"]
    assert _state_badges(page.get(f"/admin/members/{new['id']}").text) == ["pending"]
    assert _state_badges(page.get(f"/admin/members/{known['id']}").text) == ["active"]
    assert sorted(_state_badges(page.get(f"/admin/groups/{everyone}").text)) == [
        "active", "deactivated", "pending"]
    assert "Pending or active</option>" in listed


def test_removed_page_restore_and_transfer(tenant: Tenant, page: AdminClient, api: httpx.Client) -> None:
    gone = tenant.create_user("cal@example.com")
    heir = tenant.create_user("dot@example.com")
    owned(api, gone["id"])
    assert tenant.delete(f"/Users/{gone['id']}").status_code == 204
    listed = page.get("/admin/removed")
    assert "cal@example.com" in listed.text and "2 chats, 1 agent" in listed.text
    moved = page.post(f"/admin/removed/{gone['id']}/transfer", {"to": "DOT@example.com"})
    assert moved.status_code == 303
    assert api.get(f"/members/{heir['id']}/owned").json()["chats"] == 2
    assert page.post(f"/admin/removed/{gone['id']}/transfer", {"to": "nobody@example.com"}).status_code == 404
    restored = page.post(f"/admin/removed/{gone['id']}/restore")
    assert restored.status_code == 303
    assert restored.headers["location"].startswith(f"/admin/members/{gone['id']}")
    assert tenant.get(f"/Users/{gone['id']}").status_code == 200
    assert page.post(f"/admin/removed/{gone['id']}/restore").status_code == 404
    log = page.get("/admin/log")
    assert log.status_code == 200
    assert "(admin) handed over 2 chats and 1 agent from cal@example.com to dot@example.com" in log.text
    assert "(admin) restored cal@example.com" in log.text
    assert "A SCIM client sent" not in log.text and "<dd>an admin (no SCIM request)</dd>" in log.text


def test_policy_and_seat_limit_forms(tenant: Tenant, page: AdminClient, api: httpx.Client) -> None:
    assert page.post("/admin/removed/policy", {"policy": "purge", "days": "7"}).status_code == 303
    assert page.post("/admin/members/seats", {"limit": "5"}).status_code == 303
    saved = api.get("/settings").json()
    assert saved == {"deletion_policy": "purge", "removal_keep_days": 7, "seat_limit": 5}
    assert page.post("/admin/members/seats", {"limit": ""}).status_code == 303
    assert api.get("/settings").json()["seat_limit"] is None
    assert page.post("/admin/removed/policy", {"policy": "archive", "days": "7"}).status_code == 400
    assert page.post("/admin/members/seats", {"limit": "0"}).status_code == 400


def test_an_unknown_member_status_is_said_next_to_its_filter(tenant: Tenant, page: AdminClient) -> None:
    """A status that is not a choice is said next to the filter and not applied (as on the log)."""
    tenant.create_user("one@example.com")
    shown = html.unescape(page.get("/admin/members", params={"status": "enabled"}).text)
    said = re.search(r'data-testid="problem-status">([^<]*)<', shown)
    assert said and said.group(1) == "'enabled' is not a status: choose active or deactivated. Not applied."
    assert "1 member ·" in shown
    fine = page.get("/admin/members", params={"status": "active"}).text
    assert 'data-testid="problem-status"></span>' in fine
