"""/Groups over HTTP: CRUD, membership as set operations, responses, lifecycle, group sync switch.

RFC 7643 §4.2, RFC 7644 §3.3-§3.6; Entra (identity-providers.md §3, both PATCH dialects) and Okta (§7) group
shapes; the group cases C08 C09 C11 C13 C15 C21 of the golden cases (tests/conformance/<idp>/*.json).
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from scimgate import cli
from scimgate.storage.db import transaction
from scimgate.storage.models import AuditEvent, GroupMember
from tests.support import Tenant, make_tenant

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def _group(tenant: Tenant, name: str, members: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [GROUP], "displayName": name, **extra}
    if members is not None:
        body["members"] = [{"value": member_id} for member_id in members]
    response = tenant.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _users(tenant: Tenant, *names: str) -> list[str]:
    return [tenant.create_user(f"{name}@example.com")["id"] for name in names]


def _patch(tenant: Tenant, group_id: str, *operations: dict[str, Any], query: str = "") -> httpx.Response:
    return tenant.patch(
        f"/Groups/{group_id}{query}", json={"schemas": [PATCH_OP], "Operations": list(operations)}
    )


def _member_ids(tenant: Tenant, group_id: str) -> set[str]:
    response = tenant.get(f"/Groups/{group_id}")
    assert response.status_code == 200, response.text
    return {member["value"] for member in response.json().get("members") or []}


def _filter(tenant: Tenant, expression: str, extra: str = "") -> dict[str, Any]:
    response = tenant.get(
        "/Groups", params={"filter": expression, **({"excludedAttributes": extra} if extra else {})}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


# -- create, read, list, replace, delete -----------------------------------------------------


def test_entra_create_with_microsoft_schema_uri(tenant: Tenant) -> None:
    """Entra's POST (identity-providers.md §3): the ADSCIM schema URI is ignored; 201 + Location + ETag, no
    members."""
    response = tenant.post(
        "/Groups",
        json={
            "schemas": [GROUP, MS_GROUP],
            "externalId": "e-1",
            "displayName": "Engineering",
            "meta": {"resourceType": "Group"},
        },
    )
    assert response.status_code == 201, response.text
    group = response.json()
    assert group["schemas"] == [GROUP]
    assert (group["displayName"], group["externalId"]) == ("Engineering", "e-1")
    assert (
        response.headers["location"]
        == group["meta"]["location"]
        == f"{tenant.server.base_url}/Groups/{group['id']}"
    )
    assert response.headers["etag"] == group["meta"]["version"]
    assert group["meta"]["resourceType"] == "Group"
    assert not group.get("members")


def test_create_with_members_renders_value_display_ref_type(tenant: Tenant) -> None:
    """POST with members (RFC 7643 §4.2): each member comes back as {value, display, $ref, type}."""
    ada = tenant.create_user("ada@example.com", displayName="Ada L")["id"]
    bob = tenant.create_user("bob@example.com")["id"]
    group = _group(tenant, "Pilots", [ada, bob])
    members = {member["value"]: member for member in group["members"]}
    assert members[ada] == {
        "value": ada,
        "display": "Ada L",
        "$ref": f"{tenant.server.base_url}/Users/{ada}",
        "type": "User",
    }
    assert members[bob]["display"] == "bob@example.com"
    assert _member_ids(tenant, group["id"]) == {ada, bob}


def test_okta_create_with_empty_members(tenant: Tenant) -> None:
    """Okta Push Groups create (docs/identity-providers.md §7): ``members: []`` gets 201."""
    response = tenant.post("/Groups", json={"schemas": [GROUP], "displayName": "Okta Pushed", "members": []})
    assert response.status_code == 201, response.text
    assert not response.json().get("members")


def test_create_with_unknown_member_is_400_and_creates_nothing(tenant: Tenant) -> None:
    """A member id that is no User or Group of the workspace: 400 invalidValue, no group (C09 check)."""
    response = tenant.post("/Groups", json={"displayName": "Ghosts", "members": [{"value": "no-such-id"}]})
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert _filter(tenant, 'displayName eq "Ghosts"')["totalResults"] == 0


def test_duplicate_display_name_any_case_is_409(tenant: Tenant) -> None:
    """displayName is unique per workspace, case-insensitive (Entra requirement, Validator duplicate test)."""
    _group(tenant, "Sales")
    response = tenant.post("/Groups", json={"displayName": "SALES"})
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"


def test_concurrent_duplicate_creates_give_one_201(tenant: Tenant) -> None:
    """Concurrent POSTs of one displayName: the unique index lets exactly one win, the rest get 409."""
    statuses: list[int] = []

    def post() -> None:
        with httpx.Client(
            base_url=tenant.server.base_url, headers=dict(tenant.client.headers), timeout=30
        ) as client:
            statuses.append(client.post("/Groups", json={"displayName": "Race"}).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 5


def test_rename_to_taken_name_is_409(tenant: Tenant) -> None:
    """A rename (PATCH replace displayName) onto another group's name, any case: 409 uniqueness."""
    _group(tenant, "Alpha")
    beta = _group(tenant, "Beta")
    response = _patch(tenant, beta["id"], {"op": "replace", "path": "displayName", "value": "alpha"})
    assert response.status_code == 409
    assert tenant.get(f"/Groups/{beta['id']}").json()["displayName"] == "Beta"


def test_get_unknown_and_other_workspace_group_is_404(tenant: Tenant) -> None:
    """GET /Groups/{id} is scoped to the token's workspace (RFC 7644 §3.4.1, tenancy)."""
    group = _group(tenant, "Mine")
    other = make_tenant(tenant.server)
    try:
        assert other.get(f"/Groups/{group['id']}").status_code == 404
        assert (
            other.patch(
                f"/Groups/{group['id']}",
                json={
                    "schemas": [PATCH_OP],
                    "Operations": [{"op": "replace", "path": "displayName", "value": "Stolen"}],
                },
            ).status_code
            == 404
        )
    finally:
        other.client.close()
    assert tenant.get("/Groups/00000000-0000-0000-0000-000000000000").status_code == 404


def test_list_filters_display_name_case_insensitive_external_id_and_id(tenant: Tenant) -> None:
    """displayName eq matches any case (Validator), externalId eq and id eq (RFC 7644 §3.4.2.2)."""
    group = _group(tenant, "Support Team", externalId="ext-7")
    _group(tenant, "Other")
    for expression in ('displayName eq "support team"', 'externalId eq "ext-7"', f'id eq "{group["id"]}"'):
        found = _filter(tenant, expression)
        assert [r["id"] for r in found["Resources"]] == [group["id"]], expression
    assert _filter(tenant, 'externalId eq "EXT-7"')["totalResults"] == 0  # externalId is caseExact


def test_list_filters_on_members(tenant: Tenant) -> None:
    """``members[value eq]``, ``members eq`` and Entra's ``id eq .. and members eq ..``
    (identity-providers.md §3)."""
    ada, bob = _users(tenant, "ada", "bob")
    with_ada = _group(tenant, "With Ada", [ada])
    _group(tenant, "With Bob", [bob])
    assert [r["id"] for r in _filter(tenant, f'members[value eq "{ada}"]')["Resources"]] == [with_ada["id"]]
    assert [r["id"] for r in _filter(tenant, f'members eq "{ada}"')["Resources"]] == [with_ada["id"]]
    both = _filter(tenant, f'id eq "{with_ada["id"]}" and members eq "{ada}"', "members")
    assert both["totalResults"] == 1 and "members" not in both["Resources"][0]
    assert _filter(tenant, f'id eq "{with_ada["id"]}" and members eq "{bob}"')["totalResults"] == 0


def test_list_pages_groups(tenant: Tenant) -> None:
    """startIndex/count page groups with integer totals (Okta imports groups like users,
    identity-providers.md §7)."""
    for n in range(5):
        _group(tenant, f"Page {n}")
    first = tenant.get("/Groups?startIndex=1&count=2&sortBy=displayName").json()
    third = tenant.get("/Groups?startIndex=5&count=2&sortBy=displayName").json()
    assert first["totalResults"] == 5 and first["itemsPerPage"] == 2
    assert [r["displayName"] for r in first["Resources"]] == ["Page 0", "Page 1"]
    assert [r["displayName"] for r in third["Resources"]] == ["Page 4"]


def test_search_endpoint_lists_groups(tenant: Tenant) -> None:
    """POST /Groups/.search takes a SearchRequest (RFC 7644 §3.4.3); other methods there are 405."""
    group = _group(tenant, "Searched")
    _group(tenant, "Not Searched")
    response = tenant.post(
        "/Groups/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'displayName eq "searched"',
            "excludedAttributes": ["members"],
        },
    )
    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()["Resources"]] == [group["id"]]
    assert tenant.get("/Groups/.search").status_code == 405


def test_too_long_display_name_is_400(tenant: Tenant) -> None:
    """A displayName longer than its column: 400 invalidValue, not a database error (RFC 7644 §3.12)."""
    response = tenant.post("/Groups", json={"displayName": "x" * 600})
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"


def test_put_replaces_names_and_member_set(tenant: Tenant) -> None:
    """PUT replaces displayName, externalId and the member list (RFC 7644 §3.5.1; case C11 via PUT)."""
    ned, ola, pat = _users(tenant, "ned", "ola", "pat")
    group = _group(tenant, "Put Me", [ned, ola], externalId="old")
    response = tenant.put(
        f"/Groups/{group['id']}",
        json={"schemas": [GROUP], "displayName": "Put Done", "members": [{"value": ola}, {"value": pat}]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["displayName"] == "Put Done" and "externalId" not in body
    assert {m["value"] for m in body["members"]} == {ola, pat}
    assert _member_ids(tenant, group["id"]) == {ola, pat}
    assert body["meta"]["version"] != group["meta"]["version"]


def test_put_without_members_empties_the_group(tenant: Tenant) -> None:
    """PUT without ``members`` replaces the list with nothing (RFC 7644 §3.5.1)."""
    (ada,) = _users(tenant, "ada")
    group = _group(tenant, "Emptied", [ada])
    assert tenant.put(f"/Groups/{group['id']}", json={"displayName": "Emptied"}).status_code == 200
    assert _member_ids(tenant, group["id"]) == set()


def test_delete_then_404(tenant: Tenant) -> None:
    """DELETE /Groups/{id} answers 204, then GET and DELETE answer 404 (RFC 7644 §3.6)."""
    group = _group(tenant, "Doomed")
    assert tenant.delete(f"/Groups/{group['id']}").status_code == 204
    assert tenant.get(f"/Groups/{group['id']}").status_code == 404
    assert tenant.delete(f"/Groups/{group['id']}").status_code == 404


# -- membership as rows ---------------------------------------------------------------------


def test_entra_add_several_members_with_null_ref(tenant: Tenant) -> None:
    """Entra ``Add`` of members with ``$ref: null`` and no type, several per op (identity-providers.md §3):
    204."""
    ada, bob = _users(tenant, "ada", "bob")
    group = _group(tenant, "Entra Add")
    response = _patch(
        tenant,
        group["id"],
        {
            "op": "Add",
            "path": "members",
            "value": [{"$ref": None, "value": ada}, {"$ref": None, "value": bob}],
        },
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert _member_ids(tenant, group["id"]) == {ada, bob}


def test_add_existing_member_is_a_noop_c09(tenant: Tenant) -> None:
    """C09: re-adding a member stores it once and keeps version and lastModified (RFC 7644 §3.5.2.1)."""
    (kim,) = _users(tenant, "kim")
    group = _group(tenant, "Example Corp C09", [kim])
    add = {"op": "add", "path": "members", "value": [{"value": kim}]}
    assert _patch(tenant, group["id"], add, add).status_code in (200, 204)
    after = tenant.get(f"/Groups/{group['id']}").json()
    assert [m["value"] for m in after["members"]] == [kim]
    assert after["meta"]["lastModified"] == group["meta"]["lastModified"]
    assert after["meta"]["version"] == group["meta"]["version"]


def test_add_unknown_member_is_400_and_changes_nothing_c09(tenant: Tenant) -> None:
    """C09: an unknown id among valid ones is 400 invalidValue; the valid ones are not added either."""
    (kim,) = _users(tenant, "kim")
    group = _group(tenant, "All Or None")
    response = _patch(
        tenant,
        group["id"],
        {"op": "add", "path": "members", "value": [{"value": kim}, {"value": "dangling-id"}]},
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert "dangling-id" in response.json()["detail"]
    assert _member_ids(tenant, group["id"]) == set()


def test_member_of_other_workspace_is_400(tenant: Tenant) -> None:
    """A user id of another workspace is not a member candidate (tenancy): 400 invalidValue."""
    other = make_tenant(tenant.server)
    try:
        stranger = other.create_user("stranger@example.com")["id"]
    finally:
        other.client.close()
    group = _group(tenant, "Closed")
    response = _patch(tenant, group["id"], {"op": "add", "path": "members", "value": [{"value": stranger}]})
    assert response.status_code == 400
    assert _member_ids(tenant, group["id"]) == set()


def test_remove_by_filter_removes_only_that_member_c08(tenant: Tenant) -> None:
    """C08 / Entra with aadOptscim062020: ``remove members[value eq "<id>"]`` removes just that row."""
    ian, jo = _users(tenant, "ian", "jo")
    group = _group(tenant, "Example Corp C08", [ian, jo])
    assert _patch(
        tenant, group["id"], {"op": "remove", "path": f'members[value eq "{ian}"]'}
    ).status_code in (200, 204)
    assert _member_ids(tenant, group["id"]) == {jo}
    assert _patch(
        tenant, group["id"], {"op": "remove", "path": 'members[value eq "not-a-member"]'}
    ).status_code in (200, 204, 400)
    assert _member_ids(tenant, group["id"]) == {jo}
    assert _patch(tenant, group["id"], {"op": "remove", "path": f'members[value eq "{jo}"]'}).status_code in (
        200,
        204,
    )
    assert _member_ids(tenant, group["id"]) == set()
    assert tenant.get(f"/Groups/{group['id']}").status_code == 200


def test_entra_legacy_remove_with_value_list_removes_only_listed(tenant: Tenant) -> None:
    """Entra without the flag: ``Remove`` ``members`` + value list removes only those
    (identity-providers.md §3, §4)."""
    ada, bob, cy = _users(tenant, "ada", "bob", "cy")
    group = _group(tenant, "Legacy Remove", [ada, bob, cy])
    response = _patch(
        tenant, group["id"], {"op": "Remove", "path": "members", "value": [{"value": ada}, {"value": cy}]}
    )
    assert response.status_code == 204
    assert _member_ids(tenant, group["id"]) == {bob}


def test_remove_members_without_value_clears_all(tenant: Tenant) -> None:
    """RFC 7644 §3.5.2.2: ``remove`` of ``members`` with no value and no filter empties the list."""
    ada, bob = _users(tenant, "ada", "bob")
    group = _group(tenant, "Clear Me", [ada, bob])
    assert _patch(tenant, group["id"], {"op": "remove", "path": "members"}).status_code == 204
    assert _member_ids(tenant, group["id"]) == set()
    assert tenant.get(f"/Users/{ada}").status_code == 200


def test_replace_members_sets_the_whole_list_c11(tenant: Tenant) -> None:
    """C11: ``replace members`` with a full list removes those missing from it (RFC 7644 §3.5.2.3)."""
    ned, ola, pat = _users(tenant, "ned", "ola", "pat")
    group = _group(tenant, "Example Corp C11", [ned, ola])
    response = _patch(
        tenant, group["id"], {"op": "replace", "path": "members", "value": [{"value": ola}, {"value": pat}]}
    )
    assert response.status_code in (200, 204)
    assert _member_ids(tenant, group["id"]) == {ola, pat}


def test_validator_replace_members_on_empty_group(tenant: Tenant) -> None:
    """Microsoft Validator "Patch Group - Add Member": replace members on an empty group
    (identity-providers.md §3)."""
    (ada,) = _users(tenant, "ada")
    group = _group(tenant, "Validator")
    assert (
        _patch(
            tenant, group["id"], {"op": "replace", "path": "members", "value": [{"value": ada}]}
        ).status_code
        == 204
    )
    assert _member_ids(tenant, group["id"]) == {ada}


def test_ops_apply_in_order(tenant: Tenant) -> None:
    """Ops apply in order (RFC 7644 §3.5.2): add then remove X leaves X out; remove then add keeps it."""
    ada, bob = _users(tenant, "ada", "bob")
    group = _group(tenant, "Ordered", [bob])
    response = _patch(
        tenant,
        group["id"],
        {"op": "add", "path": "members", "value": [{"value": ada}]},
        {"op": "remove", "path": f'members[value eq "{ada}"]'},
        {"op": "remove", "path": f'members[value eq "{bob}"]'},
        {"op": "add", "path": "members", "value": [{"value": bob}]},
    )
    assert response.status_code == 204
    assert _member_ids(tenant, group["id"]) == {bob}


def test_okta_membership_patch_with_rename_echo_c13(tenant: Tenant) -> None:
    """Okta (identity-providers.md §7, C13): rename echoing ``id``, remove by filter, add {value, display}
    without type."""
    sam = tenant.create_user("sam.c13@example.com", displayName="Sam C13")["id"]
    old = tenant.create_user("old@example.com")["id"]
    group = _group(tenant, "Example Corp C13", [old])
    response = _patch(
        tenant,
        group["id"],
        {"op": "replace", "value": {"id": group["id"], "displayName": "Example Corp C13"}},
        {"op": "remove", "path": f'members[value eq "{old}"]'},
        {"op": "add", "path": "members", "value": [{"value": sam, "display": "sam.c13@example.com"}]},
    )
    assert response.status_code in (200, 204), response.text
    after = tenant.get(f"/Groups/{group['id']}").json()
    assert [(m["value"], m["type"]) for m in after["members"]] == [(sam, "User")]
    user = tenant.get(f"/Users/{sam}").json()
    assert [g["value"] for g in user["groups"]] == [group["id"]]


def test_okta_full_push_replace_members(tenant: Tenant) -> None:
    """Okta full push: ``replace members`` with the whole list (docs/identity-providers.md §7)."""
    ada, bob, cy = _users(tenant, "ada", "bob", "cy")
    group = _group(tenant, "Okta Push", [ada, bob])
    assert (
        _patch(
            tenant,
            group["id"],
            {"op": "replace", "path": "members", "value": [{"value": cy, "display": "cy"}]},
        ).status_code
        == 204
    )
    assert _member_ids(tenant, group["id"]) == {cy}


def test_rename_with_and_without_path(tenant: Tenant) -> None:
    """displayName/externalId replace with a path (Entra) and path-less (Validator) forms
    (identity-providers.md §3)."""
    group = _group(tenant, "Before")
    assert (
        _patch(tenant, group["id"], {"op": "Replace", "path": "displayName", "value": "During"}).status_code
        == 204
    )
    assert _patch(tenant, group["id"], {"op": "replace", "value": {"externalId": "x-9"}}).status_code == 204
    assert (
        _patch(tenant, group["id"], {"op": "replace", "value": {"displayName": "After"}}).status_code == 204
    )
    body = tenant.get(f"/Groups/{group['id']}").json()
    assert (body["displayName"], body["externalId"]) == ("After", "x-9")


def test_large_group_add_keeps_every_member_c15(tenant: Tenant) -> None:
    """C15: a group of 105 gets one more; GET and a displayName list return all 106, nothing truncated."""
    ids = [member["id"] for member in (tenant.create_user(f"m{n:03d}.c15@example.com") for n in range(106))]
    group = _group(tenant, "Example Corp C15 Big", ids[:105])
    assert _patch(
        tenant, group["id"], {"op": "add", "path": "members", "value": [{"value": ids[105]}]}
    ).status_code in (200, 204)
    assert _member_ids(tenant, group["id"]) == set(ids)
    listed = _filter(tenant, 'displayName eq "Example Corp C15 Big"')["Resources"][0]
    assert len(listed["members"]) == 106
    assert (
        "members" not in _filter(tenant, 'displayName eq "Example Corp C15 Big"', "members")["Resources"][0]
    )


def test_display_name_filter_with_spaces_excluding_members_c21(tenant: Tenant) -> None:
    """C21: Entra's lookup by a displayName with spaces, excluding members (RFC 7644 §3.4.2.2, §3.4.2.5)."""
    (amy,) = _users(tenant, "amy.c21")
    group = _group(tenant, "Example Corp All Staff C21", [amy])
    response = tenant.get(
        "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22Example%20Corp%20All"
        "%20Staff%20C21%22"
    )
    assert response.status_code == 200
    found = response.json()
    assert found["totalResults"] == 1
    assert found["Resources"][0]["id"] == group["id"]
    assert found["Resources"][0]["displayName"] == "Example Corp All Staff C21"
    assert "members" not in found["Resources"][0]
    missing = _filter(tenant, 'displayName eq "No Such Group"', "members")
    assert missing["totalResults"] == 0 and not missing["Resources"]


# -- responses ------------------------------------------------------------------------------


def test_patch_returns_200_with_resource_when_asked(tenant: Tenant) -> None:
    """PATCH with ``excludedAttributes``/``attributes``: 200 with the projected group (RFC 7644 §3.5.2)."""
    (ada,) = _users(tenant, "ada")
    group = _group(tenant, "Asked")
    add = {"op": "add", "path": "members", "value": [{"value": ada}]}
    response = _patch(tenant, group["id"], add, query="?excludedAttributes=members")
    assert response.status_code == 200
    assert response.json()["displayName"] == "Asked" and "members" not in response.json()
    assert response.headers["etag"] == response.json()["meta"]["version"]
    response = _patch(
        tenant,
        group["id"],
        {"op": "replace", "path": "displayName", "value": "Asked 2"},
        query="?attributes=members",
    )
    assert response.status_code == 200
    assert [m["value"] for m in response.json()["members"]] == [ada]
    assert "displayName" not in response.json()


def test_get_projection_of_members(tenant: Tenant) -> None:
    """GET with ``excludedAttributes=members`` / ``attributes=displayName`` omits members
    (identity-providers.md §3)."""
    (ada,) = _users(tenant, "ada")
    group = _group(tenant, "Projected", [ada])
    excluded = tenant.get(f"/Groups/{group['id']}?excludedAttributes=members").json()
    assert "members" not in excluded and excluded["displayName"] == "Projected"
    only = tenant.get(f"/Groups/{group['id']}?attributes=displayName").json()
    assert set(only) == {"schemas", "id", "displayName", "meta"}
    values = tenant.get(f"/Groups/{group['id']}?attributes=members.value").json()
    assert values["members"] == [{"value": ada}]


def test_if_match_mismatch_is_412(tenant: Tenant) -> None:
    """If-Match with a stale version: 412 preconditionFailed, nothing changes (RFC 7644 §3.14)."""
    group = _group(tenant, "Versioned")
    response = tenant.patch(
        f"/Groups/{group['id']}",
        headers={"If-Match": 'W/"99"'},
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Nope"}],
        },
    )
    assert response.status_code == 412
    assert tenant.get(f"/Groups/{group['id']}").json()["displayName"] == "Versioned"


def test_if_none_match_current_version_is_304(tenant: Tenant) -> None:
    """GET with If-None-Match naming the current version: 304 and the ETag; a stale one: 200
    (RFC 7644 §3.14, RFC 7232 §3.2)."""
    group = _group(tenant, "Cached")
    fresh = tenant.get(f"/Groups/{group['id']}", headers={"If-None-Match": group["meta"]["version"]})
    assert fresh.status_code == 304 and fresh.content == b""
    assert fresh.headers["etag"] == group["meta"]["version"]
    _patch(tenant, group["id"], {"op": "replace", "path": "displayName", "value": "Cached 2"})
    stale = tenant.get(f"/Groups/{group['id']}", headers={"If-None-Match": group["meta"]["version"]})
    assert stale.status_code == 200 and stale.json()["displayName"] == "Cached 2"


def test_group_requests_are_audited(tenant: Tenant) -> None:
    """Every /Groups request leaves an audit_event: type Group, status, id, scimType (ARCHITECTURE.md)."""
    group = _group(tenant, "Audited")
    assert (
        _patch(
            tenant, group["id"], {"op": "add", "path": "members", "value": [{"value": "nobody"}]}
        ).status_code
        == 400
    )
    with transaction(tenant.server.sessions) as session:
        rows = session.execute(
            select(AuditEvent.method, AuditEvent.status, AuditEvent.resource_id, AuditEvent.scim_type)
            .where(AuditEvent.workspace_id == tenant.workspace_id, AuditEvent.resource_type == "Group")
            .order_by(AuditEvent.id)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("POST", 201, group["id"], None),
        ("PATCH", 400, group["id"], "invalidValue"),
    ]


# -- users' groups, lifecycle, nesting ------------------------------------------------------


def test_users_groups_is_read_only_and_filterable(tenant: Tenant) -> None:
    """User ``groups`` is readOnly (RFC 7643 §4.1.2): PATCH is 400 mutability; ``groups.value eq`` filters."""
    ada, bob = _users(tenant, "ada", "bob")
    group = _group(tenant, "Readers", [ada])
    user = tenant.get(f"/Users/{ada}").json()
    assert user["groups"] == [
        {
            "value": group["id"],
            "display": "Readers",
            "$ref": f"{tenant.server.base_url}/Groups/{group['id']}",
            "type": "direct",
        }
    ]
    response = tenant.patch(
        f"/Users/{bob}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "groups", "value": [{"value": group["id"]}]}],
        },
    )
    assert response.status_code == 400 and response.json()["scimType"] == "mutability"
    found = tenant.get("/Users", params={"filter": f'groups.value eq "{group["id"]}"'}).json()
    assert [r["id"] for r in found["Resources"]] == [ada]


def test_deleting_a_user_removes_its_memberships(tenant: Tenant) -> None:
    """DELETE /Users/{id} removes the user's group_member rows; the group stays (RFC 7644 §3.6)."""
    ada, bob = _users(tenant, "ada", "bob")
    group = _group(tenant, "Survivors", [ada, bob])
    assert tenant.delete(f"/Users/{ada}").status_code == 204
    assert _member_ids(tenant, group["id"]) == {bob}


def test_deleting_a_group_keeps_its_members(tenant: Tenant) -> None:
    """DELETE /Groups/{id} deletes the memberships, not the users (RFC 7644 §3.6)."""
    (ada,) = _users(tenant, "ada")
    group = _group(tenant, "Gone", [ada])
    assert tenant.delete(f"/Groups/{group['id']}").status_code == 204
    user = tenant.get(f"/Users/{ada}")
    assert user.status_code == 200 and not user.json().get("groups")
    with transaction(tenant.server.sessions) as session:
        assert session.scalars(select(GroupMember).where(GroupMember.group_id == group["id"])).all() == []


def test_nested_group_stored_and_returned_as_type_group(tenant: Tenant) -> None:
    """A Group as a member is stored and returned with type Group and a /Groups $ref (RFC 7643 §4.2)."""
    inner = _group(tenant, "Inner")
    outer = _group(tenant, "Outer")
    assert (
        _patch(
            tenant, outer["id"], {"op": "add", "path": "members", "value": [{"value": inner["id"]}]}
        ).status_code
        == 204
    )
    members = tenant.get(f"/Groups/{outer['id']}").json()["members"]
    assert members == [
        {
            "value": inner["id"],
            "display": "Inner",
            "type": "Group",
            "$ref": f"{tenant.server.base_url}/Groups/{inner['id']}",
        }
    ]
    assert tenant.delete(f"/Groups/{inner['id']}").status_code == 204
    assert _member_ids(tenant, outer["id"]) == set()


def test_nested_group_cycles_are_rejected(tenant: Tenant) -> None:
    """A group cannot contain itself, directly or through other groups: 400 invalidValue, nothing changed."""
    top = _group(tenant, "Top")
    middle = _group(tenant, "Middle", [top["id"]])
    bottom = _group(tenant, "Bottom", [middle["id"]])
    for group_id, candidate in ((top["id"], top["id"]), (top["id"], bottom["id"])):
        response = _patch(tenant, group_id, {"op": "add", "path": "members", "value": [{"value": candidate}]})
        assert response.status_code == 400, response.text
        assert response.json()["scimType"] == "invalidValue"
    assert _member_ids(tenant, top["id"]) == set()
    response = tenant.put(
        f"/Groups/{top['id']}", json={"displayName": "Top", "members": [{"value": middle["id"]}]}
    )
    assert response.status_code == 400


def test_concurrent_opposite_nesting_never_makes_a_cycle(tenant: Tenant) -> None:
    """Racing "A gets member B" with "B gets member A": at most one wins, never a cycle (nesting lock)."""
    pairs = [(_group(tenant, f"Ring {n} A")["id"], _group(tenant, f"Ring {n} B")["id"]) for n in range(6)]
    requests = [(a, b) for a, b in pairs] + [(b, a) for a, b in pairs]
    barrier = threading.Barrier(len(requests))
    results: dict[tuple[str, str], int] = {}

    def add(parent: str, child: str) -> None:
        with httpx.Client(
            base_url=tenant.server.base_url, headers=dict(tenant.client.headers), timeout=60
        ) as c:
            barrier.wait()
            operation = {"op": "add", "path": "members", "value": [{"value": child}]}
            results[(parent, child)] = c.patch(
                f"/Groups/{parent}", json={"schemas": [PATCH_OP], "Operations": [operation]}
            ).status_code

    threads = [threading.Thread(target=add, args=pair) for pair in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for a, b in pairs:
        assert sorted((results[(a, b)], results[(b, a)])) == [204, 400]
        assert (b in _member_ids(tenant, a)) != (a in _member_ids(tenant, b))


def test_member_type_must_match_the_id(tenant: Tenant) -> None:
    """``type: Group`` on a user id is 400 invalidValue (RFC 7643 §4.2: type names the resource type)."""
    (ada,) = _users(tenant, "ada")
    group = _group(tenant, "Typed")
    response = _patch(
        tenant, group["id"], {"op": "add", "path": "members", "value": [{"value": ada, "type": "Group"}]}
    )
    assert response.status_code == 400
    assert (
        _patch(
            tenant, group["id"], {"op": "add", "path": "members", "value": [{"value": ada, "type": "User"}]}
        ).status_code
        == 204
    )


# -- group sync switch ----------------------------------------------------------------------


def _group_sync(tenant: Tenant, state: str) -> None:
    result = CliRunner().invoke(
        cli.app,
        ["workspace", "group-sync", tenant.workspace_id, state],
        env={"SCIMGATE_DATABASE_URL": tenant.server.database_url},
    )
    assert result.exit_code == 0, result.output


def test_group_sync_off_gives_403_and_users_keep_working(tenant: Tenant) -> None:
    """``scimgate workspace group-sync W off``: /Groups answers 403, /Users still works; on again: 200."""
    group = _group(tenant, "Switched")
    _group_sync(tenant, "off")
    for response in (
        tenant.get("/Groups"),
        tenant.get(f"/Groups/{group['id']}"),
        tenant.post("/Groups", json={"displayName": "New"}),
        tenant.put(f"/Groups/{group['id']}", json={"displayName": "X"}),
        _patch(tenant, group["id"], {"op": "remove", "path": "members"}),
        tenant.delete(f"/Groups/{group['id']}"),
    ):
        assert response.status_code == 403, response.text
        assert "group sync is off" in response.json()["detail"].lower()
    assert tenant.get("/Users").status_code == 200
    tenant.create_user("still@example.com")
    _group_sync(tenant, "on")
    assert tenant.get(f"/Groups/{group['id']}").status_code == 200
