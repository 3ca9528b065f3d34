"""An ETag changes whenever the representation it stands for changes, derived attributes included
(RFC 7644 §3.14, RFC 7232 §2.3): a user's ``groups`` after a group PATCH, a group's ``members``
after a member is deleted or renamed; a group PATCH answered 204 carries the new ETag. Both
databases, over HTTP."""

from __future__ import annotations

from typing import Any

from tests.support import Tenant

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def etag(tenant: Tenant, path: str) -> str:
    response = tenant.get(path)
    assert response.status_code == 200, response.text
    return str(response.headers["etag"])


def test_a_users_etag_follows_its_groups(tenant: Tenant) -> None:
    user = tenant.create_user("ada@example.com")
    group = tenant.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Team"}).json()
    before = etag(tenant, f"/Users/{user['id']}")
    added = tenant.patch(f"/Groups/{group['id']}", json=patch(
        {"op": "add", "path": "members", "value": [{"value": user["id"]}]}))
    assert added.status_code == 204, added.text
    assert added.headers["etag"] == etag(tenant, f"/Groups/{group['id']}")  # 204 carries the new ETag
    conditional = tenant.get(f"/Users/{user['id']}", headers={"If-None-Match": before})
    assert conditional.status_code == 200  # not 304: the user's groups changed
    assert [g["value"] for g in conditional.json()["groups"]] == [group["id"]]
    assert conditional.headers["etag"] != before
    same = tenant.get(f"/Users/{user['id']}", headers={"If-None-Match": conditional.headers["etag"]})
    assert same.status_code == 304


def test_a_groups_etag_follows_its_members(tenant: Tenant) -> None:
    ada = tenant.create_user("ada@example.com", displayName="Ada")
    bob = tenant.create_user("bob@example.com")
    group = tenant.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Team",
                                         "members": [{"value": ada["id"]}, {"value": bob["id"]}]}).json()
    first = etag(tenant, f"/Groups/{group['id']}")
    renamed = tenant.patch(f"/Users/{ada['id']}", json=patch(
        {"op": "replace", "path": "displayName", "value": "Ada L."}))
    assert renamed.status_code == 200, renamed.text
    second = etag(tenant, f"/Groups/{group['id']}")
    assert second != first  # members.display changed
    assert tenant.delete(f"/Users/{bob['id']}").status_code == 204
    stale = tenant.get(f"/Groups/{group['id']}", headers={"If-None-Match": second})
    assert stale.status_code == 200 and [m["value"] for m in stale.json()["members"]] == [ada["id"]]
