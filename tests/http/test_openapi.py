"""The published OpenAPI 3.1 descriptions (http.openapi): valid OpenAPI 3.1, served without a
token, every route the app serves under each prefix described and nothing else, and the
errors the server actually sends match the error schemas they publish (both databases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from fastapi.routing import APIRoute

from scimgate.app import create_app
from scimgate.config import SCIM_PREFIX, Settings
from scimgate.http.admin_api import PREFIX as ADMIN_PREFIX
from tests.support import LiveServer, Tenant, admin_client

METHODS = {"get", "post", "put", "patch", "delete"}


def fetch(server: LiveServer, prefix: str) -> dict[str, Any]:
    """The description under ``prefix``, fetched without any Authorization header."""
    response = httpx.get(f"{server.url}{prefix}/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


def served_operations(prefix: str, tmp_path: Path) -> set[tuple[str, str]]:
    """(method, path under ``prefix``) of every route the app publishes (include_in_schema), from
    the routers it includes (``app.state.routers``, the list http.allow reads too)."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}"))
    found = set()
    for route in (route for router in app.state.routers for route in router.routes):
        if isinstance(route, APIRoute) and route.include_in_schema and route.path.startswith(prefix + "/"):
            found |= {(method.lower(), route.path[len(prefix):]) for method in route.methods - {"HEAD"}}
    return found


def described_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    paths = document["paths"].items()
    return {(method, path) for path, item in paths for method in item if method in METHODS}


def validator(document: dict[str, Any], component: str) -> jsonschema_rs.Validator:
    """A draft 2020-12 validator of ``components.schemas[component]`` with its $refs resolvable."""
    schema = {**document["components"]["schemas"][component], "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


@pytest.mark.parametrize("prefix", [SCIM_PREFIX, ADMIN_PREFIX])
def test_description_is_openapi_31_served_without_a_token(live_server: LiveServer, prefix: str) -> None:
    document = fetch(live_server, prefix)
    assert document["openapi"].startswith("3.1.")
    assert document["servers"] == [{"url": live_server.url + prefix}]
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name  # each a valid draft 2020-12 schema


@pytest.mark.parametrize("prefix", [SCIM_PREFIX, ADMIN_PREFIX])
def test_every_served_route_is_described_and_nothing_else(
    live_server: LiveServer, prefix: str, tmp_path: Path
) -> None:
    served = served_operations(prefix, tmp_path)
    assert len(served) >= (20 if prefix == SCIM_PREFIX else 7)
    assert described_operations(fetch(live_server, prefix)) == served


def test_scim_description_holds_the_protocol_shapes(live_server: LiveServer) -> None:
    document = fetch(live_server, SCIM_PREFIX)
    schemas = document["components"]["schemas"]
    user = schemas["User"]
    assert "userName" in user["required"]
    assert user["properties"]["id"]["readOnly"] and user["properties"]["password"]["writeOnly"]
    assert user["properties"]["emails"]["type"] == "array"
    assert "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" in user["properties"]
    assert schemas["Group"]["properties"]["members"]["items"]["properties"]["value"]["type"] == "string"
    assert schemas["PatchOp"]["required"] == ["schemas", "Operations"]
    assert "uniqueness" in schemas["Error"]["properties"]["scimType"]["enum"]
    patch = document["paths"]["/Users/{member_id}"]["patch"]
    assert patch["requestBody"]["content"]["application/scim+json"]["schema"] == {
        "$ref": "#/components/schemas/PatchOp"}
    assert {p["name"] for p in patch["parameters"]} == {"attributes", "excludedAttributes", "If-Match"}
    listing = {p["name"] for p in document["paths"]["/Users"]["get"]["parameters"]}
    assert {"filter", "startIndex", "count", "sortBy", "sortOrder"} <= listing
    assert "10,000" in document["paths"]["/Groups/{group_id}"]["patch"]["summary"]
    error = document["components"]["responses"]["Scim400"]["content"]["application/scim+json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}


def test_scim_errors_match_the_published_error_schema(live_server: LiveServer, tenant: Tenant) -> None:
    errors = validator(fetch(live_server, SCIM_PREFIX), "Error")
    answers = [
        tenant.get("/Users/does-not-exist"),
        tenant.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
        tenant.get("/Users", params={"filter": "userName eq"}),
        httpx.get(live_server.base_url + "/Users", timeout=30),
    ]
    assert [a.status_code for a in answers] == [404, 400, 400, 401]
    for answer in answers:
        errors.validate(answer.json())
    assert not errors.is_valid({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": 404})


def test_admin_errors_match_the_published_error_schema(live_server: LiveServer, tenant: Tenant) -> None:
    errors = validator(fetch(live_server, ADMIN_PREFIX), "AdminError")
    with admin_client(tenant) as admin:
        answers = [admin.get("/domains/nowhere.example"), admin.post("/domains", json={"name": ""}),
                   httpx.get(live_server.url + ADMIN_PREFIX + "/domains", timeout=30)]
        assert [a.status_code for a in answers] == [404, 400, 401]
        for answer in answers:
            errors.validate(answer.json())
        domains = validator(fetch(live_server, ADMIN_PREFIX), "DomainList")
        domains.validate(admin.get("/domains").json())
