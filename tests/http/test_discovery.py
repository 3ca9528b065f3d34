"""Discovery endpoints over HTTP (issue 2 §4; RFC 7643 §5-§7, RFC 7644 §4): read-only, behind
the token, and describing exactly what the server does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import Tenant

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENDPOINTS = ["/ServiceProviderConfig", "/ResourceTypes", "/ResourceTypes/User", "/Schemas",
             f"/Schemas/{USER}"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ENDPOINTS)
def test_discovery_endpoints_are_read_only(tenant: Tenant, method: str, path: str) -> None:
    """Any method but GET on a discovery endpoint is 405 as a SCIM error (RFC 7644 §4; Okta spec test)."""
    response = tenant.client.request(method, path, content=b"{}")
    assert response.status_code == 405, response.text
    assert response.headers["content-type"] == "application/scim+json"
    assert response.json()["schemas"] == [ERROR] and response.json()["status"] == "405"


def test_service_provider_config_has_every_block(tenant: Tenant) -> None:
    """Every key Okta's spec test reads is present and typed (RFC 7643 §5; identity-providers.md §7 step
    1)."""
    config = tenant.get("/ServiceProviderConfig").json()
    assert config["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert config["patch"]["supported"] is True and config["filter"]["supported"] is True
    assert type(config["filter"]["maxResults"]) is int and config["filter"]["maxResults"] > 0
    assert config["bulk"] == {"supported": False, "maxOperations": 0, "maxPayloadSize": 0}
    assert config["changePassword"]["supported"] is False
    assert config["sort"]["supported"] is True and config["etag"]["supported"] is True
    scheme = config["authenticationSchemes"][0]
    assert scheme["type"] == "oauthbearertoken" and scheme["description"] and scheme["name"]
    assert config["meta"]["location"] == f"{tenant.server.base_url}/ServiceProviderConfig"


def test_resource_types_list_and_lookup(tenant: Tenant) -> None:
    """/ResourceTypes lists User (with the enterprise extension) and Group; /ResourceTypes/<name>
    answers one in any case, an unknown name 404 (RFC 7643 §6, RFC 7644 §4)."""
    body = tenant.get("/ResourceTypes").json()
    assert body["schemas"] == [LIST] and body["totalResults"] == len(body["Resources"]) == 2
    assert type(body["startIndex"]) is int and type(body["itemsPerPage"]) is int
    by_id = {resource["id"]: resource for resource in body["Resources"]}
    assert by_id["User"]["schema"] == USER and by_id["User"]["endpoint"] == "/Users"
    assert by_id["User"]["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    assert by_id["Group"]["schema"] == GROUP and by_id["Group"]["schemaExtensions"] == []
    for name, document in by_id.items():
        assert document["meta"] == {"resourceType": "ResourceType",
                                    "location": f"{tenant.server.base_url}/ResourceTypes/{name}"}
        assert tenant.get(f"/ResourceTypes/{name.lower()}").json() == document
    assert tenant.get("/ResourceTypes/Nope").status_code == 404


def test_schemas_list_and_lookup(tenant: Tenant) -> None:
    """/Schemas lists the User, enterprise and Group schemas; /Schemas/<urn> answers one in any
    case and an unknown URN 404 (RFC 7643 §7, RFC 7644 §4)."""
    body = tenant.get("/Schemas").json()
    assert [schema["id"] for schema in body["Resources"]] == [USER, ENTERPRISE, GROUP]
    for schema in body["Resources"]:
        assert tenant.get(f"/Schemas/{schema['id'].upper()}").json() == schema
        assert schema["meta"]["location"] == f"{tenant.server.base_url}/Schemas/{schema['id']}"
    missing = tenant.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Nope")
    assert missing.status_code == 404 and missing.json()["status"] == "404"


def sample(attribute: dict[str, Any]) -> Any:
    """A valid value for an attribute definition (RFC 7643 §2.3 data types)."""
    if attribute["type"] == "complex":
        value: Any = {sub["name"]: sample(sub) for sub in attribute["subAttributes"]
                      if sub["mutability"] in ("readWrite", "immutable") and sub["name"] != "primary"}
    else:
        value = {"string": "Sample", "boolean": True, "decimal": 1.5, "integer": 7, "binary": "AAEC",
                 "dateTime": "2024-05-01T10:00:00Z", "reference": "https://example.com/ref"}[attribute["type"]]
    if attribute["name"] in ("userName", "value") or attribute["name"].endswith("email"):
        value = "sample@example.com"
    return [value] if attribute["multiValued"] else value


def test_every_writable_user_attribute_round_trips(tenant: Tenant) -> None:
    """Each readWrite attribute /Schemas advertises for User (core and enterprise) is stored and returned
    as sent; writeOnly ones are never returned; readOnly ones sent are ignored (RFC 7643 §7)."""
    schemas = {schema["id"]: schema for schema in tenant.get("/Schemas").json()["Resources"]}
    body: dict[str, Any] = {"schemas": [USER, ENTERPRISE], ENTERPRISE: {}}
    expected: dict[str, Any] = {}
    for urn, target in ((USER, body), (ENTERPRISE, body[ENTERPRISE])):
        for attribute in schemas[urn]["attributes"]:
            if attribute["name"] == "manager":
                continue  # a reference to another user: covered by cases C36/C37
            target[attribute["name"]] = sample(attribute)
            if attribute["mutability"] == "readWrite" and attribute["returned"] != "never":
                expected[f"{urn}:{attribute['name']}"] = target[attribute["name"]]
    response = tenant.post("/Users", json=body)
    assert response.status_code == 201, response.text
    user = tenant.get(f"/Users/{response.json()['id']}").json()
    for key, value in expected.items():
        urn, name = key.rsplit(":", 1)
        returned = user[name] if urn == USER else user[ENTERPRISE][name]
        assert returned == value, key
    assert "password" not in user and user["id"] != "Sample" and "groups" not in user


def test_discovery_needs_the_token(tenant: Tenant) -> None:
    """Discovery answers 401 without the workspace token, like every SCIM endpoint (case C30)."""
    with httpx.Client(base_url=tenant.server.base_url) as client:
        for path in ENDPOINTS:
            response = client.get(path)
            assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_filter_on_discovery_is_403(tenant: Tenant, path: str) -> None:
    """RFC 7644 §4: a filter on a discovery endpoint SHOULD be 403, so that no client takes the
    whole list for a filtered one; other query parameters are ignored."""
    response = tenant.get(f"{path}?filter=name%20eq%20%22User%22")
    assert response.status_code == 403 and response.json()["schemas"] == [ERROR]
    assert "RFC 7644 §4" in response.json()["detail"]
    assert tenant.get(f"{path}?aadOptscim062020&count=1").status_code == 200
