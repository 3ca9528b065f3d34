"""Okta's SCIM 2.0 SPEC test steps and CRUD test as our own HTTP tests (docs/identity-providers.md §7).

Steps follow the 2016 export of ``Okta-SCIM-20-SPEC-Test.json`` [OKTA-SPEC] and the newer
third-party ports where they differ (step 13, step 15); the CRUD test follows [OKTA-TEST]. The
suite's response-time assertions are left out (no timed assertions here).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.support import Tenant

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
OKTA_HEADERS = {"User-Agent": "Okta SCIM Client 1.0.0"}


def okta_user(user_name: str) -> dict[str, Any]:
    """The SPEC test's user: userName, name, one work email, displayName, active (step 10)."""
    local = user_name.split("@")[0]
    return {"schemas": [CORE_USER], "userName": user_name, "name": {"givenName": "Okta", "familyName": local},
            "emails": [{"primary": True, "value": user_name, "type": "work"}], "displayName": f"Okta {local}",
            "active": True}


def existing_user(tenant: Tenant) -> dict[str, Any]:
    """At least one user must exist before the run (OKTA-PREP)."""
    name = f"okta.{uuid.uuid4().hex[:10]}@example.com"
    response = tenant.post("/Users", json=okta_user(name), headers=OKTA_HEADERS)
    assert response.status_code == 201, response.text
    return dict(response.json())


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def assert_user_fields(user: dict[str, Any]) -> None:
    """id, name.familyName, name.givenName, userName, active and emails have values (steps 5, 6)."""
    assert user["id"] and user["userName"] and user["emails"]
    assert user["name"]["familyName"] and user["name"]["givenName"]
    assert isinstance(user["active"], bool)


# --- SPEC test -----------------------------------------------------------------------------


def test_step1_service_provider_config_keys(tenant: Tenant) -> None:
    """Step 1: /ServiceProviderConfig is 200 with every key the SPEC test reads (RFC 7643 §5)."""
    response = tenant.get("/ServiceProviderConfig")
    assert response.status_code == 200
    spc = response.json()
    assert "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig" in spc["schemas"]
    for block, key in [("patch", "supported"), ("bulk", "supported"), ("bulk", "maxOperations"),
                       ("bulk", "maxPayloadSize"), ("filter", "supported"), ("filter", "maxResults"),
                       ("changePassword", "supported"), ("sort", "supported"), ("etag", "supported")]:
        assert spc[block][key] is not None, (block, key)
    assert spc["authenticationSchemes"][0]["type"] and spc["authenticationSchemes"][0]["description"]


@pytest.mark.parametrize("path", ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"])
def test_steps2_to_4_post_to_discovery_is_405(tenant: Tenant, path: str) -> None:
    """Steps 2-4: POST to a discovery endpoint is 405 with a SCIM Error (RFC 7644 §4)."""
    response = tenant.post(path, json={})
    assert response.status_code == 405
    assert ERROR in response.json()["schemas"]


def test_steps3_4_resource_types_and_schemas_lists(tenant: Tenant) -> None:
    """Steps 3-4: /ResourceTypes and /Schemas are ListResponses whose first resource has
    name/endpoint/schema and id/attributes (RFC 7644 §4)."""
    types = tenant.get("/ResourceTypes").json()
    assert LIST_RESPONSE in types["schemas"]
    first = types["Resources"][0]
    assert first["name"] and first["endpoint"] and first["schema"]
    schemas = tenant.get("/Schemas").json()
    assert LIST_RESPONSE in schemas["schemas"]
    assert schemas["Resources"][0]["id"] and schemas["Resources"][0]["attributes"]


def test_step5_first_page_of_one(tenant: Tenant) -> None:
    """Step 5: ``GET /Users?count=1&startIndex=1`` has integer counts and a complete user."""
    existing_user(tenant)
    body = tenant.get("/Users", params={"count": 1, "startIndex": 1}).json()
    for key in ("itemsPerPage", "startIndex", "totalResults"):
        assert type(body[key]) is int, key
    assert body["itemsPerPage"] == 1 and len(body["Resources"]) == 1
    assert_user_fields(body["Resources"][0])


def test_step6_get_user_by_id(tenant: Tenant) -> None:
    """Step 6: GET /Users/{id} is 200 with the same fields and the same id."""
    user = existing_user(tenant)
    response = tenant.get(f"/Users/{user['id']}")
    assert response.status_code == 200 and response.json()["id"] == user["id"]
    assert_user_fields(response.json())


@pytest.mark.parametrize("user_name", ["unknown@example.com", "random"])
def test_steps7_9_unknown_user_name_filter_is_empty(tenant: Tenant, user_name: str) -> None:
    """Steps 7 and 9: a filter for an unknown or random userName is 200 with totalResults 0."""
    name = user_name if "@" in user_name else uuid.uuid4().hex
    response = tenant.get("/Users", params={"filter": f'userName eq "{name}"'})
    assert response.status_code == 200 and response.json()["totalResults"] == 0


def test_step8_unknown_id_is_404_error(tenant: Tenant) -> None:
    """Step 8: GET /Users/<unknown id> is 404 with the Error schema and a non-empty detail."""
    response = tenant.get(f"/Users/{uuid.uuid4()}")
    assert response.status_code == 404
    assert ERROR in response.json()["schemas"] and response.json()["detail"]


def test_steps10_11_create_without_content_type_then_get(tenant: Tenant) -> None:
    """Steps 10-11: a POST with only ``Accept`` (no Content-Type) is parsed as JSON: 201 with
    active true, id and the values echoed; GET by id echoes them too."""
    name = f"okta.{uuid.uuid4().hex[:10]}@example.com"
    sent = okta_user(name)
    response = httpx.post(tenant.server.base_url + "/Users", content=json.dumps(sent).encode(),
                          headers={"Authorization": f"Bearer {tenant.token}",
                                   "Accept": "application/scim+json", **OKTA_HEADERS})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["active"] is True and created["id"] and CORE_USER in created["schemas"]
    assert (created["userName"], created["name"]) == (name, sent["name"])
    fetched = tenant.get(f"/Users/{created['id']}").json()
    assert (fetched["userName"], fetched["name"], fetched["active"]) == (name, sent["name"], True)


def test_step12_same_user_again_is_409(tenant: Tenant) -> None:
    """Step 12: POSTing the same user again is 409 (RFC 7644 §3.3)."""
    user = existing_user(tenant)
    response = tenant.post("/Users", json=okta_user(user["userName"]), headers=OKTA_HEADERS)
    assert response.status_code == 409 and ERROR in response.json()["schemas"]


def test_step13_malformed_filter_is_400_invalid_filter(tenant: Tenant) -> None:
    """Step 13 (2016 export): ``filter=<UPPERCASED USERNAME>`` has no operator: 400 invalidFilter."""
    user = existing_user(tenant)
    response = tenant.get("/Users", params={"filter": user["userName"].upper()})
    assert response.status_code == 400 and response.json()["scimType"] == "invalidFilter"


def test_step13_upper_cased_user_name_matches(tenant: Tenant) -> None:
    """Step 13 (newer ports): ``userName eq "<UPPERCASED>"`` is 200 with the one user (RFC 7643 §4.1.1)."""
    user = existing_user(tenant)
    response = tenant.get("/Users", params={"filter": f'userName eq "{user["userName"].upper()}"'})
    assert response.status_code == 200 and [r["id"] for r in response.json()["Resources"]] == [user["id"]]


def test_step14_groups_list(tenant: Tenant) -> None:
    """Step 14: GET /Groups is 200 with a Resources array."""
    response = tenant.get("/Groups")
    assert response.status_code == 200 and isinstance(response.json()["Resources"], list)


def test_step15_status_is_a_string_in_errors(tenant: Tenant) -> None:
    """Step 15 (newer ports): a bad token is 401 and an unknown id 404, each with ``status`` as a
    string (RFC 7644 §3.12)."""
    bad = httpx.get(tenant.server.base_url + "/Users", headers={"Authorization": "Bearer sg_wrong"})
    assert bad.status_code == 401 and bad.json()["status"] == "401"
    missing = tenant.get(f"/Users/{uuid.uuid4()}")
    assert missing.json()["status"] == "404"


# --- Provisioning behaviour and the CRUD test ------------------------------------------------


def test_existence_check_with_paging_parameters(tenant: Tenant) -> None:
    """Okta's existence check sends the filter with ``startIndex=1&count=100``: 200 and the match (§7)."""
    user = existing_user(tenant)
    response = tenant.get("/Users", params={"filter": f'userName eq "{user["userName"]}"',
                                            "startIndex": 1, "count": 100}, headers=OKTA_HEADERS)
    assert response.status_code == 200 and response.json()["totalResults"] == 1


def test_create_with_password_groups_and_locale(tenant: Tenant) -> None:
    """Okta's create carries ``password``, ``groups: []``, ``locale`` and ``externalId``: 201 with a
    body, password never returned (§7 "Create", RFC 7643 §4.1.1 returned "never")."""
    body = okta_user(f"okta.{uuid.uuid4().hex[:10]}@example.com")
    body.update(password="t0p-Secret!", groups=[], locale="en-US", externalId="00u" + uuid.uuid4().hex[:12])
    response = tenant.post("/Users", json=body, headers=OKTA_HEADERS)
    assert response.status_code == 201
    created = response.json()
    assert created["locale"] == "en-US" and created["externalId"] == body["externalId"]
    assert "password" not in created


def test_import_pages_are_stable_and_complete(tenant: Tenant) -> None:
    """Imports page with startIndex/count: integer counts, no repeats, every user once (§7 "Pagination")."""
    ids = {existing_user(tenant)["id"] for _ in range(5)}
    seen: list[str] = []
    for start in (1, 3, 5):
        page = tenant.get("/Users", params={"startIndex": start, "count": 2}).json()
        assert page["totalResults"] == 5 and page["startIndex"] == start
        seen += [r["id"] for r in page["Resources"]]
    assert sorted(seen) == sorted(ids)


def test_crud_profile_update_by_get_modify_put(tenant: Tenant) -> None:
    """CRUD step 3: Okta GETs, changes givenName and PUTs the whole object back (id, meta, groups
    included); 200 with the change (§7 "Update", RFC 7644 §3.5.1)."""
    user = existing_user(tenant)
    document = tenant.get(f"/Users/{user['id']}").json()
    document["name"]["givenName"] = "Changed"
    document["groups"] = []
    response = tenant.put(f"/Users/{user['id']}", json=document, headers=OKTA_HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["name"]["givenName"] == "Changed"
    assert tenant.get(f"/Users/{user['id']}").json()["name"]["givenName"] == "Changed"


def test_put_without_active_does_not_suspend(tenant: Tenant) -> None:
    """A PUT that omits ``active`` leaves the user active and shows ``active: true`` (§7, DELINEA)."""
    user = existing_user(tenant)
    document = {k: v for k, v in tenant.get(f"/Users/{user['id']}").json().items() if k != "active"}
    response = tenant.put(f"/Users/{user['id']}", json=document)
    assert response.status_code == 200 and response.json()["active"] is True
    tenant.put(f"/Users/{user['id']}", json={**document, "active": False})
    again = tenant.put(f"/Users/{user['id']}", json=document)
    assert again.status_code == 200 and again.json()["active"] is False  # absent = unchanged


def test_crud_deactivate_reactivate_and_unassign(tenant: Tenant) -> None:
    """CRUD steps 4-6: pathless replace ``{"active": false}`` deactivates, ``true`` reactivates,
    unassign deactivates again; the user stays readable throughout (§7 "Deactivate")."""
    user = existing_user(tenant)
    for active in (False, True, False):
        body = patch({"op": "replace", "value": {"active": active}})
        response = tenant.patch(f"/Users/{user['id']}", json=body, headers=OKTA_HEADERS)
        assert response.status_code in (200, 204)
        assert tenant.get(f"/Users/{user['id']}").json()["active"] is active


def test_aiw_deactivate_by_put(tenant: Tenant) -> None:
    """App-Integration-Wizard apps deactivate by PUT with ``active: false`` in the full body (§7)."""
    user = existing_user(tenant)
    document = tenant.get(f"/Users/{user['id']}").json()
    document["active"] = False
    assert tenant.put(f"/Users/{user['id']}", json=document).json()["active"] is False


def test_push_group_create_rename_mixed_and_full_push(tenant: Tenant) -> None:
    """Push Groups: create with ``members: []``; rename by a pathless replace carrying ``id``; one
    PATCH mixing remove and add (members with ``display``, no ``type``); a full ``replace``; then
    unlink with DELETE 204 (§7 "Groups", OKTA-SDK419)."""
    a, b, c = (existing_user(tenant) for _ in range(3))
    body = {"schemas": [CORE_GROUP], "displayName": "Okta " + uuid.uuid4().hex[:8], "members": []}
    created = tenant.post("/Groups", json=body, headers=OKTA_HEADERS)
    assert created.status_code == 201
    gid = created.json()["id"]

    def send(*operations: dict[str, Any]) -> None:
        response = tenant.patch(f"/Groups/{gid}", json=patch(*operations), headers=OKTA_HEADERS)
        assert response.status_code in (200, 204), response.text

    def members() -> set[str]:
        return {m["value"] for m in tenant.get(f"/Groups/{gid}").json().get("members") or []}

    new_name = "Okta renamed " + uuid.uuid4().hex[:8]
    send({"op": "replace", "value": {"id": gid, "displayName": new_name}})
    assert tenant.get(f"/Groups/{gid}").json()["displayName"] == new_name
    send({"op": "add", "path": "members", "value": [{"value": a["id"], "display": a["userName"]},
                                                     {"value": b["id"], "display": b["userName"]}]})
    assert members() == {a["id"], b["id"]}
    send({"op": "remove", "path": f'members[value eq "{a["id"]}"]'},
         {"op": "add", "path": "members", "value": [{"value": c["id"], "display": c["userName"]}]})
    assert members() == {b["id"], c["id"]}
    send({"op": "replace", "path": "members", "value": [{"value": a["id"], "display": a["userName"]}]})
    assert members() == {a["id"]}
    assert tenant.delete(f"/Groups/{gid}").status_code == 204
    assert tenant.get(f"/Groups/{gid}").status_code == 404
