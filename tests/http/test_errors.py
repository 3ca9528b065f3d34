"""Errors over HTTP (issue 2 §7; RFC 7644 §3.12): every failure is an Error document with a string
``status``, its ``scimType`` where Table 9 has one, ``Content-Type: application/scim+json``, and
never a 5xx or a traceback for anything a client can send."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from scimgate.http.errors import install_error_handlers
from scimgate.http.middleware import EdgeMiddleware
from tests.support import LiveServer, Tenant, admin_client

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def assert_error(response: httpx.Response, status: int, scim_type: str | None = None) -> dict[str, Any]:
    """The response is the RFC 7644 §3.12 error for ``status`` (and ``scim_type``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/scim+json"
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    assert isinstance(body["detail"], str) and body["detail"] and "Traceback" not in response.text
    assert body.get("scimType") == scim_type
    return dict(body)


def raw(tenant: Tenant, method: str, path: str, content: bytes | None = None,
        headers: dict[str, str] | None = None) -> httpx.Response:
    """A request with exactly these bytes, the token and a SCIM Content-Type."""
    all_headers = {"Authorization": f"Bearer {tenant.token}", "Content-Type": "application/scim+json",
                   **(headers or {})}
    with httpx.Client(base_url=tenant.server.base_url, timeout=60) as client:
        return client.request(method, path, content=content, headers=all_headers)


MALFORMED = [b"{", b'{"userName": "x@example.com",}', b"not json", b'{"userName": "x@example.com"',
             b"\xff\xfe{}", b'{"userName": NaN}', b"[" * 5000 + b"]" * 5000, b"   "]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("content", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_json_is_invalid_syntax(tenant: Tenant, method: str, content: bytes) -> None:
    """A body that is not JSON is 400 invalidSyntax on every write method (RFC 7644 §3.12)."""
    user = tenant.create_user(f"syntax-{method.lower()}@example.com")
    path = "/Users" if method == "POST" else f"/Users/{user['id']}"
    assert_error(raw(tenant, method, path, content), 400, "invalidSyntax")
    assert tenant.get(f"/Users/{user['id']}").json()["meta"]["version"] == user["meta"]["version"]


@pytest.mark.parametrize("body", [[], "text", 42, None, True])
def test_a_body_that_is_not_an_object_is_400_invalid_syntax(tenant: Tenant, body: Any) -> None:
    """JSON that is not an object is no resource, PatchOp or SearchRequest: 400 invalidSyntax on
    every endpoint that takes a body, nothing changed (RFC 7644 §3.1, §3.12)."""
    user = tenant.create_user("shape@example.com")
    group = tenant.post("/Groups", json={"schemas": [GROUP], "displayName": "Shape group"}).json()
    one, team = f"/Users/{user['id']}", f"/Groups/{group['id']}"
    for method, path in (("POST", "/Users"), ("PUT", one), ("PATCH", one), ("POST", "/Users/.search"),
                         ("POST", "/Groups"), ("PUT", team), ("PATCH", team), ("POST", "/Groups/.search"),
                         ("POST", "/.search")):
        response = raw(tenant, method, path, json.dumps(body).encode())
        assert_error(response, 400, "invalidSyntax")
    assert tenant.get(one).json() == user
    assert tenant.get("/Users").json()["totalResults"] == 1
    assert tenant.get("/Groups").json()["totalResults"] == 1


@pytest.mark.parametrize("body", [
    {"userName": 42},
    {"userName": ["a@example.com"]},
    {"userName": "t@example.com", "active": "maybe"},
    {"userName": "t@example.com", "active": 1},
    {"userName": "t@example.com", "name": "Ada Lovelace"},
    {"userName": "t@example.com", "name": {"givenName": 7}},
    {"userName": "t@example.com", "emails": [{"value": "t@example.com", "primary": "yes"}]},
    {"userName": "t@example.com", "emails": [{"value": ["t@example.com"]}]},
    {"userName": "t@example.com", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": "Ops"},
    {"userName": "t@example.com", "emails": [{"value": "a@example.com", "primary": True},
                                             {"value": "b@example.com", "primary": True}]},
    {"userName": ""},
    {"displayName": "No userName"},
    {"userName": "x" * 600 + "@example.com"},
    {"userName": "t@example.com", "emails": [{"value": "t@example.com", "type": "w" * 100}]},
    {"userName": "t@example.com", "addresses": "1 Main Street"},
    {"userName": "t@example.com", "addresses": ["1 Main Street"]},
    {"userName": "t@example.com", "addresses": [{"locality": "Paris"}, 42]},
])
def test_wrong_types_and_values_are_invalid_value(tenant: Tenant, body: dict[str, Any]) -> None:
    """Wrong types, missing or over-long values: 400 invalidValue, nothing created (RFC 7644 §3.3, §3.12)."""
    assert_error(tenant.post("/Users", json=body), 400, "invalidValue")
    assert tenant.get("/Users").json()["totalResults"] == 0


@pytest.mark.parametrize("content", [
    b'{"userName": "nul\\u0000@example.com"}',
    b'{"userName": "t@example.com", "displayName": "\\ud800"}',
    b'{"userName": "t@example.com", "nick\\u0000Name": "x"}',
])
def test_strings_no_database_can_store_are_invalid_value(tenant: Tenant, content: bytes) -> None:
    """U+0000 and lone surrogates are valid JSON escapes but no SCIM value: 400 invalidValue, not a
    database error (RFC 8259 §8.2, RFC 7644 §3.12)."""
    assert_error(raw(tenant, "POST", "/Users", content), 400, "invalidValue")


@pytest.mark.parametrize("path", ["/Users/%00", "/Users?filter=userName%20eq%20%22a%00%22",
                                  "/Users?count=%00"])
def test_nul_in_the_url_is_invalid_value(tenant: Tenant, path: str) -> None:
    """A NUL in the path or query is 400 invalidValue, not a database error (RFC 7644 §3.12)."""
    assert_error(tenant.get(path), 400, "invalidValue")


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/Users/%2F", "/Groups/%2f", "/Users/a%2Fb"])
def test_an_encoded_slash_in_a_scim_id_is_not_found(tenant: Tenant, method: str, path: str) -> None:
    """``/Users/%2F`` names an id holding '/', which no resource has: 404, not the list its
    decoded form ``/Users//`` would reach, nor a 405 of the list's methods."""
    assert_error(raw(tenant, method, path, b"{}"), 404, None)


@pytest.mark.parametrize("query, scim_type", [
    ("startIndex=abc", "invalidValue"), ("count=1.5", "invalidValue"), ("sortOrder=sideways", "invalidValue"),
    ("count=%D9%A3", "invalidValue"), ("startIndex=%EF%BC%91", "invalidValue"), ("count=1_0", "invalidValue"),
    ("count=%203", "invalidValue"), ("startIndex=0x10", "invalidValue"),
    ("sortBy=bogus", "invalidValue"), ("sortBy=name", "invalidValue"),
    ("filter=userName", "invalidFilter"), ("filter=userName%20eq", "invalidFilter"),
    ("filter=nosuch%20eq%20%22x%22", "invalidFilter"),
    ("filter=userName%20eq%20%22a%22%20and", "invalidFilter"),
])
def test_bad_query_parameters(tenant: Tenant, query: str, scim_type: str) -> None:
    """Malformed paging, sorting and filters: 400 with the Table 9 scimType (RFC 7644 §3.4.2, §3.12)."""
    assert_error(tenant.get(f"/Users?{query}"), 400, scim_type)


def test_unknown_id_is_404_for_every_method(tenant: Tenant) -> None:
    """GET, PUT, PATCH and DELETE of an id that does not exist: 404 (RFC 7644 §3.12)."""
    path = "/Users/8d4ad2b1-51a3-4f44-9a0e-9d1f0b8c2f00"
    patch = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}
    for response in (tenant.get(path), tenant.put(path, json={"userName": "a@example.com"}),
                     tenant.patch(path, json=patch), tenant.delete(path), tenant.get("/Users/" + "x" * 300)):
        assert_error(response, 404)


def test_duplicate_user_name_in_any_case_is_409_uniqueness(tenant: Tenant) -> None:
    """POST, PUT and PATCH to a userName taken in any case: 409 uniqueness, nothing changed
    (RFC 7643 §4.1.1 caseExact false, uniqueness server; RFC 7644 §3.3)."""
    tenant.create_user("Taken@Example.com")
    other = tenant.create_user("free@example.com")
    assert_error(tenant.post("/Users", json={"userName": "tAKEN@example.COM"}), 409, "uniqueness")
    path = f"/Users/{other['id']}"
    assert_error(tenant.put(path, json={"userName": "taken@example.com"}), 409, "uniqueness")
    operation = {"op": "replace", "path": "userName", "value": "TAKEN@example.com"}
    patch = {"schemas": [PATCH_OP], "Operations": [operation]}
    assert_error(tenant.patch(f"/Users/{other['id']}", json=patch), 409, "uniqueness")
    assert tenant.get(f"/Users/{other['id']}").json() == other
    assert tenant.get("/Users").json()["totalResults"] == 2


@pytest.mark.parametrize("method, path, allow", [
    ("PUT", "/Users", "GET, HEAD, POST"), ("PATCH", "/Users", "GET, HEAD, POST"),
    ("DELETE", "/Users", "GET, HEAD, POST"), ("POST", "/Users/{id}", "DELETE, GET, HEAD, PATCH, PUT"),
    ("GET", "/Users/.search", "POST"), ("PUT", "/Users/.search", "POST"),
    ("DELETE", "/Groups", "GET, HEAD, POST"), ("POST", "/Groups/{id}", "DELETE, GET, HEAD, PATCH, PUT"),
    ("PATCH", "/Groups/.search", "POST"), ("DELETE", "/ServiceProviderConfig", "GET, HEAD"),
    ("POST", "/Schemas", "GET, HEAD"), ("PUT", "/.search", "POST"),
    ("OPTIONS", "/Users/.search", "POST"), ("TRACE", "/Groups/.search", "POST"),
    ("OPTIONS", "/Users", "GET, HEAD, POST"), ("OPTIONS", "/Users/{id}", "DELETE, GET, HEAD, PATCH, PUT"),
])
def test_wrong_method_is_405_with_allow(tenant: Tenant, method: str, path: str, allow: str) -> None:
    """A method the endpoint does not support: 405 as a SCIM error (RFC 7644 §3.12, Table 8)
    whose ``Allow`` header lists every method the endpoint does answer (RFC 9110 §15.5.6)."""
    user = tenant.create_user("method@example.com")
    group = tenant.post("/Groups", json={"schemas": [GROUP], "displayName": "Method group"}).json()
    response = raw(tenant, method, path.format(id=user["id"] if "Users" in path else group["id"]), b"{}")
    assert_error(response, 405)
    assert response.headers["allow"] == allow


@pytest.mark.parametrize("path", ["/Users", "/Users/{id}", "/ServiceProviderConfig", "/Schemas"])
def test_head_answers_the_get_headers_without_a_body(tenant: Tenant, path: str) -> None:
    """HEAD is GET without the body (RFC 9110 §9.3.2): same status, type and length."""
    user = tenant.create_user("head@example.com")
    url = path.format(id=user["id"])
    got, head = tenant.get(url), raw(tenant, "HEAD", url, b"")
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))
    assert head.headers.get("etag") == got.headers.get("etag")


def test_head_needs_the_token_like_get(tenant: Tenant) -> None:
    response = httpx.head(tenant.server.base_url + "/Users", timeout=30)
    assert response.status_code == 401 and response.content == b""


def test_unknown_endpoint_is_404(tenant: Tenant) -> None:
    """A path that is no SCIM endpoint: 404 as a SCIM error (RFC 7644 §3.12)."""
    assert_error(tenant.get("/Nope"), 404)
    assert_error(tenant.get("/Users/a/b"), 404)


def test_body_over_one_mebibyte_is_413(tenant: Tenant) -> None:
    """A body over 1 MiB is refused with 413, declared or streamed (RFC 7644 §3.12, Table 8)."""
    big = json.dumps({"userName": "big@example.com", "displayName": "x" * (1024 * 1024)}).encode()
    assert_error(raw(tenant, "POST", "/Users", big), 413)

    def chunks() -> Any:
        for start in range(0, len(big), 65536):
            yield big[start:start + 65536]

    with httpx.Client(base_url=tenant.server.base_url, timeout=60) as client:
        streamed = client.post("/Users", content=chunks(),
                               headers={"Authorization": f"Bearer {tenant.token}"})
    assert_error(streamed, 413)
    assert tenant.get("/Users").json()["totalResults"] == 0


def test_unsupported_media_type_is_415(tenant: Tenant) -> None:
    """A body in a media type that is not JSON: 415 as a SCIM error (RFC 7644 §3.1, §3.12)."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = raw(tenant, "POST", "/Users", b"userName=a", form)
    assert_error(response, 415)


def test_errors_carry_no_request_data_back(tenant: Tenant) -> None:
    """Error details never echo the bearer token or a traceback (RFC 7644 §7.5)."""
    response = raw(tenant, "POST", "/Users", b'{"userName": ')
    assert tenant.token not in response.text and "File \"" not in response.text


def test_unexpected_exception_is_500_with_request_id_only() -> None:
    """An unexpected exception becomes a 500 SCIM error naming the request id, without a traceback.

    Every client-reachable fault found over HTTP answers 4xx (the tests above), so the handler is
    exercised on a tiny app with the same handlers and edge middleware (RFC 7644 §3.12)."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(EdgeMiddleware, max_body_bytes=1024)

    @app.get("/api/scim/v2/boom")
    def boom() -> None:
        raise RuntimeError("secret internals at /srv/app.py line 3")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/scim/v2/boom", headers={"X-Request-Id": "req-123"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/scim+json"
    body = response.json()
    detail = "Internal server error; request id req-123."
    assert body == {"schemas": [ERROR], "status": "500", "detail": detail}
    assert "secret internals" not in response.text and "Traceback" not in response.text


@pytest.mark.parametrize("method, path, status, allow", [
    ("PUT", "/admin/logout", 405, "POST"),
    ("DELETE", "/admin/security/tokens", 405, "POST"),
    ("PUT", "/admin/static/admin.css", 405, "GET, HEAD"),
    ("DELETE", "/healthz", 405, "GET, HEAD"),
    ("PUT", "/admin/no-such-page", 404, None),
    ("PATCH", "/no/such/path", 404, None),
])
def test_outside_scim_routing_errors_are_plain_and_405_lists_allow(
        live_server: LiveServer, method: str, path: str, status: int, allow: str | None) -> None:
    """Admin pages and ops URLs: a wrong method is 405 with the ``Allow`` of what the path
    answers (RFC 9110 §15.5.6), a path that answers nothing is 404; neither is SCIM JSON."""
    response = httpx.request(method, live_server.url + path, timeout=30, follow_redirects=False)
    assert response.status_code == status
    assert response.headers.get("allow") == allow
    assert "scim" not in response.headers["content-type"]


@pytest.mark.parametrize("method, path, allow", [
    ("PUT", "/domains", "GET, HEAD, POST"),
    ("PATCH", "/domains/example.com", "DELETE, GET, HEAD"),
    ("POST", "/domains/example.com", "DELETE, GET, HEAD"),
])
def test_admin_api_wrong_method_is_405_with_allow(tenant: Tenant, method: str, path: str, allow: str) -> None:
    """The admin API answers a known path's wrong method with 405 and ``Allow``, and an unknown
    path with 404, in its own JSON error form."""
    with admin_client(tenant) as client:
        response = client.request(method, path)
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == allow
        assert response.json()["error"]["code"] == "method_not_allowed"
        assert client.put("/no-such-endpoint").status_code == 404


@pytest.mark.parametrize("method, path", [("GET", "/Me"), ("PATCH", "/Me"), ("GET", "/Me/x"),
                                          ("POST", "/Bulk"), ("GET", "/me"), ("POST", "/bulk")])
def test_me_and_bulk_are_501_not_404(tenant: Tenant, method: str, path: str) -> None:
    """RFC 7644 §3.11: a server without /Me SHOULD answer 501; /Bulk likewise (§3.7, bulk is
    advertised as unsupported). A request without a token is still 401."""
    assert_error(raw(tenant, method, path, b"{}" if method != "GET" else None), 501)
    assert httpx.request(method, tenant.server.base_url + path, timeout=30).status_code == 401


@pytest.mark.parametrize("path, kind", [("/admin/members?q=%00", "text/html"),
                                        ("/admin/groups/%00", "text/html"), ("/healthz?x=%00", "text/plain")])
def test_nul_outside_scim_is_a_400_in_the_surface_format(live_server: LiveServer, path: str,
                                                         kind: str) -> None:
    """A NUL in an admin or ops URL is refused like one in a SCIM URL, but in that surface's format
    (an HTML page for the admin pages, plain text for probes), not SCIM JSON (http.surfaces)."""
    response = httpx.get(live_server.url + path, timeout=30)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(kind) and "NUL" in response.text


def test_schemas_of_another_resource_type_or_of_the_wrong_shape_are_400(tenant: Tenant) -> None:
    """RFC 7643 §3: ``schemas`` is an array of URNs naming the resource's schemas. Naming the
    Group schema on /Users (or the User schema on /Groups) is 400 invalidValue, a ``schemas``
    that is not an array of strings is 400 invalidSyntax; nothing is created. A body without
    ``schemas`` is accepted (the endpoint says what it is)."""
    user = tenant.create_user("schemas@example.com")
    for path, body in (("/Users", {"schemas": [GROUP], "userName": "wrong@example.com"}),
                       (f"/Users/{user['id']}", {"schemas": [GROUP], "userName": "schemas@example.com"}),
                       ("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                    "displayName": "Wrong"})):
        method = "PUT" if path.count("/") == 2 else "POST"
        assert_error(raw(tenant, method, path, json.dumps(body).encode()), 400, "invalidValue")
    for schemas in ("urn:ietf:params:scim:schemas:core:2.0:User", [1], {"a": 1}):
        body = {"schemas": schemas, "userName": "shape@example.com"}
        assert_error(raw(tenant, "POST", "/Users", json.dumps(body).encode()), 400, "invalidSyntax")
    assert tenant.get("/Users").json()["totalResults"] == 1
    assert tenant.get("/Groups").json()["totalResults"] == 0
    without = json.dumps({"userName": "noschemas@example.com"}).encode()
    assert raw(tenant, "POST", "/Users", without).status_code == 201
