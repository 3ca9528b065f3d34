"""The domain-change story as Entra sends it, and what members own surviving every identity
change (issue 7 §4-5; docs/identity-providers.md §2.4 for the PATCH shapes, RFC 7644 §3.5.2, §3.6)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select, update

from scimgate.services import owned
from scimgate.storage.db import transaction
from scimgate.storage.models import Agent, Chat, GroupMember, Workspace
from tests.dns_server import DnsZone
from tests.support import LiveServer, Tenant, admin_client, make_tenant

pytestmark = pytest.mark.dns  # the live server resolves through the test DNS server (`zone`)

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTRA = {"User-Agent": "Azure AD SCIM Client"}




@dataclass
class Owned:
    """What the database holds for one member: owned rows and group memberships."""

    chats: int
    agents: int
    groups: set[str]


def snapshot(tenant: Tenant, member_id: str) -> Owned:
    with tenant.server.sessions() as session:
        def count(table: type[Chat] | type[Agent]) -> int:
            query = select(func.count()).select_from(table).where(table.member_id == member_id)
            return int(session.scalar(query) or 0)
        groups = set(session.scalars(select(GroupMember.group_id).where(GroupMember.member_id == member_id)))
        return Owned(count(Chat), count(Agent), groups)


def entra_user(user_name: str) -> dict[str, Any]:
    """Entra's POST /Users body for a non-gallery app (docs/identity-providers.md §2.2)."""
    return {
        "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "alice", "userName": user_name, "active": True, "displayName": "Alice Example",
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "name": {"formatted": "Alice Example", "familyName": "Example", "givenName": "Alice"},
    }


def entra_domain_change(user_name: str) -> dict[str, Any]:
    """Entra's PATCH after the admin changes the user's UPN and mail (docs/identity-providers.md §2.4 (b))."""
    return {"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "userName", "value": user_name},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": user_name},
    ]}


def provision_alice(tenant: Tenant, user_name: str = "alice@old.example") -> dict[str, Any]:
    """Entra's create, a group with alice in it, and sample chats/agents she owns."""
    r = tenant.post("/Users?aadOptscim062020", json=entra_user(user_name), headers=ENTRA)
    assert r.status_code == 201, r.text
    alice = dict(r.json())
    r = tenant.post("/Groups", json={"schemas": [GROUP], "displayName": "Engineering", "externalId": "eng"})
    assert r.status_code == 201, r.text
    group_id = r.json()["id"]
    r = tenant.patch(f"/Groups/{group_id}", headers=ENTRA, json={"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": alice["id"]}]}]})
    assert r.status_code in (200, 204), r.text
    with transaction(tenant.server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        owned.create_sample_data(session, workspace, alice["id"], chats=3, agents=2)
    assert snapshot(tenant, alice["id"]) == Owned(3, 2, {group_id})
    return alice


def test_entra_domain_change_keeps_id_memberships_and_owned_rows(live_server: LiveServer) -> None:
    """old.example and new.example verified: Entra's PATCH of userName and the work email
    succeeds; id, group memberships, chats and agents stay (issue 7 §4)."""
    tenant = make_tenant(live_server, domains=("old.example", "new.example"))
    alice = provision_alice(tenant)
    before = snapshot(tenant, alice["id"])
    r = tenant.patch(f"/Users/{alice['id']}", json=entra_domain_change("alice@new.example"), headers=ENTRA)
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["id"] == alice["id"] and changed["userName"] == "alice@new.example"
    assert changed["emails"] == [{"primary": True, "type": "work", "value": "alice@new.example"}]
    assert [g["value"] for g in changed["groups"]] == list(before.groups)
    assert snapshot(tenant, alice["id"]) == before
    found = tenant.get('/Users?filter=userName+eq+"alice@new.example"').json()["Resources"]
    assert [u["id"] for u in found] == [alice["id"]]
    assert tenant.get('/Users?filter=userName+eq+"alice@old.example"').json()["totalResults"] == 0
    tenant.client.close()


def test_domain_change_to_unverified_domain_fails_until_verified_then_retry_succeeds(
        live_server: LiveServer, zone: DnsZone) -> None:
    """new.example pending: the same PATCH is 400 and alice is unchanged; after DNS verification
    Entra's retry of the identical request succeeds (issue 7 §4)."""
    tenant = make_tenant(live_server, domains=("old.example",))
    new = f"new-{uuid.uuid4().hex[:8]}.example"  # new.example is verified by another test's workspace
    alice = provision_alice(tenant)
    before = snapshot(tenant, alice["id"])
    # alice's ETag as it stands once she is in her groups (a user's ETag covers its groups)
    version = tenant.get(f"/Users/{alice['id']}").json()["meta"]["version"]
    with admin_client(tenant) as admin:
        record = admin.post("/domains", json={"name": new}).json()["verification"]
        request = entra_domain_change(f"alice@{new}")
        r = tenant.patch(f"/Users/{alice['id']}", json=request, headers=ENTRA)
        assert r.status_code == 400 and r.json()["scimType"] == "invalidValue"
        assert f"add and verify {new} in the workspace's security settings" in r.json()["detail"]
        unchanged = tenant.get(f"/Users/{alice['id']}").json()
        assert unchanged["userName"] == "alice@old.example"
        assert unchanged["emails"][0]["value"] == "alice@old.example"
        assert unchanged["meta"]["version"] == version
        zone.empty.add(new)
        zone.add_txt(f"_scimgate.{new}", record["value"])
        assert admin.post(f"/domains/{new}/verify").json()["verified"] is True
    r = tenant.patch(f"/Users/{alice['id']}", json=request, headers=ENTRA)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == alice["id"] and r.json()["userName"] == f"alice@{new}"
    assert snapshot(tenant, alice["id"]) == before
    tenant.client.close()


def test_flagged_entra_patch_with_lower_case_ops_changes_domain(live_server: LiveServer) -> None:
    """With aadOptscim062020 Entra sends lower-case ops and a pathless replace (identity-providers.md §2.4
    (c))."""
    tenant = make_tenant(live_server, domains=("old.example", "new.example"))
    alice = provision_alice(tenant)
    before = snapshot(tenant, alice["id"])
    r = tenant.patch(f"/Users/{alice['id']}?aadOptscim062020", headers=ENTRA, json={
        "schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "alice@new.example"},
            {"op": "replace", "value": {"userName": "alice@new.example", "displayName": "Alice N."}}]})
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["userName"]) == (alice["id"], "alice@new.example")
    assert snapshot(tenant, alice["id"]) == before
    tenant.client.close()


def test_every_identity_change_keeps_owned_rows_and_delete_removes_them(live_server: LiveServer) -> None:
    """Email change, deactivate, reactivate, rename, PUT and domain change keep the rows attached
    to the same id; DELETE keeps them in Recently removed, or under the purge policy removes chats,
    agents and memberships (FK cascade; docs/decisions.md, "Roles and leaving")."""
    tenant = make_tenant(live_server, domains=("old.example", "new.example"))
    alice = provision_alice(tenant)
    member = f"/Users/{alice['id']}"
    before = snapshot(tenant, alice["id"])

    def patch(*operations: dict[str, Any]) -> dict[str, Any]:
        r = tenant.patch(member, json={"schemas": [PATCH_OP], "Operations": list(operations)}, headers=ENTRA)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == alice["id"]
        assert snapshot(tenant, alice["id"]) == before
        return dict(r.json())

    patch({"op": "Replace", "path": 'emails[type eq "work"].value', "value": "alice.e@old.example"})
    assert patch({"op": "Replace", "path": "active", "value": False})["active"] is False
    assert patch({"op": "Replace", "path": "active", "value": True})["active"] is True
    renamed = patch({"op": "Replace", "path": "userName", "value": "a.example@old.example"},
                    {"op": "Replace", "path": "displayName", "value": "A. Example"})
    assert renamed["userName"] == "a.example@old.example"
    r = tenant.put(member, json={**entra_user("alice@new.example"), "displayName": "Alice (PUT)"})
    assert r.status_code == 200 and r.json()["id"] == alice["id"], r.text
    assert snapshot(tenant, alice["id"]) == before
    patch(*entra_domain_change("alice@old.example")["Operations"])

    # DELETE under the default "keep" policy: out of SCIM and its groups, what it owns kept in
    # Recently removed (services.leaving); the purge policy deletes it with what it owns.
    assert tenant.delete(member).status_code == 204
    assert snapshot(tenant, alice["id"]) == Owned(before.chats, before.agents, set())
    assert tenant.get(member).status_code == 404
    with tenant.server.sessions.begin() as session:
        session.execute(update(Workspace).where(Workspace.id == tenant.workspace_id)
                        .values(deletion_policy="purge"))
    again = tenant.post("/Users?aadOptscim062020", json=entra_user("alice@new.example"), headers=ENTRA)
    assert again.status_code == 201 and again.json()["id"] == alice["id"]  # same externalId: restored
    assert snapshot(tenant, alice["id"]) == Owned(before.chats, before.agents, set())
    assert tenant.delete(member).status_code == 204
    assert snapshot(tenant, alice["id"]) == Owned(0, 0, set())
    assert tenant.get(member).status_code == 404
    tenant.client.close()
