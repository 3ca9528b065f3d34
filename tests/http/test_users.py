"""Users end to end over HTTP (issue 2 §4, §6, §8): CRUD, lists and paging, meta, tenancy,
Entra's test connection in every encoding, lenient input (booleans, attribute-name case)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from scimgate.storage import members as member_store
from scimgate.storage.db import transaction
from tests.support import Tenant, make_tenant

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
EMPTY_LIST = {"schemas": [LIST], "totalResults": 0, "Resources": [], "startIndex": 1, "itemsPerPage": 0}
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def found(tenant: Tenant, query: str) -> list[str]:
    """The ids a GET /Users?<query> lists (asserting a 200 ListResponse)."""
    response = tenant.get(f"/Users?{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schemas"] == [LIST]
    return [resource["id"] for resource in body["Resources"]]


# -- create, read, meta -------------------------------------------------------------------------


def test_create_answers_201_with_location_etag_and_meta(tenant: Tenant) -> None:
    """POST /Users: 201, Location = meta.location (absolute), ETag = meta.version (RFC 7644 §3.3, §3.14)."""
    response = tenant.post("/Users", json={"schemas": [USER], "userName": "meta@example.com"})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/scim+json"
    user = response.json()
    meta = user["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == f"{tenant.server.base_url}/Users/{user['id']}"
    assert response.headers["location"] == meta["location"]
    assert re.fullmatch(r'W/"\d+"', meta["version"]) and response.headers["etag"] == meta["version"]
    for stamp in (meta["created"], meta["lastModified"]):
        assert RFC3339_UTC.match(stamp)
        assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).utcoffset().total_seconds() == 0
    assert user["schemas"] == [USER] and uuid.UUID(user["id"])


def test_get_returns_the_stored_values_exactly(tenant: Tenant) -> None:
    """GET /Users/{id} returns what was sent, unchanged (docs/identity-providers.md §2.1, RFC 7644 §3.4.1)."""
    sent = {"userName": "Exact.Case@example.com", "displayName": "  Ada  ", "name": {"givenName": "Ada"},
            "phoneNumbers": [{"value": "+44 (0)20 7946 0000", "type": "work"}],
            "emails": [{"value": "Exact.Case@example.com", "type": "work", "primary": True}]}
    created = tenant.create_user(sent["userName"], **{k: v for k, v in sent.items() if k != "userName"})
    response = tenant.get(f"/Users/{created['id']}")
    assert response.status_code == 200 and response.headers["etag"] == created["meta"]["version"]
    user = response.json()
    for key, value in sent.items():
        assert user[key] == value


def test_update_bumps_version_and_last_modified(tenant: Tenant) -> None:
    """Every write bumps meta.version and lastModified; created stays (RFC 7643 §3.1)."""
    user = tenant.create_user("bump@example.com")
    operation = {"op": "replace", "path": "title", "value": "T"}
    patched = tenant.patch(f"/Users/{user['id']}", json=patch_body(operation))
    assert patched.status_code == 200
    after = patched.json()["meta"]
    assert after["version"] != user["meta"]["version"] and patched.headers["etag"] == after["version"]
    assert after["created"] == user["meta"]["created"]
    assert after["lastModified"] > user["meta"]["lastModified"]


def test_inactive_users_are_still_returned(tenant: Tenant) -> None:
    """active=false keeps the user visible to GET, list and filter (Entra requirement,
    identity-providers.md §2.3)."""
    user = tenant.create_user("sleeper@example.com", active=False)
    assert tenant.get(f"/Users/{user['id']}").json()["active"] is False
    assert found(tenant, "") == [user["id"]]
    assert found(tenant, "filter=userName%20eq%20%22sleeper@example.com%22") == [user["id"]]
    assert found(tenant, "filter=active%20eq%20false") == [user["id"]]


# -- list, filter, paging -----------------------------------------------------------------------


def test_issue2_filters(tenant: Tenant) -> None:
    """eq on userName, externalId, id, displayName, emails.value, emails[type eq "work"].value,
    joined by and (RFC 7644 §3.4.2.2; Entra's matching attributes, docs/identity-providers.md §2.1)."""
    ada = tenant.create_user("ada@example.com", externalId="ext-ada", displayName="Ada L",
                             emails=[{"value": "ada.work@example.com", "type": "work"},
                                     {"value": "ada.home@example.com", "type": "home"}])
    tenant.create_user("bob@example.com", externalId="ext-bob", displayName="Bob")
    for expression in ('userName eq "ADA@example.com"', 'externalId eq "ext-ada"', f'id eq "{ada["id"]}"',
                       'displayName eq "ada l"', 'emails.value eq "ada.home@example.com"',
                       'emails[type eq "work"].value eq "ada.work@example.com"',
                       f'id eq "{ada["id"]}" and userName eq "ada@example.com"'):
        assert found(tenant, "filter=" + httpx.QueryParams({"f": expression})["f"]) == [ada["id"]], expression
    assert found(tenant, 'filter=emails[type eq "work"].value eq "ada.home@example.com"') == []


def test_paging_answers_integers_and_pages(tenant: Tenant) -> None:
    """startIndex is 1-based, totalResults counts all, itemsPerPage is the page, all integers
    (RFC 7644 §3.4.2.4)."""
    ids = {tenant.create_user(f"page{n}@example.com")["id"] for n in range(3)}
    body = tenant.get("/Users?startIndex=2&count=1").json()
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (3, 2, 1)
    assert len(body["Resources"]) == 1
    assert all(type(body[key]) is int for key in ("totalResults", "startIndex", "itemsPerPage"))
    pages = [tenant.get(f"/Users?startIndex={n}&count=1").json()["Resources"][0]["id"] for n in (1, 2, 3)]
    assert set(pages) == ids
    beyond = tenant.get("/Users?startIndex=10&count=5").json()
    assert beyond["totalResults"] == 3 and beyond["Resources"] == [] and beyond["startIndex"] == 10
    assert tenant.get("/Users?startIndex=0&count=-1").json()["startIndex"] == 1
    assert tenant.get("/Users?startIndex=0&count=-1").json()["Resources"] == []


def test_count_is_clamped_to_advertised_max_results(tenant: Tenant) -> None:
    """A count above filter.maxResults is clamped to it, not refused (RFC 7644 §3.4.2.4)."""
    max_results = tenant.get("/ServiceProviderConfig").json()["filter"]["maxResults"]
    with transaction(tenant.server.sessions) as session:
        for n in range(max_results + 5):
            member_store.insert(session, tenant.workspace_id, {"userName": f"bulk{n:04d}@example.com"})
    body = tenant.get("/Users?count=100000").json()
    assert body["totalResults"] == max_results + 5
    assert body["itemsPerPage"] == len(body["Resources"]) == max_results


# -- PUT, PATCH, DELETE -------------------------------------------------------------------------


def test_put_replaces_and_ignores_read_only(tenant: Tenant) -> None:
    """PUT replaces all writable attributes; id, meta and groups in the body are ignored (RFC 7644 §3.5.1)."""
    user = tenant.create_user("put@example.com", displayName="Before", title="Old")
    body = {**user, "displayName": "After", "id": "forged", "meta": {"version": 'W/"99"'},
            "groups": [{"value": "x"}], "password": "Sekr1t!"}
    del body["title"]
    response = tenant.put(f"/Users/{user['id']}", json=body)
    assert response.status_code == 200, response.text
    replaced = tenant.get(f"/Users/{user['id']}").json()
    assert replaced["id"] == user["id"] and replaced["displayName"] == "After" and "title" not in replaced
    assert "password" not in replaced and "groups" not in replaced


@pytest.mark.parametrize("operations, expected", [
    ([{"op": "add", "path": "nickName", "value": "Nick"}], {"nickName": "Nick"}),
    ([{"op": "replace", "path": "name.familyName", "value": "Stone"}],
     {"name": {"givenName": "Ada", "familyName": "Stone"}}),
    ([{"op": "remove", "path": "name.givenName"}], {"name": None}),
    ([{"op": "replace", "value": {"displayName": "D", "name.givenName": "G"}}],
     {"displayName": "D", "name": {"givenName": "G"}}),
    ([{"op": "add", "path": "emails", "value": [{"value": "two@example.com", "type": "home"}]}],
     {"emails": [{"value": "one@example.com", "type": "work"},
                 {"value": "two@example.com", "type": "home"}]}),
    ([{"op": "replace", "path": 'emails[type eq "work"].value', "value": "uno@example.com"}],
     {"emails": [{"value": "uno@example.com", "type": "work"}]}),
    ([{"op": "remove", "path": "emails"}], {"emails": None}),
])
def test_patch_answers_200_with_the_resource(tenant: Tenant, operations: list[dict[str, Any]],
                                             expected: dict[str, Any]) -> None:
    """PATCH add/replace/remove, with and without path, on simple attributes, name.* and emails: 200 with
    the resource, which a later GET agrees with (RFC 7644 §3.5.2)."""
    user = tenant.create_user("patch@example.com", name={"givenName": "Ada"},
                              emails=[{"value": "one@example.com", "type": "work"}])
    response = tenant.patch(f"/Users/{user['id']}", json=patch_body(*operations))
    assert response.status_code == 200, response.text
    assert response.json() == tenant.get(f"/Users/{user['id']}").json()
    for key, value in expected.items():
        assert response.json().get(key) == value


def test_delete_then_404(tenant: Tenant) -> None:
    """DELETE answers 204 with no body; GET and a second DELETE then 404 (RFC 7644 §3.6)."""
    user = tenant.create_user("gone@example.com")
    response = tenant.delete(f"/Users/{user['id']}")
    assert response.status_code == 204 and response.content == b""
    assert tenant.get(f"/Users/{user['id']}").status_code == 404
    assert tenant.delete(f"/Users/{user['id']}").status_code == 404
    assert found(tenant, "filter=userName%20eq%20%22gone@example.com%22") == []


# -- lenient input ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [("True", True), ("false", False), ("FALSE", False), ("tRuE", True)])
def test_boolean_strings_become_booleans(tenant: Tenant, text: str, value: bool) -> None:
    """Entra's "True"/"False" strings for active and emails.primary are stored and returned as JSON
    booleans (docs/identity-providers.md §2.4, case C03; RFC 7643 §2.3.2)."""
    user = tenant.create_user(f"bool{text}@example.com", active=text,
                              emails=[{"value": f"bool{text}@example.com", "primary": text}])
    for body in (user, tenant.get(f"/Users/{user['id']}").json()):
        assert body["active"] is value and body["emails"][0]["primary"] is value


def test_attribute_names_are_case_insensitive(tenant: Tenant) -> None:
    """Body keys in any case are understood and returned in the schema's spelling (RFC 7643 §2.1, C20)."""
    response = tenant.post("/Users", json={"Schemas": [USER], "USERNAME": "case@example.com",
                                           "NAME": {"GIVENNAME": "Ada"}, "DisplayName": "Ada",
                                           "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user":
                                               {"Department": "R&D"}})
    assert response.status_code == 201, response.text
    user = tenant.get(f"/Users/{response.json()['id']}").json()
    assert user["userName"] == "case@example.com" and user["name"] == {"givenName": "Ada"}
    assert user["displayName"] == "Ada"
    assert user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] == {"department": "R&D"}


@pytest.mark.parametrize("content_type", ["application/scim+json", "application/json",
                                          "application/scim+json; charset=utf-8", None])
def test_json_media_types_and_none_are_read_as_json(tenant: Tenant, content_type: str | None) -> None:
    """application/scim+json, application/json and no Content-Type all parse as JSON (RFC 7644 §3.1;
    Okta's spec test sends no Content-Type, docs/identity-providers.md §7)."""
    headers = {"Authorization": f"Bearer {tenant.token}"}
    if content_type:
        headers["Content-Type"] = content_type
    with httpx.Client(base_url=tenant.server.base_url) as client:
        response = client.post("/Users", content=b'{"userName": "media@example.com"}', headers=headers)
    assert response.status_code == 201, response.text


def test_a_utf8_byte_order_mark_is_ignored(tenant: Tenant) -> None:
    """A body starting with a UTF-8 BOM is read as JSON (RFC 8259 §8.1: MAY ignore it)."""
    response = tenant.post("/Users", content='\ufeff{"userName": "bom@example.com"}'.encode())
    assert response.status_code == 201, response.text


# -- Entra's test connection and unknown query parameters ---------------------------------------

GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize("path", [
    f'/Users?filter=userName eq "{GUID}"',
    f"/Users?filter=userName+eq+%22{GUID}%22",
    f"/Users?filter=userName%20eq%20%22{GUID}%22",
    f"/Users?aadOptscim062020&filter=userName+eq+%22{GUID}%22",
    f"/Users?aadOptscim062020=true&filter=userName%20eq%20%22{GUID}%22",
    f"/Users?filter=userName+eq+%22{GUID}%22&aadOptscim062020",
    f"/Users/?aadOptscim062020&filter=userName+eq+%22{GUID}%22",
    f"/users?filter=externalId+eq+%22{GUID}%22&someFutureFlag=1",
])
def test_entra_test_connection_in_every_encoding(tenant: Tenant, path: str) -> None:
    """Entra's probe answers 200 with exactly the empty ListResponse whatever the encoding, flags
    and trailing slash (docs/identity-providers.md §1, issue 2 §6, case C42)."""
    response = tenant.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/scim+json"
    assert response.json() == EMPTY_LIST


def test_base_url_with_trailing_slash_and_flag(tenant: Tenant) -> None:
    """A Tenant URL pasted as '<base>/' or '<base>/?aadOptscim062020' still reaches the endpoints
    (MS-COMPAT: the flag is part of the Tenant URL)."""
    with httpx.Client(headers={"Authorization": f"Bearer {tenant.token}"}) as client:
        base = tenant.server.base_url
        assert client.get(base + "//Users/?aadOptscim062020").json() == EMPTY_LIST
        assert client.get(base + "/Users?aadOptscim062020=true&count=0").status_code == 200


def test_unknown_query_parameters_are_ignored_on_every_path(tenant: Tenant) -> None:
    """Unknown query parameters are ignored by every SCIM endpoint and method (issue 2 §6)."""
    flag = "?aadOptscim062020&unknown=1"
    created = tenant.post(f"/Users{flag}", json={"userName": "flag@example.com"})
    assert created.status_code == 201, created.text
    path = f"/Users/{created.json()['id']}{flag}"
    assert tenant.get(path).status_code == 200
    assert tenant.put(path, json={"userName": "flag@example.com", "title": "T"}).status_code == 200
    operation = {"op": "replace", "path": "title", "value": "U"}
    assert tenant.patch(path, json=patch_body(operation)).status_code == 200
    search = {"filter": 'userName eq "flag@example.com"'}
    assert tenant.post(f"/Users/.search{flag}", json=search).status_code == 200
    for discovery in ("/ServiceProviderConfig", "/ResourceTypes", "/Schemas", f"/Schemas/{USER}",
                      "/ResourceTypes/User"):
        assert tenant.get(discovery + flag).status_code == 200, discovery
    assert tenant.delete(path).status_code == 204


# -- tenancy ------------------------------------------------------------------------------------


def test_a_token_never_reaches_another_workspace(tenant: Tenant) -> None:
    """Workspace B's token gets 404 for A's user on GET/PUT/PATCH/DELETE and never lists it
    (issue 2 §5; STYLE.md §5)."""
    other = make_tenant(tenant.server)
    try:
        mine = tenant.create_user("mine@example.com", displayName="Mine")
        path = f"/Users/{mine['id']}"
        responses = [
            other.get(path),
            other.put(path, json={"userName": "stolen@example.com"}),
            other.patch(path, json=patch_body({"op": "replace", "path": "displayName", "value": "Stolen"})),
            other.delete(path),
        ]
        for response in responses:
            assert response.status_code == 404, response.text
            assert response.json()["status"] == "404"
        assert found(other, "") == []
        for expression in (f'id eq "{mine["id"]}"', 'userName eq "mine@example.com"', "userName pr"):
            assert found(other, "filter=" + httpx.QueryParams({"f": expression})["f"]) == []
        search = other.post("/Users/.search", json={"filter": f'id eq "{mine["id"]}"'})
        assert search.json()["totalResults"] == 0
        assert tenant.get(path).json() == mine
        twin = other.create_user("mine@example.com")
        assert twin["id"] != mine["id"]
    finally:
        other.client.close()
