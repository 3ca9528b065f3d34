"""Golden replays of real identity-provider traffic (STYLE.md §7, docs/conformance.md).

Each ``tests/conformance/<idp>/<id>.json`` file is one case: setup requests, the request under
test, the acceptable statuses and the checks in plain words. One table-driven test replays every
file against a fresh workspace and then runs the case's checks, written out below as real
assertions in ``CHECKS`` (one function per case id, each check of the case in order).
Every response the replay sees must also obey the invariants of ``assert_sane``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from scimgate.services import tokens, workspaces
from scimgate.storage.db import transaction
from scimgate.storage.models import Workspace
from tests.support import LiveServer, Tenant, make_tenant

HERE = Path(__file__).parent
CASE_FILES = sorted(HERE.glob("*/*.json"))
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
REPLAY_DOMAINS = ("example.com", "example.net", "example.org")
PLACEHOLDER = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
SETUP_REF = re.compile(r"setup\[(\d+)\]((?:\.[A-Za-z$]+)+)")


def load_cases() -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in CASE_FILES]


def assert_sane(response: httpx.Response) -> None:
    """Invariants of every SCIM response (RFC 7644 §3.12, §8.1): never a server fault (a 5xx other
    than 501, which answers an RFC endpoint this server does not offer: /Me, /Bulk); an error is
    an Error document with a string ``status`` and ``Content-Type: application/scim+json``; JSON
    bodies are UTF-8 with no traceback."""
    fault = response.status_code >= 500 and response.status_code != 501
    assert not fault, f"{response.request.method} {response.request.url}: {response.text}"
    if response.status_code in (204, 304):
        return
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("application/scim+json"), content_type
    assert "charset" not in content_type or "charset=utf-8" in content_type.lower()
    body = json.loads(response.content.decode("utf-8"))
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        assert body["schemas"] == [ERROR]
        assert body["status"] == str(response.status_code)
        assert set(body) <= {"schemas", "status", "detail", "scimType"}


@dataclass
class Replay:
    """One case being replayed: its tenant, the setup responses and the response under test."""

    case: dict[str, Any]
    tenant: Tenant
    http: httpx.Client
    setup: list[httpx.Response] = field(default_factory=list)
    response: httpx.Response | None = None

    # -- placeholders ------------------------------------------------------------------------
    def resolve(self, expression: str) -> str:
        if expression == "token":
            return self.tenant.token
        match = SETUP_REF.fullmatch(expression)
        if match is None:
            raise AssertionError(f"unknown placeholder {{{{{expression}}}}}")
        value: Any = self.setup[int(match.group(1))].json()
        for part in match.group(2).strip(".").split("."):
            value = value[part]
        return str(value)

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return PLACEHOLDER.sub(lambda m: self.resolve(m.group(1)), value)
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        if isinstance(value, dict):
            return {self.fill(key): self.fill(item) for key, item in value.items()}
        return value

    def id(self, index: int) -> str:
        return str(self.setup[index].json()["id"])

    # -- requests ----------------------------------------------------------------------------
    def send_raw(self, spec: dict[str, Any]) -> httpx.Response:
        """Send a case request exactly as written: its own headers only, body as JSON bytes."""
        spec = self.fill(spec)
        body = spec.get("body")
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        # RFC 9110 §5.5: whitespace around a field value is not part of it ("Bearer " is
        # "Bearer" on the wire); the HTTP client refuses to send it, so it is trimmed here.
        headers = {name: value.strip() for name, value in (spec.get("headers") or {}).items()}
        response = self.http.request(spec["method"], spec["path"], headers=headers, content=content)
        assert_sane(response)
        return response

    def send(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             content: bytes | None = None) -> httpx.Response:
        """A follow-up request with the workspace token (placeholders filled)."""
        all_headers = {"Authorization": f"Bearer {self.tenant.token}",
                       "Content-Type": "application/scim+json", **(headers or {})}
        if body is not None:
            content = json.dumps(self.fill(body), ensure_ascii=False).encode("utf-8")
        response = self.http.request(method, self.fill(path), headers=all_headers, content=content)
        assert_sane(response)
        return response

    def get(self, path: str) -> dict[str, Any]:
        response = self.send("GET", path)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def patch(self, path: str, *operations: dict[str, Any]) -> httpx.Response:
        return self.send("PATCH", path, {"schemas": [PATCH_OP], "Operations": list(operations)})

    def request_again(self, **changes: Any) -> httpx.Response:
        """The request under test, with ``changes`` merged into it."""
        spec = dict(self.case["request"])
        spec.update(changes)
        return self.send_raw(spec)

    @property
    def body(self) -> dict[str, Any]:
        assert self.response is not None
        return dict(self.response.json())


def ok(response: httpx.Response) -> None:
    assert response.status_code in (200, 204), response.text


def emails_of(resource: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in resource.get("emails", []) if e.get("type") == kind]


def member_ids(group: dict[str, Any]) -> list[str]:
    return [m["value"] for m in group.get("members", [])]


def _quote(text: str) -> str:
    return quote(text, safe="")


def listed(r: Replay, endpoint: str, expression: str, extra: str = "") -> dict[str, Any]:
    """GET ``endpoint?filter=<expression>``: the ListResponse (asserting 200)."""
    body = r.get(f"{endpoint}?filter={_quote(expression)}{extra}")
    assert body["schemas"] == [LIST]
    return body


def error_of(response: httpx.Response, status: int, *scim_types: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    if scim_types:
        assert body.get("scimType") in scim_types, body
    return body


# ---------------------------------------------------------------------------------------------
# Per-case checks: each function asserts every check of its case, in the order written there.
# ---------------------------------------------------------------------------------------------


def check_c01(r: Replay) -> None:
    user = r.get(f"/Users/{r.id(0)}")
    assert user["name"]["givenName"] == "Ada"
    assert user["name"]["familyName"] == "Lovelace"
    assert user["name"]["formatted"] == "Ada Lovelace"
    assert user["displayName"] == "Ada Lovelace" and user["title"] == "Engineer"
    for key in ("name.givenName", "name.familyName", "name.formatted", "givenName", "familyName"):
        assert key not in user
    if r.response is not None and r.response.status_code == 200:
        assert r.body["name"] == user["name"]


def check_c03(r: Replay) -> None:
    responses = [r.response]
    assert r.get(f"/Users/{r.id(0)}")["active"] is False
    for value, expected in (("True", True), ("FALSE", False), ("true", True), ("False", False)):
        response = r.request_again(body={"schemas": [PATCH_OP],
                                         "Operations": [{"op": "Replace", "path": "active", "value": value}]})
        ok(response)
        responses.append(response)
        assert r.get(f"/Users/{r.id(0)}")["active"] is expected
    before = r.get(f"/Users/{r.id(0)}")
    maybe = r.request_again(body={"schemas": [PATCH_OP],
                                  "Operations": [{"op": "Replace", "path": "active", "value": "maybe"}]})
    error_of(maybe, 400, "invalidValue")
    assert r.get(f"/Users/{r.id(0)}")["meta"]["version"] == before["meta"]["version"]
    for response in responses:
        if response is not None and response.status_code == 200:
            assert isinstance(response.json()["active"], bool)


def check_c04(r: Replay) -> None:
    user = r.get(f"/Users/{r.id(0)}")
    assert user["displayName"] == "Cy After" and user["title"] == "Analyst"
    merge = r.patch(f"/Users/{r.id(0)}", {"op": "Merge", "path": "displayName", "value": "Cy Merged"})
    error_of(merge, 400, "invalidSyntax", "invalidValue")
    assert r.get(f"/Users/{r.id(0)}")["displayName"] == "Cy After"


def check_c05(r: Replay) -> None:
    user = r.get(f"/Users/{r.id(0)}")
    (work,) = emails_of(user, "work")
    assert work["value"] == "dee.renamed.c05@example.com" and work["primary"] is True
    (home,) = emails_of(user, "home")
    assert home["value"] == "dee.home.c05@example.net" and home["primary"] is False
    assert user["userName"] == "dee.renamed.c05@example.com" and user["id"] == r.id(0)
    missing = r.patch(f"/Users/{r.id(0)}",
                      {"op": "replace", "path": 'emails[type eq "other"].value', "value": "x@example.com"})
    error_of(missing, 400, "noTarget")
    assert r.get(f"/Users/{r.id(0)}")["meta"]["version"] == user["meta"]["version"]
    with transaction(r.tenant.server.sessions) as session:  # the explicit Entra-compat mode
        workspace = session.get(Workspace, r.tenant.workspace_id)
        assert workspace is not None
        workspaces.set_entra_replace_creates(session, workspace, True)
    ok(r.patch(f"/Users/{r.id(0)}",
               {"op": "replace", "path": 'emails[type eq "other"].value', "value": "x@example.com"}))
    compat = r.get(f"/Users/{r.id(0)}")
    assert [e["value"] for e in emails_of(compat, "other")] == ["x@example.com"]
    assert emails_of(compat, "work") == [work] and emails_of(compat, "home") == [home]


def check_c06(r: Replay) -> None:
    user = r.get(f"/Users/{r.id(0)}")
    assert [e["value"] for e in emails_of(user, "work")] == ["eli.c06@example.com"]
    assert any(a.get("type") == "work" and a.get("locality") == "Springfield" for a in user["addresses"])
    assert user["name"]["givenName"] == "Eli"
    ok(r.request_again())
    again = r.get(f"/Users/{r.id(0)}")
    assert [e["value"] for e in emails_of(again, "work")] == ["eli.c06@example.com"]
    assert len([a for a in again["addresses"] if a.get("type") == "work"]) == 1


def check_c08(r: Replay) -> None:
    group_path = f"/Groups/{r.id(2)}"
    assert member_ids(r.get(group_path)) == [r.id(1)]
    stranger = str(uuid.uuid4())
    response = r.patch(group_path, {"op": "remove", "path": f'members[value eq "{stranger}"]'})
    if response.status_code == 400:
        error_of(response, 400, "noTarget")
    else:
        ok(response)
    assert member_ids(r.get(group_path)) == [r.id(1)]
    ok(r.patch(group_path, {"op": "remove", "path": f'members[value eq "{r.id(1)}"]'}))
    assert r.get(group_path).get("members", []) == []


def check_c09(r: Replay) -> None:
    group_path = f"/Groups/{r.id(1)}"
    group = r.get(group_path)
    assert member_ids(group) == [r.id(0)]
    assert group["meta"]["lastModified"] == r.setup[1].json()["meta"]["lastModified"]
    ghost = r.patch(group_path, {"op": "add", "path": "members", "value": [{"value": str(uuid.uuid4())}]})
    assert ghost.status_code in (400, 404), ghost.text
    if ghost.status_code == 400:
        error_of(ghost, 400, "invalidValue")
    assert member_ids(r.get(group_path)) == [r.id(0)]


def check_c11(r: Replay) -> None:
    assert sorted(member_ids(r.get(f"/Groups/{r.id(3)}"))) == sorted([r.id(1), r.id(2)])
    created = r.send("POST", "/Groups", {"schemas": [GROUP], "displayName": "Example Corp C11 PUT",
                                         "members": [{"value": r.id(0)}, {"value": r.id(1)}]})
    assert created.status_code == 201, created.text
    path = f"/Groups/{created.json()['id']}"
    put = r.send("PUT", path, {"schemas": [GROUP], "displayName": "Example Corp C11 PUT",
                               "members": [{"value": r.id(1)}, {"value": r.id(2)}]})
    ok(put)
    assert sorted(member_ids(r.get(path))) == sorted([r.id(1), r.id(2)])


def check_c13(r: Replay) -> None:
    group = r.get(f"/Groups/{r.id(1)}")
    assert r.id(0) in member_ids(group)
    for member in group["members"]:
        assert member.get("type", "User") == "User"
    user = r.get(f"/Users/{r.id(0)}")
    assert r.id(1) in [g["value"] for g in user.get("groups", [])]


def check_c14(r: Replay) -> None:
    path = f"/Users/{r.id(0)}"
    assert r.get(path)["active"] is False
    ok(r.patch(path, {"op": "replace", "value": {"active": True}}))
    assert r.get(path)["active"] is True
    for value in ({"Active": False, "displayName": "Tia C14"}, {"displayName": "Tia", "active": "true"},
                  {"name": {"givenName": "Tia"}},
                  {"emails": [{"value": "tia.c14@example.com", "type": "work"}]}):
        ok(r.patch(path, {"op": "replace", "value": value}))
    user = r.get(path)
    assert user["active"] is True and user["displayName"] == "Tia" and user["name"]["givenName"] == "Tia"


def check_c15(r: Replay) -> None:
    everyone = {r.id(index) for index in range(106)}
    group = r.get(f"/Groups/{r.id(106)}")
    assert len(group["members"]) == 106 and set(member_ids(group)) == everyone
    found = listed(r, "/Groups", 'displayName eq "Example Corp C15 Big"')
    assert found["totalResults"] == 1 and set(member_ids(found["Resources"][0])) == everyone
    slim = listed(r, "/Groups", 'displayName eq "Example Corp C15 Big"', "&excludedAttributes=members")
    assert "members" not in slim["Resources"][0]
    assert r.response is not None
    if r.response.status_code == 200:
        assert set(member_ids(r.body)) == everyone
    assert r.response.elapsed.total_seconds() < 10


def _assert_one_user(r: Replay, user_name: str, user_id: str) -> None:
    found = listed(r, "/Users", f'userName eq "{user_name}"')
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == user_id


def check_c16(r: Replay) -> None:
    body = r.body
    assert body["schemas"] == [ERROR]
    assert body["scimType"] == "uniqueness"
    assert body["status"] == "409"
    assert isinstance(body["detail"], str) and body["detail"] and "Traceback" not in body["detail"]
    _assert_one_user(r, "uma.c16@example.com", r.id(0))


def check_c17(r: Replay) -> None:
    assert r.body["scimType"] == "uniqueness"
    _assert_one_user(r, "vic.c17@example.com", r.id(0))


def check_c19(r: Replay) -> None:
    body = r.body
    assert body["schemas"] == [LIST] and body["totalResults"] == 1
    assert body["Resources"][0]["id"] == r.id(0)
    assert body["Resources"][0]["userName"] == "yara.c19@example.com"
    groups = listed(r, "/Groups", 'displayName eq "example corp c19 TEAM"')
    assert groups["totalResults"] == 1 and groups["Resources"][0]["id"] == r.id(1)
    created = r.send("POST", "/Users", {"schemas": [USER], "userName": "ext.c19@example.com",
                                        "externalId": "ExtC19-Id"})
    assert created.status_code == 201, created.text
    assert listed(r, "/Users", 'externalId eq "ExtC19-Id"')["totalResults"] == 1
    assert listed(r, "/Users", 'externalId eq "extc19-id"')["totalResults"] == 0


def check_c20(r: Replay) -> None:
    assert r.body["totalResults"] == 1 and r.body["Resources"][0]["id"] == r.id(0)
    created = r.send("POST", "/Users", {"SCHEMAS": [USER], "USERNAME": "zoe.c20@example.com",
                                        "Name": {"GivenName": "Zoe", "FAMILYNAME": "Z"}, "Active": "True",
                                        "EMAILS": [{"Value": "zoe.c20@example.com", "TYPE": "work",
                                                    "Primary": "true"}]})
    assert created.status_code == 201, created.text
    user = r.get(f"/Users/{created.json()['id']}")
    assert user["userName"] == "zoe.c20@example.com"
    assert user["name"] == {"givenName": "Zoe", "familyName": "Z"}
    assert user["active"] is True
    assert user["emails"] == [{"value": "zoe.c20@example.com", "type": "work", "primary": True}]
    for key in ("USERNAME", "Name", "Active", "EMAILS"):
        assert key not in user


def check_c21(r: Replay) -> None:
    body = r.body
    assert body["totalResults"] == 1 and body["Resources"][0]["id"] == r.id(1)
    assert body["Resources"][0]["displayName"] == "Example Corp All Staff C21"
    assert "members" not in body["Resources"][0]
    none = listed(r, "/Groups", 'displayName eq "No Such Group C21"', "&excludedAttributes=members")
    assert none["totalResults"] == 0 and none.get("Resources", []) == []


def check_c22(r: Replay) -> None:
    assert r.body["totalResults"] == 3
    assert {res["id"] for res in r.body["Resources"]} == {r.id(0), r.id(1), r.id(2)}
    found = listed(r, "/Users", 'displayName co "C22" and userName sw "b" and active eq true')
    assert [res["id"] for res in found["Resources"]] == [r.id(0)] and found["totalResults"] == 1


def check_c24(r: Replay) -> None:
    assert r.body["totalResults"] == 1 and r.body["Resources"][0]["id"] == r.id(0)
    assert listed(r, "/Users", 'externalId eq "E765F9CB-B0C5-425A-BEF7-953D902B09C1"')["totalResults"] == 0
    group = r.send("POST", "/Groups", {"schemas": [GROUP], "displayName": "Example Corp C24",
                                       "externalId": "a1b2c3d4-c24"})
    assert group.status_code == 201, group.text
    found = listed(r, "/Groups", 'externalId eq "a1b2c3d4-c24"')
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == group.json()["id"]
    assert listed(r, "/Groups", 'externalId eq "A1B2C3D4-C24"')["totalResults"] == 0


def check_c27(r: Replay) -> None:
    display = "Jürgen Müller 山田太郎 🚀"
    assert [s.status_code for s in r.setup] == [201, 201]
    assert r.body["totalResults"] == 1 and r.body["Resources"][0]["id"] == r.id(0)
    assert r.body["Resources"][0]["displayName"] == display
    assert r.get(f"/Users/{r.id(0)}")["displayName"] == display
    patched = r.patch(f"/Users/{r.id(0)}", {"op": "replace", "path": "title", "value": "Ingenieur"})
    assert patched.status_code == 200 and patched.json()["displayName"] == display
    for response in (r.response, patched):
        assert response is not None
        content_type = response.headers["content-type"].lower()
        assert "charset" not in content_type or "charset=utf-8" in content_type
        json.loads(response.content.decode("utf-8"))


def check_c28(r: Replay) -> None:
    body = r.body
    assert body["totalResults"] >= 3 and body["itemsPerPage"] == 1
    assert len(body["Resources"]) == 1 and body["startIndex"] == 1
    for key in ("totalResults", "itemsPerPage", "startIndex"):
        assert type(body[key]) is int
    counted = r.get("/Users?count=0")
    assert counted["totalResults"] >= 3 and counted.get("Resources", []) == []
    paged = listed(r, "/Users", 'userName sw "pg" and userName ew "c28@example.com"', "&count=2")
    assert paged["totalResults"] == 3 and len(paged["Resources"]) == 2


def check_c30(r: Replay) -> None:
    config = r.body
    assert config["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    for block in ("patch", "filter", "bulk", "sort", "etag", "changePassword"):
        assert type(config[block]["supported"]) is bool
    assert type(config["filter"]["maxResults"]) is int
    assert "oauthbearertoken" in [scheme["type"] for scheme in config["authenticationSchemes"]]
    user = r.send("POST", "/Users", {"schemas": [USER], "userName": "cfg.c30@example.com"})
    assert user.status_code == 201
    user_path = f"/Users/{user.json()['id']}"
    patched = r.patch(user_path, {"op": "replace", "path": "displayName", "value": "Cfg"})
    assert (patched.status_code == 200) is config["patch"]["supported"]
    assert (r.send("GET", "/Users?filter=userName%20pr").status_code == 200) is config["filter"]["supported"]
    assert (r.send("GET", "/Users?sortBy=userName").status_code == 200) is config["sort"]["supported"]
    stale = r.send("PATCH", user_path, {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Stale"}]}, headers={"If-Match": 'W/"999"'})
    assert (stale.status_code == 412) is config["etag"]["supported"]
    bulk = r.send("POST", "/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                                    "Operations": []})
    assert (bulk.status_code == 200) is config["bulk"]["supported"]
    if not config["changePassword"]["supported"]:
        # Okta's GET-modify-PUT carries a password (identity-providers.md §7): it is accepted and dropped,
        # never stored nor returned (RFC 7643 §4.1.1 password is writeOnly, returned never).
        password = r.patch(user_path, {"op": "replace", "path": "password", "value": "s3cret-Pa55"})
        assert password.status_code in (200, 204, 400) and "s3cret" not in password.text
        assert "password" not in r.get(user_path)

    types = r.get("/ResourceTypes")
    assert types["schemas"] == [LIST]
    by_name = {t["name"]: t for t in types["Resources"]}
    assert by_name["User"]["endpoint"] == "/Users" and by_name["User"]["schema"] == USER
    assert ENTERPRISE in [ext["schema"] for ext in by_name["User"]["schemaExtensions"]]
    assert by_name["Group"]["endpoint"] == "/Groups" and by_name["Group"]["schema"] == GROUP
    single = r.get("/ResourceTypes/User")
    assert single["id"] == "User"
    assert single["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"]
    error_of(r.send("GET", "/ResourceTypes/Nope"), 404)
    for urn in (USER, ENTERPRISE, GROUP):
        assert r.get(f"/Schemas/{urn}")["id"] == urn
    error_of(r.send("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Nope"), 404)
    for path in ("/ServiceProviderConfig", "/ResourceTypes", "/Schemas", "/ResourceTypes/User",
                 f"/Schemas/{USER}"):
        anonymous = r.http.get(path)
        assert_sane(anonymous)
        error_of(anonymous, 401)


def check_c31(r: Replay) -> None:
    body = r.body
    assert body["schemas"] == [LIST] and body["totalResults"] == len(body["Resources"]) >= 3
    keys = ("name", "type", "multiValued", "required", "caseExact", "mutability", "returned", "uniqueness")

    def walk(attributes: list[dict[str, Any]]) -> None:
        for attribute in attributes:
            missing = [key for key in keys if key not in attribute]
            assert not missing, (attribute["name"], missing)
            walk(attribute.get("subAttributes", []))

    for schema in body["Resources"]:
        assert schema["schemas"] == [SCHEMA]
        assert schema["id"].startswith("urn:") and schema["name"] and isinstance(schema["attributes"], list)
        walk(schema["attributes"])
        assert schema["meta"]["resourceType"] == "Schema"
        assert schema["meta"]["location"].endswith(f"/Schemas/{schema['id']}")
    user = next(s for s in body["Resources"] if s["id"] == USER)
    attributes = {a["name"]: a for a in user["attributes"]}
    assert attributes["userName"]["caseExact"] is False and attributes["userName"]["uniqueness"] == "server"
    assert attributes["id"]["mutability"] == "readOnly" and attributes["id"]["returned"] == "always"


def check_c32(r: Replay) -> None:
    path = f"/Users/{r.id(0)}"
    old = r.setup[0].json()["meta"]["version"]
    etag_supported = r.get("/ServiceProviderConfig")["etag"]["supported"]
    current = r.send("GET", path)
    user = current.json()
    assert user["displayName"] == "Kai After"
    assert current.headers["etag"] == user["meta"]["version"] != old
    stale = r.request_again(body={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Kai Stale"}]})
    if not etag_supported:
        ok(stale)
        return
    error_of(stale, 412)
    assert r.get(path)["meta"]["version"] == user["meta"]["version"]
    assert r.get(path)["displayName"] == "Kai After"
    not_modified = r.send("GET", path, headers={"If-None-Match": user["meta"]["version"]})
    assert not_modified.status_code == 304 and not_modified.content == b""
    put_body = {"schemas": [USER], "userName": "kai.c32@example.com", "displayName": "Kai Put"}
    error_of(r.send("PUT", path, put_body, headers={"If-Match": old}), 412)
    error_of(r.send("DELETE", path, headers={"If-Match": old}), 412)
    assert r.get(path)["displayName"] == "Kai After"
    put = r.send("PUT", path, put_body, headers={"If-Match": user["meta"]["version"]})
    assert put.status_code == 200 and put.json()["displayName"] == "Kai Put"
    assert r.send("DELETE", path, headers={"If-Match": put.json()["meta"]["version"]}).status_code == 204
    error_of(r.send("GET", path), 404)


def _assert_unauthorized(response: httpx.Response) -> None:
    assert_sane(response)
    body = error_of(response, 401)
    assert body["detail"]
    assert response.headers["www-authenticate"].lower().startswith("bearer")


def check_c33(r: Replay) -> None:
    r.send("POST", "/Users", {"schemas": [USER], "userName": "secret.c33@example.com"})
    _assert_unauthorized(r.response)  # type: ignore[arg-type]
    token = r.tenant.token
    for header in ("Basic Zm9vOmJhcg==", "Bearer", "bearer", "Token " + token, token,
                   "Bearer " + token + " extra", "Bearer,", "Bearer null", "Basic " + token):
        _assert_unauthorized(r.http.get("/Users", headers={"Authorization": header}))
    assert "secret.c33" not in r.response.text  # type: ignore[union-attr]


def check_c34(r: Replay) -> None:
    assert r.response is not None and "userName" not in r.response.text
    other = make_tenant(r.tenant.server)
    other.client.close()
    with transaction(r.tenant.server.sessions) as session:
        workspace = session.get(Workspace, r.tenant.workspace_id)
        assert workspace is not None
        issued = tokens.issue_token(session, workspace)
        tokens.revoke_tokens(session, workspace, keep=issued.record)
        fresh = issued.secret
    r.send("POST", "/Users", {"schemas": [USER], "userName": "other.c34@example.com"},
           headers={"Authorization": f"Bearer {other.token}"})
    for secret in ("null", "undefined", other.token + "x", r.tenant.token, fresh + "x", fresh[:-1]):
        response = r.http.get("/Users", headers={"Authorization": f"Bearer {secret}"})
        _assert_unauthorized(response)
        assert "userName" not in response.text
    assert r.http.get("/Users", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    with transaction(r.tenant.server.sessions) as session:
        workspace = session.get(Workspace, r.tenant.workspace_id)
        assert workspace is not None
        workspaces.set_scim_sync(session, workspace, False)
    off = r.http.get("/Users", headers={"Authorization": f"Bearer {fresh}"})
    assert_sane(off)
    assert off.status_code in (401, 403) and "sync" in off.json()["detail"].lower()


def _manager(user: dict[str, Any]) -> dict[str, Any]:
    manager = user[ENTERPRISE]["manager"]
    assert isinstance(manager, dict)
    return manager


def check_c36(r: Replay) -> None:
    user = r.get(f"/Users/{r.id(1)}")
    manager = _manager(user)
    assert manager["value"] == r.id(0)
    if "$ref" in manager:
        assert manager["$ref"].endswith(f"/Users/{r.id(0)}")
    if "displayName" in manager:
        assert manager["displayName"] == "Boss C36"
    assert ENTERPRISE in user["schemas"]
    ok(r.patch(f"/Users/{r.id(1)}", {"op": "remove", "path": f"{ENTERPRISE}:manager"}))
    assert "manager" not in r.get(f"/Users/{r.id(1)}").get(ENTERPRISE, {})
    rfc = r.patch(f"/Users/{r.id(1)}",
                  {"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": r.id(0)}})
    ok(rfc)
    assert _manager(r.get(f"/Users/{r.id(1)}")) == manager
    for response in (r.response, rfc):
        if response is not None and response.status_code == 200:
            _manager(response.json())


def check_c37(r: Replay) -> None:
    path = f"/Users/{r.id(1)}"
    extension = r.get(path)[ENTERPRISE]
    assert "manager" not in extension
    assert extension["department"] == "Ops" and extension["employeeNumber"] == "C37-001"
    ok(r.patch(path, {"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": r.id(0)}}))
    found = listed(r, "/Users", f'{ENTERPRISE}:manager.value eq "{r.id(0)}"')
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == r.id(1)
    before = r.get(path)
    ok(r.patch(path, {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Finance"}))
    after = r.get(path)
    assert after[ENTERPRISE] == {**before[ENTERPRISE], "department": "Finance"}
    assert {k: v for k, v in after.items() if k not in (ENTERPRISE, "meta")} == \
        {k: v for k, v in before.items() if k not in (ENTERPRISE, "meta")}


def check_c39(r: Replay) -> None:
    path = f"/Users/{r.id(0)}"
    assert r.response is not None
    if r.response.status_code == 400:
        error_of(r.response, 400, "invalidSyntax")
        assert r.get(path)["displayName"] == "Ema Before"
    else:
        assert r.get(path)["displayName"] == "Ema After"
    version = r.get(path)["meta"]["version"]
    valid = [{"op": "replace", "path": "displayName", "value": "Ema Broken"}]
    bad_bodies: list[bytes] = [
        json.dumps(body).encode() for body in (
            {"schemas": [PATCH_OP]},
            {"schemas": [PATCH_OP], "Operations": {}},
            {"schemas": [PATCH_OP], "Operations": []},
            {"schemas": [PATCH_OP], "Operations": [{"path": "displayName", "value": "Ema Broken"}]},
            {"Operations": valid},
        )
    ] + [b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [', b"not json"]
    for content in bad_bodies:
        response = r.send("PATCH", path, content=content)
        assert response.status_code == 400, (content, response.text)
        assert response.json()["schemas"] == [ERROR]
    assert r.get(path)["meta"]["version"] == version


def check_c40(r: Replay) -> None:
    path = f"/Users/{r.id(0)}"
    name = r.get(path)["name"]
    assert (name["givenName"], name["familyName"], name["middleName"]) == ("Fiona", "Stone", "Q")
    ok(r.patch(path, {"op": "replace", "path": "name.givenName", "value": "Fia"}))
    ok(r.patch(path, {"op": "replace", "value": {"name": {"givenName": "Fiona"}}}))
    assert r.get(path)["name"] == name
    ok(r.patch(path, {"op": "replace", "path": "name.familyName", "value": "Rock"}))
    assert r.get(path)["name"] == {**name, "familyName": "Rock"}


def check_c42(r: Replay) -> None:
    body = r.body
    assert body["schemas"] == [LIST] and body["totalResults"] == 0 and body.get("Resources", []) == []
    query = r.case["request"]["path"].split("?", 1)[1]
    guid = str(uuid.uuid4())
    for path in (f"/Users?aadOptscim062020&{query}", f"/Users?{query}&aadOptscim062020=true",
                 f"/Users/?aadOptscim062020=true&{query}",
                 f"/Users?filter=externalId%20eq%20%22{guid}%22",
                 f"/Users?aadOptscim062020&filter=externalId+eq+%22{guid}%22"):
        empty = r.get(path)
        assert empty["schemas"] == [LIST] and empty["totalResults"] == 0 and empty.get("Resources", []) == []
    _assert_unauthorized(r.http.get(f"/Users?{query}", headers={"Authorization": "Bearer wrong-token"}))


CHECKS: dict[str, Callable[[Replay], None]] = {
    name[len("check_"):].upper(): function
    for name, function in dict(globals()).items()
    if name.startswith("check_c") and callable(function)
}


def test_every_case_has_its_checks() -> None:
    """Every golden replay file has its checks written as assertions, and every check function
    has its file (cases README)."""
    assert sorted(case["id"] for case in load_cases()) == sorted(CHECKS)
    assert len(CASE_FILES) >= 30


@pytest.fixture
def replay_tenant(live_server: LiveServer) -> Iterator[Tenant]:
    """A fresh workspace whose verified domains include example.com (cases README) and the other
    RFC 2606 example domains the cases use for secondary emails (C05's home address)."""
    created = make_tenant(live_server, domains=REPLAY_DOMAINS)
    yield created
    created.client.close()


@pytest.mark.parametrize("case", load_cases(), ids=lambda case: f"{case['idp'].lower()}-{case['id']}")
def test_replay(case: dict[str, Any], replay_tenant: Tenant) -> None:
    """Replay one shared case (setup, request, expected status) and assert its checks."""
    tenant = replay_tenant
    expected = case["expect"]["status"]
    expected = expected if isinstance(expected, list) else [expected]
    with httpx.Client(base_url=tenant.server.base_url, timeout=60) as http:
        replay = Replay(case, tenant, http)
        for step in case["setup"]:
            response = replay.send_raw(step)
            assert 200 <= response.status_code < 300, response.text
            replay.setup.append(response)
        replay.response = replay.send_raw(case["request"])
        assert replay.response.status_code in expected, replay.response.text
        check = CHECKS.get(case["id"])  # a new case file without checks still replays its status
        if check is not None:
            check(replay)
