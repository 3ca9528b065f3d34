"""The published OpenAPI 3.1 descriptions of the SCIM API and the admin API.

- ``GET /api/scim/v2/openapi.json``: every SCIM route (RFC 7644 §3.2: /Users, /Groups, /.search,
  the discovery endpoints), its query parameters (§3.4.2, §3.9), its ``If-Match`` /
  ``If-None-Match`` headers (§3.14), its bodies (User, Group, PatchOp, SearchRequest:
  ``scim.json_schema``) and its answers, every failure an RFC 7644 §3.12 Error with ``scimType``.
- ``GET /api/admin/v1/openapi.json``: the admin JSON API (``http.admin_api``), its bodies (from
  its pydantic models) and its ``{"error": {"status", "code", "detail"}}`` failures.

Both are served without authentication: they describe the code, not a workspace (no tenant
data, no configuration beyond the public base URL a client already holds), and a client or a
tool (schemathesis, an API gateway) must be able to read them before it has a token. They are
built once per process from the same tables the server enforces, so they follow the code;
tests/http/test_openapi.py checks that every route the app serves under each prefix is
described and nothing else is. ``/Me`` and ``/Bulk`` (answered 501, RFC 7644 §3.7, §3.11) and
the refusing methods of ``/.search`` are not operations and are left out.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import version
from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from scimgate.config import SCIM_PREFIX
from scimgate.http.admin_api import PREFIX as ADMIN_API_PREFIX
from scimgate.http.admin_api import (
    DomainIn,
    OidcIn,
    RequiredIn,
    RolesIn,
    SamlIn,
    SampleDataIn,
    SettingsIn,
    TransferIn,
)
from scimgate.http.deps import State
from scimgate.scim import json_schema
from scimgate.scim.limits import MAX_MEMBERS_PER_REQUEST

OPENAPI_VERSION = "3.1.0"
SCIM_JSON = "application/scim+json"
ERROR_REF = {"$ref": "#/components/schemas/Error"}

router = APIRouter()


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


PROJECTION = [
    _query("attributes", "Comma-separated attributes to return, besides those always returned "
           "(RFC 7644 §3.9)."),
    _query("excludedAttributes", "Comma-separated attributes to leave out (RFC 7644 §3.9)."),
]
LISTING = [
    _query("filter", "A filter expression such as userName eq \"alice@example.com\" (RFC 7644 §3.4.2.2); "
           "at most 4,096 UTF-8 bytes."),
    _query("startIndex", "1-based index of the first result (RFC 7644 §3.4.2.4); below 1 reads as 1.",
           {"type": "integer"}),
    _query("count", "Results per page (RFC 7644 §3.4.2.4); clamped to filter.maxResults of "
           "/ServiceProviderConfig.", {"type": "integer"}),
    _query("sortBy", "Attribute to sort by (RFC 7644 §3.4.2.3)."),
    _query("sortOrder", "ascending (default) or descending.",
           {"type": "string", "enum": ["ascending", "descending"]}),
    *PROJECTION,
]
IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
            "description": "Apply only if the resource's ETag matches (RFC 7644 §3.14); else 412."}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "Answer 304 if the resource's ETag matches (RFC 7644 §3.14)."}

SCIM_FAILURES = {
    "400": "Invalid request: scimType invalidSyntax, invalidValue, invalidFilter, invalidPath, "
           "noTarget, mutability or tooMany.",
    "401": "Missing, unknown or revoked bearer token.",
    "403": "SCIM (or group) sync is off for the workspace, or a discovery endpoint was filtered.",
    "404": "No such resource in the token's workspace.",
    "409": "scimType uniqueness, or concurrent requests kept colliding (nothing changed; retry).",
    "412": "If-Match names another version of the resource.",
    "413": "The body is larger than the configured limit.",
    "414": "The URL is too long.",
    "415": "The body is not JSON.",
    "429": "The token's request budget is spent; retry after Retry-After seconds.",
    "500": "An unexpected fault; the detail names the request id.",
}


def _scim_failures(*statuses: str) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/Scim{status}"} for status in statuses}


READ_FAILURES = ("400", "401", "403", "404", "429", "500")
WRITE_FAILURES = ("400", "401", "403", "404", "409", "412", "413", "415", "429", "500")


def _scim_body(name: str) -> dict[str, Any]:
    schema = _ref(name)
    content = {SCIM_JSON: {"schema": schema}, "application/json": {"schema": schema}}
    return {"required": True, "content": content}


def _scim_answer(description: str, name: str, etag: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {SCIM_JSON: {"schema": _ref(name)}}}
    if etag:
        answer["headers"] = {"ETag": {"schema": {"type": "string"}, "description": "The resource's version."}}
    return answer


def _id_parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


def _resource_paths(endpoint: str, resource: str, id_name: str) -> dict[str, Any]:
    """The five operations of one resource type and its ``.search`` (RFC 7644 §3.3-§3.6)."""
    listed = f"{resource}ListResponse"
    member_note = (f" A request may name at most {MAX_MEMBERS_PER_REQUEST:,} members (400 invalidValue "
                   "beyond it, before any change)." if resource == "Group" else "")
    patch_answers: dict[str, Any] = {"200": _scim_answer(f"The patched {resource}.", resource, etag=True)}
    if resource == "Group":
        patch_answers = {
            "204": {"description": "Patched; no body unless attributes or excludedAttributes ask for it. "
                    "ETag: the new version.", "headers": {"ETag": {"schema": {"type": "string"}}}},
            "200": _scim_answer("The patched Group (when attributes or excludedAttributes were given).",
                                "Group", etag=True),
        }
    item = f"/{endpoint}/{{{id_name}}}"
    path_id = _id_parameter(id_name, f"The {resource}'s id.")
    return {
        f"/{endpoint}": {
            "get": {"operationId": f"list{endpoint}", "summary": f"List or filter {endpoint}",
                    "parameters": LISTING,
                    "responses": {"200": _scim_answer(f"A page of {endpoint}.", listed),
                                  **_scim_failures(*READ_FAILURES)}},
            "post": {"operationId": f"create{resource}", "summary": f"Create a {resource}" + member_note,
                     "parameters": PROJECTION, "requestBody": _scim_body(resource),
                     "responses": {"201": _scim_answer(f"The created {resource}.", resource, etag=True),
                                   **_scim_failures(*WRITE_FAILURES)}},
        },
        f"/{endpoint}/.search": {
            "post": {"operationId": f"search{endpoint}", "summary": f"Search {endpoint} (RFC 7644 §3.4.3)",
                     "requestBody": _scim_body("SearchRequest"),
                     "responses": {"200": _scim_answer(f"A page of {endpoint}.", listed),
                                   **_scim_failures("400", "401", "403", "413", "415", "429", "500")}},
        },
        item: {
            "parameters": [path_id],
            "get": {"operationId": f"get{resource}", "summary": f"Read a {resource}",
                    "parameters": [*PROJECTION, IF_NONE_MATCH],
                    "responses": {"200": _scim_answer(f"The {resource}.", resource, etag=True),
                                  "304": {"description": "Not modified (If-None-Match matched)."},
                                  **_scim_failures(*READ_FAILURES)}},
            "put": {"operationId": f"replace{resource}", "summary": f"Replace a {resource}" + member_note,
                    "parameters": [*PROJECTION, IF_MATCH], "requestBody": _scim_body(resource),
                    "responses": {"200": _scim_answer(f"The replaced {resource}.", resource, etag=True),
                                  **_scim_failures(*WRITE_FAILURES)}},
            "patch": {"operationId": f"patch{resource}", "summary": f"Patch a {resource}" + member_note,
                      "parameters": [*PROJECTION, IF_MATCH], "requestBody": _scim_body("PatchOp"),
                      "responses": {**patch_answers, **_scim_failures(*WRITE_FAILURES)}},
            "delete": {"operationId": f"delete{resource}", "summary": f"Delete a {resource}",
                       "parameters": [IF_MATCH],
                       "responses": {"204": {"description": "Deleted."},
                                     **_scim_failures("401", "403", "404", "409", "412", "429", "500")}},
        },
    }


def _discovery(operation_id: str, summary: str, parameter: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id, "summary": summary + " (RFC 7644 §4; a filter is refused with 403)",
        "responses": {"200": _scim_answer("The discovery document.", "Resource"),
                      **_scim_failures("401", "403", "404", "429", "500")},
    }
    if parameter:
        operation["parameters"] = [parameter]
    return {"get": operation}


@cache
def scim_description(base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the SCIM API served at ``base_url`` (``…/api/scim/v2``)."""
    paths: dict[str, Any] = {}
    paths.update(_resource_paths("Users", "User", "member_id"))
    paths.update(_resource_paths("Groups", "Group", "group_id"))
    paths["/.search"] = {"post": {
        "operationId": "searchRoot", "summary": "Search every resource type (RFC 7644 §3.4.3)",
        "requestBody": _scim_body("SearchRequest"),
        "responses": {"200": _scim_answer("A page of Users and Groups.", "ListResponse"),
                      **_scim_failures("400", "401", "403", "413", "415", "429", "500")},
    }}
    paths["/ServiceProviderConfig"] = _discovery("serviceProviderConfig", "What the server supports")
    paths["/ResourceTypes"] = _discovery("resourceTypes", "The resource types")
    paths["/ResourceTypes/{name}"] = _discovery("resourceType", "One resource type",
                                                _id_parameter("name", "User or Group."))
    paths["/Schemas"] = _discovery("schemas", "The schemas")
    paths["/Schemas/{urn}"] = _discovery("schema", "One schema", _id_parameter("urn", "A schema URN."))
    responses = {
        f"Scim{status}": {"description": text, "content": {SCIM_JSON: {"schema": ERROR_REF}}}
        for status, text in SCIM_FAILURES.items()
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "scimgate SCIM 2.0 API", "version": version("scimgate"),
                 "description": "SCIM 2.0 (RFC 7643, RFC 7644) for one workspace per bearer token. "
                 "/Bulk and /Me answer 501 (not offered)."},
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "The workspace's SCIM token."}},
            "schemas": json_schema.components(),
            "responses": responses,
        },
    }


ADMIN_CODES = ["invalid", "unauthorized", "not_found", "method_not_allowed", "conflict", "last_admin",
               "cursor_expired", "too_large", "internal"]
ADMIN_FAILURES = {
    "400": "invalid: the body or a value is not valid.",
    "401": "unauthorized: missing or unknown admin key.",
    "404": "not_found: no such domain or member in the key's workspace.",
    "409": "conflict: the domain exists, another workspace verified it, a prerequisite is missing "
           "(Require SSO), the userName or the last seat was taken (restore); last_admin: the "
           "change would leave the workspace without an active admin.",
    "410": "cursor_expired: the events after the cursor were purged (older than the retention).",
    "413": "too_large: the body is larger than the configured limit.",
    "500": "internal: an unexpected fault; the detail names the request id.",
}


def _admin_failures(*statuses: str) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/Admin{status}"} for status in statuses}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _admin_schemas() -> dict[str, Any]:
    text = {"type": "string"}
    maybe_text = {"type": ["string", "null"]}
    domain = {"type": "object", "required": ["name", "status", "verification"], "properties": {
        "name": text, "display_name": text, "status": text, "verified_by": maybe_text,
        "verified_at": {"type": ["string", "null"], "format": "date-time"}, "verified_detail": maybe_text,
        "created": {"type": "string", "format": "date-time"},
        "verification": {"type": "object", "properties": {
            "type": {"const": "TXT"}, "names": {"type": "array", "items": text}, "value": text}},
    }}
    return {
        "DomainIn": DomainIn.model_json_schema(),
        "SampleDataIn": SampleDataIn.model_json_schema(),
        "RolesIn": _inline(RolesIn.model_json_schema()),
        "SettingsIn": SettingsIn.model_json_schema(),
        "TransferIn": TransferIn.model_json_schema(),
        "RequiredIn": RequiredIn.model_json_schema(),
        "SamlIn": SamlIn.model_json_schema(),
        "OidcIn": OidcIn.model_json_schema(),
        "Object": {"type": "object"},
        "Domain": domain,
        "DomainList": {"type": "object", "required": ["domains"],
                       "properties": {"domains": {"type": "array", "items": _ref("Domain")}}},
        "Verification": {"type": "object", "required": ["verified", "explanation", "domain"], "properties": {
            "verified": {"type": "boolean"}, "explanation": text, "domain": _ref("Domain"),
            "checks": {"type": "array", "items": {"type": "object", "properties": {
                "name": text, "finding": text, "values": {"type": "array", "items": text}}}},
        }},
        "Owned": {"type": "object", "required": ["member_id", "chats", "agents"], "properties": {
            "member_id": text, "chats": {"type": "integer"}, "agents": {"type": "integer"}}},
        "AdminError": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["status", "code", "detail"], "properties": {
                "status": {"type": "integer"}, "code": {"type": "string", "examples": ADMIN_CODES},
                "detail": text}}}},
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic schema with its local ``$defs`` references replaced by the definitions."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    return dict(walk(schema))


def _object(operation_id: str, summary: str, description: str, failures: dict[str, Any],
            body: str | None = None, parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An admin API operation answering a JSON object (its fields in the module named by
    ``description``)."""
    operation: dict[str, Any] = {
        "operationId": operation_id, "summary": summary,
        "responses": {"200": {"description": description, "content": _json("Object")}, **failures},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    if parameters:
        operation["parameters"] = parameters
    return operation


def _more_admin_paths(member: dict[str, Any], reads: dict[str, Any],
                      writes: dict[str, Any]) -> dict[str, Any]:
    """Roles, leaving, seats, single sign-on, the provisioning log and the events feed."""
    integer = {"type": "integer"}
    audit_formats = {"application/jsonl": {"schema": {"type": "string"}},
                     "text/csv": {"schema": {"type": "string"}}}
    return {
        "/roles": {
            "get": _object("getRoles", "Role settings: default role, winning source, group mappings",
                           "The settings (services.roles).", reads),
            "put": _object("putRoles", "Save the role settings; every member's role is recomputed",
                           "The settings and the changes made.", writes, "RolesIn"),
        },
        "/roles/preview": {
            "post": _object("previewRoles", "Who would change role if these settings were saved",
                            "The changes, and whether saving would be refused.", writes, "RolesIn"),
        },
        "/settings": {
            "get": _object("getSettings", "Deletion policy, keep days and seat limit",
                           "The settings.", reads),
            "put": _object("putSettings", "Set the deletion policy, keep days and seat limit",
                           "The settings.", writes, "SettingsIn"),
        },
        "/seats": {"get": _object("getSeats", "Member counts by state and the seat limit",
                                  "The counts.", reads)},
        "/members/removed": {"get": _object(
            "listRemoved", "Recently removed members (kept under the deletion policy)", "A page of them.",
            reads, parameters=[_query("offset", "Members to skip (0 or more).", integer),
                               _query("limit", "Members per page (1 to 200).", integer)])},
        "/members/{member_id}": {"parameters": [member], "get": _object(
            "getMemberRole", "A live member's role and where it comes from", "The role.", reads)},
        "/members/{member_id}/restore": {"parameters": [member], "post": _object(
            "restoreMember", "Restore a removed member under its SCIM id", "The member restored.", writes)},
        "/members/{member_id}/transfer": {"parameters": [member], "post": _object(
            "transferOwned", "Hand the member's chats and agents to another member (`to`: its SCIM id or "
            "userName; 404 not_found when no live member of this workspace has either)", "What moved.",
            writes, "TransferIn")},
        "/sso": {"get": _object("getSso", "The SAML or OIDC connection, its certificates and Require SSO",
                                "The connection.", reads)},
        "/sso/saml": {"put": _object("putSsoSaml", "Configure SAML from the IdP's metadata",
                                     "The connection.", writes, "SamlIn")},
        "/sso/oidc": {"put": _object("putSsoOidc", "Configure OpenID Connect from the issuer's discovery",
                                     "The connection.", writes, "OidcIn")},
        "/sso/required": {"put": _object("putSsoRequired", "Switch Require SSO for verified domains",
                                         "The connection.", writes, "RequiredIn")},
        "/audit": {"get": {
            "operationId": "exportAudit", "summary": "The provisioning log of a time range, streamed",
            "parameters": [
                _query("from", "Start (ISO 8601, inclusive).", {"type": "string", "format": "date-time"}),
                _query("to", "End (ISO 8601, exclusive).", {"type": "string", "format": "date-time"}),
                _query("format", "jsonl (default) or csv.", {"enum": ["jsonl", "csv"]}),
                _query("client", "entra, okta or other.", {"enum": ["entra", "okta", "other"]}),
                _query("resource", "User or Group.", {"enum": ["User", "Group"]}),
                _query("failures", "1: failures only.", {"enum": ["0", "1"]}),
            ],
            "responses": {"200": {"description": "One row per line.", "content": audit_formats},
                          **_admin_failures("400", "401", "500")},
        }},
        "/events": {"get": {
            "operationId": "listEvents", "summary": "Lifecycle events after a cursor, in commit order",
            "parameters": [
                _query("after", "The cursor (``next`` of the previous page).", {"type": "string"}),
                _query("limit", "Events per page (1 to 1000).", integer),
                _query("type", "Event types, comma-separated.", {"type": "string"}),
            ],
            "responses": {"200": {"description": "A page of events with the next cursor.",
                                  "content": _json("Object")},
                          **_admin_failures("400", "401", "410", "500")},
        }},
    }


@cache
def admin_description(base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the admin API served at ``base_url`` (``…/api/admin/v1``)."""
    name = _id_parameter("name", "The domain name (Unicode or punycode).")
    member = _id_parameter("member_id", "The member's SCIM id.")
    reads = _admin_failures("401", "404", "500")
    writes = _admin_failures("400", "401", "404", "409", "413", "500")
    paths = {
        "/domains": {
            "get": {"operationId": "listDomains", "summary": "The workspace's email domains",
                    "responses": {"200": {"description": "Every domain.", "content": _json("DomainList")},
                                  **_admin_failures("401", "500")}},
            "post": {"operationId": "addDomain", "summary": "Add an email domain (unverified)",
                     "requestBody": {"required": True, "content": _json("DomainIn")},
                     "responses": {"201": {"description": "The new domain.", "content": _json("Domain")},
                                   **writes}},
        },
        "/domains/{name}": {
            "parameters": [name],
            "get": {"operationId": "getDomain", "summary": "One domain",
                    "responses": {"200": {"description": "The domain.", "content": _json("Domain")},
                                  **reads}},
            "delete": {"operationId": "removeDomain", "summary": "Remove a domain",
                       "responses": {"204": {"description": "Removed."}, **reads}},
        },
        "/domains/{name}/verify": {
            "parameters": [name],
            "post": {"operationId": "verifyDomain", "summary": "Check the domain's DNS TXT record now",
                     "responses": {"200": {"description": "Whether it is verified, and why.",
                                           "content": _json("Verification")}, **reads}},
        },
        "/members/{member_id}/owned": {
            "parameters": [member],
            "get": {"operationId": "memberOwned", "summary": "Chats and agents the member owns",
                    "responses": {"200": {"description": "The counts.", "content": _json("Owned")}, **reads}},
        },
        "/members/{member_id}/sample-data": {
            "parameters": [member],
            "post": {"operationId": "memberSampleData", "summary": "Give the member sample chats and agents",
                     "requestBody": {"required": False, "content": _json("SampleDataIn")},
                     "responses": {"201": {"description": "The new counts.", "content": _json("Owned")},
                                   **writes}},
        },
        **_more_admin_paths(member, reads, writes),
    }
    responses = {
        f"Admin{status}": {"description": text, "content": _json("AdminError")}
        for status, text in ADMIN_FAILURES.items()
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "scimgate admin API", "version": version("scimgate"),
                 "description": "A workspace's domains, roles, leavers, seats, single sign-on, "
                                "provisioning log and events, for its admin key."},
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An admin key (scimgate admin-key create)."}},
            "schemas": _admin_schemas(),
            "responses": responses,
        },
    }


@router.get(SCIM_PREFIX + "/openapi.json", include_in_schema=False)
async def scim_openapi(state: State) -> Response:
    """The SCIM API's description (no authentication: see the module docstring)."""
    return JSONResponse(scim_description(state.settings.scim_base_url))


@router.get(ADMIN_API_PREFIX + "/openapi.json", include_in_schema=False)
async def admin_openapi(state: State) -> Response:
    """The admin API's description (no authentication: see the module docstring)."""
    return JSONResponse(admin_description(state.settings.public_url.rstrip("/") + ADMIN_API_PREFIX))
