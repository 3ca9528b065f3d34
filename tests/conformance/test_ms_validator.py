"""The Microsoft SCIM Validator's published tests as our own HTTP tests (docs/identity-providers.md §8).

One test per validator test name (the "Test names and expectations" table of identity-providers.md §8, from a
full published run [VAL-RUN] and reports [QA-VAL, TC-VAL, GW89, SG49325]), with the request shapes
the validator sends: filters with ``+`` for spaces, pathless and URN-path PATCHes, string booleans.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from scimgate.services import workspaces
from scimgate.storage.db import transaction
from scimgate.storage.models import Workspace
from tests.support import LiveServer, Tenant, make_tenant

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
SCIM_JSON = "application/scim+json"


@pytest.fixture
def tenant(live_server: LiveServer) -> Iterator[Tenant]:
    """A workspace set up for Entra: sync on, example.com verified, the Entra compatibility switch on
    (a replace through an unmatched value filter creates the element, docs/identity-providers.md §2.4(e))."""
    created = make_tenant(live_server)
    with transaction(live_server.sessions) as session:
        workspace = session.get(Workspace, created.workspace_id)
        assert workspace is not None
        workspaces.set_entra_replace_creates(session, workspace, True)
    yield created
    created.client.close()


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def new_user(tenant: Tenant, **extra: Any) -> dict[str, Any]:
    """A user in the validator's default-attribute shape."""
    local = "v" + uuid.uuid4().hex[:10]
    return tenant.create_user(
        f"{local}@example.com", active=True, displayName=f"Validator {local}", externalId=local,
        name={"givenName": "Val", "familyName": local, "formatted": f"Val {local}"},
        emails=[{"type": "work", "value": f"{local}@example.com", "primary": True}], **extra)


def new_group(tenant: Tenant, **extra: Any) -> dict[str, Any]:
    body = {"schemas": [CORE_GROUP], "displayName": "VGroup " + uuid.uuid4().hex[:10],
            "externalId": uuid.uuid4().hex, **extra}
    response = tenant.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def filter_users(tenant: Tenant, expression: str) -> dict[str, Any]:
    response = tenant.get("/Users", params={"filter": expression})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(SCIM_JSON)
    return dict(response.json())


def group_patch_ok(response: Any) -> None:
    """Group PATCH answers 204, or 200 with a body (never 200 empty; docs/identity-providers.md §2.5)."""
    assert response.status_code in (200, 204), response.text
    if response.status_code == 200:
        assert response.json()["id"]


# --- Users -----------------------------------------------------------------------------------


def test_create_a_new_user(tenant: Tenant) -> None:
    """"Create a new User": 201 (not 200) with id, then a userName filter finds it (§8, TC-VAL)."""
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "nu@example.com",
            "active": True, "emails": [{"type": "work", "value": "nu@example.com", "primary": True}]}
    response = tenant.post("/Users", json=body)
    assert response.status_code == 201
    assert response.headers["content-type"].startswith(SCIM_JSON)
    created = response.json()
    found = filter_users(tenant, 'userName eq "nu@example.com"')
    assert [r["id"] for r in found["Resources"]] == [created["id"]]


def test_create_a_duplicate_user(tenant: Tenant) -> None:
    """"Create a duplicate User": 409 with scimType uniqueness (§8, RFC 7644 §3.3)."""
    user = new_user(tenant)
    response = tenant.post("/Users", json={"userName": user["userName"]})
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"


def test_filter_for_an_existing_user(tenant: Tenant) -> None:
    """"Filter for an existing user": 200 ListResponse with totalResults 1 (§8)."""
    user = new_user(tenant)
    found = filter_users(tenant, f'userName eq "{user["userName"]}"')
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == user["id"]


def test_filter_for_a_non_existing_user(tenant: Tenant) -> None:
    """"Filter for a non-existing user": 200, totalResults 0, Resources [] (§8, §1)."""
    found = filter_users(tenant, f'userName eq "{uuid.uuid4()}@example.com"')
    assert found["totalResults"] == 0 and found["Resources"] == []


def test_filter_for_an_existing_user_with_a_different_case(tenant: Tenant) -> None:
    """"Filter ... with a different case": userName matches case-insensitively (§8, RFC 7643 §4.1.1)."""
    user = new_user(tenant)
    found = filter_users(tenant, f'userName eq "{user["userName"].upper()}"')
    assert [r["id"] for r in found["Resources"]] == [user["id"]]


def test_filter_query_with_plus_for_spaces(tenant: Tenant) -> None:
    """The validator's query form ``filter=userName+eq+"x%40y"`` decodes ``+`` as a space (§1, QA-VAL)."""
    user = new_user(tenant)
    encoded = user["userName"].replace("@", "%40")
    response = tenant.get(f'/Users?filter=userName+eq+"{encoded}"')
    assert response.status_code == 200 and response.json()["totalResults"] == 1


def test_patch_user_replace_attributes_verbose(tenant: Tenant) -> None:
    """"Patch User - Replace Attributes Verbose": ~36 replace ops over the default attribute set
    answer 200 with the updated resource (§8, default attributes of §5)."""
    user = new_user(tenant)
    values: dict[str, Any] = {
        "displayName": "Verbose Display", "title": "Engineer", "preferredLanguage": "en-US",
        "name.givenName": "Given", "name.familyName": "Family", "name.formatted": "Given Family",
        "name.middleName": "Middle", "name.honorificPrefix": "Dr.", "name.honorificSuffix": "PhD",
        "nickName": "Nick", "locale": "en-US", "timezone": "America/Los_Angeles",
        "profileUrl": "https://profiles.example.com/given", "userType": "Employee",
        "externalId": "verbose-" + user["id"][:8],
        'emails[type eq "work"].value': user["userName"],
        'addresses[type eq "work"].formatted': "1 Main St, Redmond, WA 98052, US",
        'addresses[type eq "work"].streetAddress': "1 Main St",
        'addresses[type eq "work"].locality': "Redmond",
        'addresses[type eq "work"].region': "WA",
        'addresses[type eq "work"].postalCode': "98052",
        'addresses[type eq "work"].country': "US",
        'phoneNumbers[type eq "work"].value': "+1 425 555 0100",
        'phoneNumbers[type eq "mobile"].value': "+1 425 555 0101",
        'phoneNumbers[type eq "fax"].value': "+1 425 555 0102",
        f"{ENTERPRISE}:employeeNumber": "1001",
        f"{ENTERPRISE}:department": "Research",
        f"{ENTERPRISE}:costCenter": "CC-1",
        f"{ENTERPRISE}:organization": "Contoso",
        f"{ENTERPRISE}:division": "Devices",
        'roles[primary eq "True"].display': "Admin",
        'roles[primary eq "True"].value': "admin",
        'roles[primary eq "True"].type': "WindowsAzureActiveDirectoryRole",
    }
    ops = [{"op": "replace", "path": path, "value": value} for path, value in values.items()]
    ops.append({"op": "replace", "path": "active", "value": True})
    response = tenant.patch(f"/Users/{user['id']}", json=patch(*ops))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["displayName"] == "Verbose Display" and body["name"]["honorificSuffix"] == "PhD"
    assert {p["type"]: p["value"] for p in body["phoneNumbers"]} == {
        "work": "+1 425 555 0100", "mobile": "+1 425 555 0101", "fax": "+1 425 555 0102"}
    assert body["addresses"][0]["postalCode"] == "98052"
    assert body[ENTERPRISE]["division"] == "Devices"
    assert body["timezone"] == "America/Los_Angeles"


def test_update_user_username(tenant: Tenant) -> None:
    """"Update User userName": PATCH replace of userName is read back (§8)."""
    user = new_user(tenant)
    renamed = "renamed." + user["userName"]
    response = tenant.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "path": "userName",
                                                                 "value": renamed}))
    assert response.status_code == 200 and response.json()["userName"] == renamed
    assert filter_users(tenant, f'userName eq "{renamed}"')["totalResults"] == 1


def test_patch_user_disable_user(tenant: Tenant) -> None:
    """"Patch User - Disable User": a *later* GET and filter show active false (§8, QA-VAL, SG49325)."""
    user = new_user(tenant)
    response = tenant.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "path": "active",
                                                                 "value": False}))
    assert response.status_code == 200
    assert tenant.get(f"/Users/{user['id']}").json()["active"] is False
    assert filter_users(tenant, f'userName eq "{user["userName"]}"')["Resources"][0]["active"] is False


def test_patch_user_add_replace_remove_manager(tenant: Tenant) -> None:
    """"Add/Replace/Remove Manager": replace on the URN path with {"value": id}; remove is
    replace with {"value": ""} (§8, VAL-RUN; §2.4(g))."""
    user, boss, other = new_user(tenant), new_user(tenant), new_user(tenant)
    path = f"{ENTERPRISE}:manager"
    added = tenant.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "path": path,
                                                              "value": {"value": boss["id"]}}))
    assert added.status_code == 200 and added.json()[ENTERPRISE]["manager"]["value"] == boss["id"]
    replaced = tenant.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "path": path,
                                                                 "value": {"value": other["id"]}}))
    assert replaced.json()[ENTERPRISE]["manager"]["value"] == other["id"]
    removed = tenant.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "path": path,
                                                                "value": {"value": ""}}))
    assert removed.status_code == 200
    assert "manager" not in removed.json().get(ENTERPRISE, {})


def test_delete_a_user(tenant: Tenant) -> None:
    """"Delete a User": 204, then GET 404 (§8, §2.6)."""
    user = new_user(tenant)
    assert tenant.delete(f"/Users/{user['id']}").status_code == 204
    assert tenant.get(f"/Users/{user['id']}").status_code == 404


def test_preview_patch_user_multiple_ops_on_different_attributes(tenant: Tenant) -> None:
    """Preview "Multiple Ops different attrs": add, replace and remove in one PATCH all apply (§8)."""
    user = new_user(tenant, title="Old title")
    response = tenant.patch(f"/Users/{user['id']}", json=patch(
        {"op": "add", "path": "nickName", "value": "Nicky"},
        {"op": "replace", "path": "displayName", "value": "Many Ops"},
        {"op": "remove", "path": "title"}))
    assert response.status_code == 200
    body = response.json()
    assert (body["nickName"], body["displayName"], "title" in body) == ("Nicky", "Many Ops", False)


def test_preview_patch_user_multiple_ops_on_the_same_attribute(tenant: Tenant) -> None:
    """Preview "Multiple Ops same attr": ops apply in order, the last one wins (§8, RFC 7644 §3.5.2)."""
    user = new_user(tenant)
    response = tenant.patch(f"/Users/{user['id']}", json=patch(
        {"op": "add", "path": "title", "value": "First"},
        {"op": "replace", "path": "title", "value": "Second"}))
    assert response.status_code == 200 and response.json()["title"] == "Second"


def test_preview_delete_a_non_existent_user(tenant: Tenant) -> None:
    """Preview "Delete a non-existent User": 404 (§2.6)."""
    assert tenant.delete(f"/Users/{uuid.uuid4()}").status_code == 404


def test_preview_delete_the_same_user_twice(tenant: Tenant) -> None:
    """Preview "Delete the same User twice": 204 then 404 (§2.6)."""
    user = new_user(tenant)
    assert tenant.delete(f"/Users/{user['id']}").status_code == 204
    assert tenant.delete(f"/Users/{user['id']}").status_code == 404


def test_capitalised_attribute_names_and_string_booleans(tenant: Tenant) -> None:
    """The validator may send ``UserName``/``Active`` and ``primary: "True"``: attribute names are
    case-insensitive (RFC 7643 §2.1) and string booleans are accepted, JSON booleans returned (§8)."""
    response = tenant.post("/Users", json={"UserName": "caps@example.com", "Active": "True",
                                           "emails": [{"value": "caps@example.com", "type": "work",
                                                       "Primary": "True"}]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["userName"] == "caps@example.com" and body["active"] is True
    assert body["emails"][0]["primary"] is True


def test_empty_operations_is_not_a_server_error(tenant: Tenant) -> None:
    """A PATCH with an empty Operations array gets 400 or 200, never 5xx (§2.5, SCIMMY59)."""
    user = new_user(tenant)
    assert tenant.patch(f"/Users/{user['id']}", json=patch()).status_code in (200, 400)


# --- Groups ----------------------------------------------------------------------------------


def test_get_group_by_id_excluding_members(tenant: Tenant) -> None:
    """"Get group by id excluding members": ``excludedAttributes=members`` leaves members out (§8)."""
    group = new_group(tenant, members=[{"value": new_user(tenant)["id"]}])
    response = tenant.get(f"/Groups/{group['id']}", params={"excludedAttributes": "members"})
    assert response.status_code == 200
    assert response.json()["id"] == group["id"] and "members" not in response.json()


def test_filter_for_existing_group_excluding_members(tenant: Tenant) -> None:
    """"Filter for existing group excluding members": one result, no members (§8, §3)."""
    group = new_group(tenant, members=[{"value": new_user(tenant)["id"]}])
    response = tenant.get("/Groups", params={"excludedAttributes": "members",
                                             "filter": f'displayName eq "{group["displayName"]}"'})
    assert response.status_code == 200
    resources = response.json()["Resources"]
    assert [r["id"] for r in resources] == [group["id"]] and "members" not in resources[0]


@pytest.mark.parametrize("variant", ["same", "different case", "non-existing"])
def test_filter_for_groups(tenant: Tenant, variant: str) -> None:
    """"Filter for an existing / different-case / non-existing group": displayName compares
    case-insensitively; no match is 200 with an empty list (§8)."""
    group = new_group(tenant)
    name = {"same": group["displayName"], "different case": group["displayName"].swapcase(),
            "non-existing": "nope " + uuid.uuid4().hex}[variant]
    response = tenant.get("/Groups", params={"filter": f'displayName eq "{name}"'})
    assert response.status_code == 200
    expected = [] if variant == "non-existing" else [group["id"]]
    assert [r["id"] for r in response.json()["Resources"]] == expected


def test_create_a_new_group_and_a_duplicate(tenant: Tenant) -> None:
    """"Create a new Group" is 201; "Create a duplicate Group" is 409 uniqueness (§8, §3)."""
    group = new_group(tenant)
    duplicate = tenant.post("/Groups", json={"schemas": [CORE_GROUP], "displayName": group["displayName"]})
    assert duplicate.status_code == 409
    assert duplicate.json()["scimType"] == "uniqueness"


def test_patch_group_replace_attributes(tenant: Tenant) -> None:
    """"Patch Group - Replace Attributes": pathless replace of externalId (§8)."""
    group = new_group(tenant)
    group_patch_ok(tenant.patch(f"/Groups/{group['id']}",
                                json=patch({"op": "replace", "value": {"externalId": "ext-new"}})))
    assert tenant.get(f"/Groups/{group['id']}").json()["externalId"] == "ext-new"


def test_update_group_display_name(tenant: Tenant) -> None:
    """"Update Group displayName": pathless replace of displayName (§8)."""
    group = new_group(tenant)
    new_name = "Renamed " + uuid.uuid4().hex[:8]
    group_patch_ok(tenant.patch(f"/Groups/{group['id']}",
                                json=patch({"op": "replace", "value": {"displayName": new_name}})))
    assert tenant.get(f"/Groups/{group['id']}").json()["displayName"] == new_name


def test_patch_group_add_and_remove_member(tenant: Tenant) -> None:
    """"Add Member" is replace of ``members`` on an empty group; "Remove Member" is remove with
    ``members[value eq "..."]`` (§8, VAL-RUN)."""
    group, first, second = new_group(tenant), new_user(tenant), new_user(tenant)
    group_patch_ok(tenant.patch(f"/Groups/{group['id']}", json=patch(
        {"op": "replace", "path": "members", "value": [{"value": first["id"]}, {"value": second["id"]}]})))
    members = {m["value"] for m in tenant.get(f"/Groups/{group['id']}").json()["members"]}
    assert members == {first["id"], second["id"]}
    group_patch_ok(tenant.patch(f"/Groups/{group['id']}", json=patch(
        {"op": "remove", "path": f'members[value eq "{first["id"]}"]'})))
    members = {m["value"] for m in tenant.get(f"/Groups/{group['id']}").json()["members"]}
    assert members == {second["id"]}


def test_preview_patch_group_multiple_ops_on_the_same_attribute(tenant: Tenant) -> None:
    """Preview "Multiple Ops same attr": add then remove of the same member in one PATCH leaves
    it out (§8, RFC 7644 §3.5.2 ops apply in order)."""
    group, user = new_group(tenant), new_user(tenant)
    group_patch_ok(tenant.patch(f"/Groups/{group['id']}", json=patch(
        {"op": "add", "path": "members", "value": [{"value": user["id"]}]},
        {"op": "remove", "path": f'members[value eq "{user["id"]}"]'})))
    assert not tenant.get(f"/Groups/{group['id']}").json().get("members")


def test_preview_delete_groups(tenant: Tenant) -> None:
    """Preview "Delete a non-existent Group" (404) and "Delete the same Group twice" (204, 404) (§8)."""
    group = new_group(tenant)
    assert tenant.delete(f"/Groups/{uuid.uuid4()}").status_code == 404
    assert tenant.delete(f"/Groups/{group['id']}").status_code == 204
    assert tenant.delete(f"/Groups/{group['id']}").status_code == 404
