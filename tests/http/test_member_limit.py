"""At most 10,000 group members per request (scim.limits), refused before any work: POST, PUT
and PATCH naming 10,001 are 400 invalidValue and change nothing; 10,000 pass the limit (and
meet the next rule, here an unknown member). Both databases."""

from __future__ import annotations

import uuid
from typing import Any

from scimgate.scim.limits import MAX_MEMBERS_PER_REQUEST
from tests.support import Tenant

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def members(count: int) -> list[dict[str, str]]:
    return [{"value": str(uuid.uuid4())} for _ in range(count)]


def group_body(name: str, count: int) -> dict[str, Any]:
    return {"schemas": [GROUP_SCHEMA], "displayName": name, "members": members(count)}


def assert_limit(response: Any, count: int) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["scimType"] == "invalidValue"
    assert "at most 10,000" in body["detail"] and f"{count:,}" in body["detail"]


def test_more_members_than_the_limit_are_refused_and_change_nothing(tenant: Tenant) -> None:
    over = MAX_MEMBERS_PER_REQUEST + 1
    assert_limit(tenant.post("/Groups", json=group_body("Too big", over)), over)
    assert tenant.get("/Groups", params={"filter": 'displayName eq "Too big"'}).json()["totalResults"] == 0
    group = tenant.post("/Groups", json=group_body("Team", 0)).json()
    assert_limit(tenant.put(f"/Groups/{group['id']}", json=group_body("Team renamed", over)), over)
    add = {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": members(over)}]}
    assert_limit(tenant.patch(f"/Groups/{group['id']}", json=add), over)
    split = {"schemas": [PATCH_OP], "Operations": [  # counted over every operation of the request
        {"op": "add", "path": "members", "value": members(over // 2)},
        {"op": "add", "path": "members", "value": members(over - over // 2)}]}
    assert_limit(tenant.patch(f"/Groups/{group['id']}", json=split), over)
    after = tenant.get(f"/Groups/{group['id']}").json()
    assert after["displayName"] == "Team" and not after.get("members")
    assert after["meta"]["version"] == group["meta"]["version"]


def test_the_limit_itself_is_allowed(tenant: Tenant) -> None:
    group = tenant.post("/Groups", json=group_body("Team", 0)).json()
    add = {"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": members(MAX_MEMBERS_PER_REQUEST)}]}
    response = tenant.patch(f"/Groups/{group['id']}", json=add)
    assert response.status_code == 400, response.text  # past the limit check: the ids are unknown
    assert "at most" not in response.json()["detail"]
