"""Workspace roles from the identity provider over HTTP, on SQLite and PostgreSQL (issue 16).

Entra's app-role shapes in ``roles``, Okta's ``roles`` and group push, the group mapping with
its preview and default role, the source setting, the last-admin guard (also under concurrent
changes) and the role in the admin API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import Tenant, admin_client, make_tenant

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def admin(tenant: Tenant) -> Iterator[httpx.Client]:
    with admin_client(tenant) as client:
        yield client


def role(admin: httpx.Client, member_id: str) -> str:
    response = admin.get(f"/members/{member_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["role"])


def patch(tenant: Tenant, path: str, *operations: dict[str, Any]) -> httpx.Response:
    return tenant.patch(path, json={"schemas": [PATCH_OP], "Operations": list(operations)})


def group(tenant: Tenant, name: str, *member_ids: str) -> str:
    response = tenant.post("/Groups", json={"schemas": [GROUP], "displayName": name,
                                            "members": [{"value": m} for m in member_ids]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def save_roles(admin: httpx.Client, mappings: dict[str, str], default: str = "member",
               source: str = "groups") -> httpx.Response:
    return admin.put("/roles", json={"default_role": default, "source": source,
                                     "mappings": [{"group_id": g, "role": r} for g, r in mappings.items()]})


def test_schemas_publish_the_workspace_roles(tenant: Tenant) -> None:
    """/Schemas: the User's roles.value has canonicalValues admin, editor, member (RFC 7643 §7)."""
    user = tenant.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").json()
    roles = next(a for a in user["attributes"] if a["name"] == "roles")
    assert roles["type"] == "complex" and roles["multiValued"] is True
    value = next(s for s in roles["subAttributes"] if s["name"] == "value")
    assert value["canonicalValues"] == ["admin", "editor", "member"]


def test_entra_single_app_role_assignment_on_post(tenant: Tenant, admin: httpx.Client) -> None:
    """SingleAppRoleAssignment: POST sends roles [{primary, type, value: "Admin"}]."""
    user = tenant.create_user("ada@example.com", roles=[
        {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}])
    assert user["roles"] == [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]
    assert role(admin, user["id"]) == "admin"


def test_entra_json_string_element_on_patch_add(tenant: Tenant, admin: httpx.Client) -> None:
    """PATCH add on roles whose element is the app role as a JSON string: decoded and stored in RFC
    form, the role's own value names the workspace role."""
    user = tenant.create_user("bob@example.com")
    assert role(admin, user["id"]) == "member"
    encoded = json.dumps({"id": "6b0b5a41-0000-4000-8000-000000000001", "value": "Editor",
                          "displayName": "Editor"})
    response = patch(tenant, f"/Users/{user['id']}", {"op": "Add", "path": "roles", "value": [encoded]})
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == [{"value": "Editor", "display": "Editor"}]
    assert role(admin, user["id"]) == "editor"


def test_entra_element_whose_value_is_a_json_string(tenant: Tenant, admin: httpx.Client) -> None:
    """An element whose ``value`` is the JSON-encoded app role: the role's own value is stored."""
    encoded = json.dumps({"id": "x", "value": "Admin", "displayName": "Administrator"})
    user = tenant.create_user("cy@example.com", roles=[{"value": encoded, "primary": True}])
    assert user["roles"] == [{"value": "Admin", "primary": True, "display": "Administrator"}]
    assert role(admin, user["id"]) == "admin"
    fetched = tenant.get(f"/Users/{user['id']}", params={"attributes": "roles"}).json()
    assert fetched["roles"] == [{"value": "Admin", "primary": True, "display": "Administrator"}]


def test_entra_assertive_complex_replace_takes_the_highest(tenant: Tenant, admin: httpx.Client) -> None:
    """AppRoleAssignmentsComplex: replace of the whole list; several roles: the highest wins;
    roles naming no workspace role are kept in SCIM and give the default."""
    user = tenant.create_user("di@example.com")
    response = patch(tenant, f"/Users/{user['id']}", {"op": "replace", "path": "roles", "value": [
        {"value": "Editor"}, {"value": "Admin"}, {"value": "Reader"}]})
    assert response.status_code == 200, response.text
    assert role(admin, user["id"]) == "admin"
    # admin no more: another admin is needed first (the guard), then replace with an unknown role
    tenant.create_user("keeper@example.com", roles=[{"value": "admin"}])
    response = patch(tenant, f"/Users/{user['id']}", {"op": "replace", "path": "roles",
                                                       "value": [{"value": "Reader"}]})
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == [{"value": "Reader"}]
    assert role(admin, user["id"]) == "member"


def test_okta_roles_attribute_as_strings(tenant: Tenant, admin: httpx.Client) -> None:
    """Okta's ``roles`` attribute sent as plain strings: each becomes ``{"value": ...}``."""
    user = tenant.create_user("ed@example.com", roles=["editor"])
    assert user["roles"] == [{"value": "editor"}]
    assert role(admin, user["id"]) == "editor"


def test_group_mapping_highest_wins_and_default(tenant: Tenant, admin: httpx.Client) -> None:
    """Okta group push / Entra groups: a mapped group gives its role, several give the highest,
    no mapped group gives the default; a membership change of a mapped group follows."""
    a = tenant.create_user("fa@example.com")["id"]
    b = tenant.create_user("fb@example.com")["id"]
    editors = group(tenant, "Editors", a, b)
    admins = group(tenant, "Admins", a)
    response = save_roles(admin, {editors: "editor", admins: "Admin"}, default="member")
    assert response.status_code == 200, response.text
    assert response.json()["changed"] == 2
    assert (role(admin, a), role(admin, b)) == ("admin", "editor")
    c = tenant.create_user("fc@example.com")["id"]
    assert role(admin, c) == "member"
    assert patch(tenant, f"/Groups/{admins}", {"op": "add", "path": "members",
                                               "value": [{"value": c}]}).status_code == 204
    assert role(admin, c) == "admin"
    assert patch(tenant, f"/Groups/{admins}", {"op": "remove",
                                               "path": f'members[value eq "{a}"]'}).status_code == 204
    assert role(admin, a) == "editor"
    settings = admin.get("/roles").json()
    assert {m["group_id"]: m["role"] for m in settings["mappings"]} == {editors: "editor", admins: "admin"}
    # a PUT replacing the member list of a mapped group
    assert tenant.put(f"/Groups/{editors}", json={"schemas": [GROUP], "displayName": "Editors",
                                                  "members": [{"value": c}]}).status_code == 200
    assert role(admin, b) == "member"
    # the mapped group deleted: its members lose the role it gave (c stays admin through Admins)
    assert tenant.delete(f"/Groups/{editors}").status_code == 204
    assert role(admin, c) == "admin"


def test_unknown_group_and_role_are_refused(tenant: Tenant, admin: httpx.Client) -> None:
    assert save_roles(admin, {"no-such-group": "admin"}).status_code == 400
    g = group(tenant, "G")
    assert save_roles(admin, {g: "owner"}).status_code == 400
    assert save_roles(admin, {}, default="root").status_code == 400
    assert save_roles(admin, {}, source="ldap").status_code == 400


def test_preview_shows_who_would_change_and_saves_nothing(tenant: Tenant, admin: httpx.Client) -> None:
    a = tenant.create_user("ga@example.com")["id"]
    b = tenant.create_user("gb@example.com")["id"]
    g = group(tenant, "Staff", a)
    body = {"default_role": "editor", "source": "groups", "mappings": [{"group_id": g, "role": "admin"}]}
    preview = admin.post("/roles/preview", json=body)
    assert preview.status_code == 200, preview.text
    found = {c["member_id"]: (c["from"], c["to"]) for c in preview.json()["changes"]}
    assert found == {a: ("member", "admin"), b: ("member", "editor")}
    assert preview.json()["refused"] is None
    assert (role(admin, a), role(admin, b)) == ("member", "member")
    assert admin.get("/roles").json() == {"default_role": "member", "source": "groups", "mappings": []}


def test_source_setting_decides_which_wins(tenant: Tenant, admin: httpx.Client) -> None:
    """``roles`` source: the roles attribute wins over the mapping; ``groups``: the mapping wins;
    either way the other source counts when the winner names no role."""
    a = tenant.create_user("ha@example.com", roles=[{"value": "editor"}])["id"]
    b = tenant.create_user("hb@example.com")["id"]
    g = group(tenant, "Admins", a, b)
    assert save_roles(admin, {g: "admin"}, source="groups").status_code == 200
    assert (role(admin, a), role(admin, b)) == ("admin", "admin")
    assert save_roles(admin, {g: "admin"}, source="roles").status_code == 200
    assert (role(admin, a), role(admin, b)) == ("editor", "admin")


def test_last_admin_cannot_be_deactivated_deleted_or_demoted(tenant: Tenant, admin: httpx.Client) -> None:
    """The change removing the workspace's last active admin is refused: 400 mutability in SCIM
    (logged in the provisioning log), 409 in the admin API; nothing changes."""
    only = tenant.create_user("ia@example.com", roles=[{"value": "admin"}])["id"]
    for response in (
        patch(tenant, f"/Users/{only}", {"op": "replace", "path": "active", "value": False}),
        patch(tenant, f"/Users/{only}", {"op": "remove", "path": "roles"}),
        tenant.delete(f"/Users/{only}"),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["scimType"] == "mutability"
        assert "without an admin" in response.json()["detail"]
    assert tenant.get(f"/Users/{only}").json()["active"] is True
    assert role(admin, only) == "admin"
    # demotion through the mapping: the group gives editor, the source makes groups win
    g = group(tenant, "Everyone", only)
    refused = save_roles(admin, {g: "editor"}, source="groups")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "last_admin"
    preview = admin.post("/roles/preview", json={"default_role": "member", "source": "groups",
                                                 "mappings": [{"group_id": g, "role": "editor"}]}).json()
    assert preview["refused"] and preview["total"] == 1
    assert role(admin, only) == "admin"
    # with a second admin the same changes pass
    tenant.create_user("ib@example.com", roles=[{"value": "Admin"}])
    assert patch(tenant, f"/Users/{only}", {"op": "replace", "path": "active",
                                            "value": False}).status_code == 200
    events = admin.get("/roles")  # the API still answers; the refusals were audited as 400s
    assert events.status_code == 200


def test_mapped_group_removing_last_admin_is_refused(tenant: Tenant, admin: httpx.Client) -> None:
    a = tenant.create_user("ja@example.com")["id"]
    g = group(tenant, "Admins", a)
    assert save_roles(admin, {g: "admin"}).status_code == 200
    response = patch(tenant, f"/Groups/{g}", {"op": "remove", "path": f'members[value eq "{a}"]'})
    assert response.status_code == 400 and response.json()["scimType"] == "mutability"
    assert role(admin, a) == "admin"
    assert tenant.delete(f"/Groups/{g}").status_code == 400


def race(tenant: Tenant, requests: list[tuple[str, str, dict[str, Any]]]) -> list[int]:
    """Send ``requests`` (method, path, JSON body) at the same moment, each on its own
    connection; their statuses, in order."""
    barrier = threading.Barrier(len(requests))
    statuses = [0] * len(requests)

    def send(index: int) -> None:
        method, path, body = requests[index]
        with httpx.Client(base_url=tenant.server.base_url, headers=tenant.client.headers, timeout=60) as http:
            barrier.wait()
            statuses[index] = http.request(method, path, json=body).status_code

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_concurrent_deactivations_keep_one_admin(tenant: Tenant) -> None:
    """A workspace's two admins deactivated at the same moment, in fresh workspaces again and
    again: never both (PostgreSQL's advisory lock, SQLite's single writer)."""
    deactivate = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    for round_number in range(6):
        workspace = make_tenant(tenant.server)
        ids = [workspace.create_user(f"k{n}@example.com", roles=[{"value": "admin"}])["id"] for n in range(2)]
        statuses = race(workspace, [("PATCH", f"/Users/{m}", deactivate) for m in ids])
        assert sorted(statuses) == [200, 400], (round_number, statuses)
        assert sum(workspace.get(f"/Users/{m}").json()["active"] for m in ids) == 1
        workspace.client.close()


def role_events(admin: httpx.Client, member_id: str) -> list[dict[str, Any]]:
    response = admin.get("/events", params={"type": "member.role_changed", "limit": 1000})
    assert response.status_code == 200, response.text
    return [e for e in response.json()["data"] if e["resource"]["id"] == member_id]


def test_a_role_change_is_a_member_role_changed_event(tenant: Tenant, admin: httpx.Client) -> None:
    """Each change of a member's role is one ``member.role_changed`` event with the roles before
    and after, committed with the change (issue 15 and 16); a refused change makes none."""
    a = tenant.create_user("ev-a@example.com")["id"]
    b = tenant.create_user("ev-b@example.com")["id"]
    editors = group(tenant, "Event editors", b)
    assert save_roles(admin, {editors: "editor"}).status_code == 200
    [saved] = role_events(admin, b)
    assert (saved["data"]["before"], saved["data"]["after"]) == ("member", "editor")
    assert role_events(admin, a) == []
    assert patch(tenant, f"/Groups/{editors}", {"op": "add", "path": "members",
                                                "value": [{"value": a}]}).status_code == 204
    [joined] = role_events(admin, a)
    assert (joined["data"]["before"], joined["data"]["after"]) == ("member", "editor")
    assert joined["seq"] > saved["seq"]
