"""Every SCIM change produces exactly its events, in the change's transaction, read back through
the events API (admin key) in seq order; failed changes produce none (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scimgate.services import workspaces
from scimgate.storage.db import transaction
from scimgate.storage.models import Workspace
from tests.support import USER_SCHEMA, Tenant, admin_client

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
WORK_EMAIL = 'emails[type eq "work"].value'


@pytest.fixture
def admin(tenant: Tenant) -> Iterator[httpx.Client]:
    client = admin_client(tenant)
    yield client
    client.close()


def events_after(admin: httpx.Client, cursor: str | None = None,
                 **params: Any) -> tuple[list[dict[str, Any]], str]:
    query = {"limit": 1000, **params}
    if cursor:
        query["after"] = cursor
    response = admin.get("/events", params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["data"], body["next"]


def _patch(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": ops}


def test_user_lifecycle_events(tenant: Tenant, admin: httpx.Client) -> None:
    """create, update, deactivate, reactivate, email change, delete: each its events, in order,
    with the representation, the changed attribute names and before/after values."""
    setup, start = events_after(admin)
    assert [e["type"] for e in setup] == ["workspace.sync_changed"]  # the fixture turned SCIM sync on
    user = tenant.create_user("ada@example.com", name={"givenName": "Ada", "familyName": "L"},
                              emails=[{"value": "ada@example.com", "type": "work", "primary": True}])
    uid = user["id"]
    assert tenant.patch(f"/Users/{uid}", json=_patch([{"op": "replace", "path": "name.givenName",
                                                      "value": "Augusta"}])).status_code == 200
    assert tenant.patch(f"/Users/{uid}", json=_patch([{"op": "replace", "path": "active",
                                                      "value": False}])).status_code == 200
    assert tenant.patch(f"/Users/{uid}", json=_patch([{"op": "replace", "path": "active",
                                                      "value": True}])).status_code == 200
    assert tenant.patch(f"/Users/{uid}", json=_patch([{"op": "replace", "path": WORK_EMAIL,
                                                      "value": "augusta@example.com"}])).status_code == 200
    # a PATCH that changes nothing and a refused one produce no event
    assert tenant.patch(f"/Users/{uid}", json=_patch([{"op": "replace", "path": "active",
                                                      "value": True}])).status_code == 200
    assert tenant.patch(f"/Users/{uid}", json=_patch([{"op": "replace", "path": WORK_EMAIL,
                                                      "value": "a@elsewhere.test"}])).status_code == 400
    assert tenant.delete(f"/Users/{uid}").status_code == 204

    events, _ = events_after(admin, start)
    assert [e["type"] for e in events] == [
        "member.created", "member.updated", "member.updated", "member.deactivated", "member.updated",
        "member.reactivated", "member.updated", "member.email_changed", "member.deleted",
    ]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert len({e["seq"] for e in events}) == len(events) == events[-1]["seq"] - events[0]["seq"] + 1
    assert {e["resource"]["id"] for e in events} == {uid}
    assert {e["actor"]["type"] for e in events} == {"scim"}  # httpx's User-Agent: neither Entra nor Okta
    assert events[0]["data"]["resource"]["userName"] == "ada@example.com"
    renamed = events[1]["data"]
    assert renamed["changed"] == ["name.givenName"]
    assert renamed["before"] == {"name.givenName": "Ada"}
    assert renamed["after"] == {"name.givenName": "Augusta"}
    assert events[2]["data"]["changed"] == ["active"]
    assert events[3]["data"]["resource"]["active"] is False
    assert events[7]["data"]["before"] == ["ada@example.com"]
    assert events[7]["data"]["after"] == ["augusta@example.com"]
    assert events[8]["data"]["resource"]["emails"][0]["value"] == "augusta@example.com"


def test_entra_actor_and_password_never_shown(tenant: Tenant, admin: httpx.Client) -> None:
    """The actor follows the client (Entra's User-Agent); a password change names the
    attribute, never its value."""
    _, start = events_after(admin)
    entra = {"User-Agent": "Azure Active Directory SCIM Client"}
    response = tenant.post("/Users", json={"schemas": [USER_SCHEMA], "userName": "pw@example.com",
                                           "password": "Secret-1-never-shown"}, headers=entra)
    assert response.status_code == 201
    uid = response.json()["id"]
    assert tenant.patch(f"/Users/{uid}", json=_patch([{"op": "replace", "path": "password",
                                                      "value": "Secret-2-never-shown"}]),
                        headers=entra).status_code == 200
    events, _ = events_after(admin, start)
    assert {e["actor"]["type"] for e in events} == {"entra"}
    assert "Secret-" not in str(events)
    updates = [e for e in events if e["type"] == "member.updated"]
    if updates:  # a server that does not store passwords produces no change at all
        assert updates[0]["data"]["changed"] == ["password"]
        assert updates[0]["data"]["before"] == {} == updates[0]["data"]["after"]


def test_group_membership_events(tenant: Tenant, admin: httpx.Client) -> None:
    """One event per member added or removed, also for a bulk PATCH and a PUT that replaces the
    list; group rename is group.updated; deleting a member or a nested group removes it from its
    groups; a refused PATCH produces nothing."""
    users = [tenant.create_user(f"m{n}@example.com")["id"] for n in range(300)]
    _, cursor = events_after(admin)
    created = tenant.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Eng",
                                           "members": [{"value": users[0]}]})
    assert created.status_code == 201
    gid = created.json()["id"]
    bulk = _patch([{"op": "add", "path": "members", "value": [{"value": u} for u in users[1:]]}])
    assert tenant.patch(f"/Groups/{gid}", json=bulk).status_code == 204
    refused = _patch([{"op": "add", "path": "members", "value": [{"value": "not-a-member"}]}])
    assert tenant.patch(f"/Groups/{gid}", json=refused).status_code == 400
    assert tenant.patch(f"/Groups/{gid}", json=_patch([{"op": "replace", "path": "displayName",
                                                       "value": "Engineering"}])).status_code == 204
    put = {"schemas": [GROUP_SCHEMA], "displayName": "Engineering",
           "members": [{"value": u} for u in users[:10]]}
    assert tenant.put(f"/Groups/{gid}", json=put).status_code == 200
    assert tenant.delete(f"/Users/{users[0]}").status_code == 204
    assert tenant.delete(f"/Groups/{gid}").status_code == 204

    events, _ = events_after(admin, cursor)
    types = [e["type"] for e in events]
    assert types[0] == "group.created"
    added = [e for e in events if e["type"] == "group.member_added"]
    assert [e["data"]["member"]["id"] for e in added] == users
    assert all(e["resource"] == {"type": "Group", "id": gid} for e in added)
    assert types[301] == "group.updated"
    assert events[301]["data"]["changed"] == ["displayName"]
    assert events[301]["data"]["before"] == {"displayName": "Eng"}
    removed = [e["data"]["member"]["id"] for e in events[302:]
               if e["type"] == "group.member_removed"]
    assert sorted(removed[:290]) == sorted(users[10:])
    assert removed[290:] == [users[0]]
    assert types[-2:] == ["member.deleted", "group.deleted"]
    assert events[-1]["data"]["resource"]["displayName"] == "Engineering"
    assert "members" not in events[-1]["data"]["resource"]


def test_sync_switch_and_type_filter(tenant: Tenant, admin: httpx.Client) -> None:
    """workspace.sync_changed for a switch that changed (not for one set to its value); the type
    filter reads only those types; errors are the admin API's JSON."""
    _, start = events_after(admin)
    with transaction(tenant.server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        workspaces.set_group_sync(session, workspace, False)
        workspaces.set_group_sync(session, workspace, False)
        workspaces.set_group_sync(session, workspace, True)
    tenant.create_user("t@example.com")
    events, _ = events_after(admin, start, type="workspace.sync_changed")
    assert [(e["data"]["changed"], e["data"]["group_sync_active"], e["actor"]["type"]) for e in events] == [
        (["group_sync_active"], False, "system"), (["group_sync_active"], True, "system")]
    both, _ = events_after(admin, start, type="workspace.sync_changed,member.created")
    assert [e["type"] for e in both] == ["workspace.sync_changed"] * 2 + ["member.created"]
    for params, status in (({"type": "member.nope"}, 400), ({"limit": 0}, 400), ({"limit": 1001}, 400),
                           ({"after": "bm90LWEtY3Vyc29y"}, 400), ({"after": "!!"}, 400)):
        response = admin.get("/events", params=params)
        assert response.status_code == status
        assert response.json()["error"]["code"] == "invalid"
    assert httpx.get(tenant.server.url + "/api/admin/v1/events").json()["error"]["code"] == "unauthorized"
    scim_token = httpx.get(tenant.server.url + "/api/admin/v1/events",
                           headers={"Authorization": f"Bearer {tenant.token}"})
    assert scim_token.status_code == 401
