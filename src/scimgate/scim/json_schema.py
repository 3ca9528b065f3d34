"""JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) of the SCIM messages scimgate reads
and writes: User, Group, PatchOp, SearchRequest, ListResponse and Error (RFC 7643 §4, RFC 7644
§3.4.3, §3.5.2, §3.12).

The resource schemas are built from the attribute table the server enforces (``scim.schema``),
so the published description cannot drift from behaviour: an attribute's SCIM type gives its
JSON type, ``mutability`` readOnly/writeOnly become ``readOnly``/``writeOnly`` (a client never
sends the first nor reads the second), ``required`` becomes ``required``. Attribute names are
case-insensitive (RFC 7643 §2.1) and unknown attributes are ignored or refused by the server
with a SCIM error, so every object stays open (``additionalProperties``); the schemas say what
a well-formed message holds, the server decides the rest.
"""

from __future__ import annotations

from typing import Any

from scimgate.scim.schema import (
    ERROR_SCHEMA,
    LIST_RESPONSE_SCHEMA,
    PATCH_OP_SCHEMA,
    SEARCH_REQUEST_SCHEMA,
    Attribute,
    ResourceSchema,
    group_schema,
    user_schema,
)

SCALAR_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "decimal": {"type": "number"},
    "integer": {"type": "integer"},
    "dateTime": {"type": "string", "format": "date-time"},
    "binary": {"type": "string", "contentEncoding": "base64"},
    "reference": {"type": "string"},
}
"""RFC 7643 §2.3 data types as JSON Schema (a reference may be an id as well as a URI)."""

SCIM_TYPES = ("invalidFilter", "tooMany", "uniqueness", "mutability", "invalidSyntax", "invalidPath",
              "noTarget", "invalidValue", "invalidVers", "sensitive")
"""RFC 7644 §3.12 Table 9: every ``scimType`` an Error may carry."""


def attribute_schema(attribute: Attribute) -> dict[str, Any]:
    """The JSON Schema of one attribute's value (an array of them when multi-valued)."""
    if attribute.is_complex:
        value: dict[str, Any] = {"type": "object", "properties": {
            sub.name: attribute_schema(sub) for sub in attribute.sub_attributes.values()
        }}
    else:
        value = dict(SCALAR_TYPES.get(attribute.type, {}))
    if attribute.multi_valued:
        value = {"type": "array", "items": value}
    if attribute.mutability == "readOnly":
        value["readOnly"] = True
    elif attribute.mutability == "writeOnly":
        value["writeOnly"] = True
    return value


def _schemas_property(urns: tuple[str, ...]) -> dict[str, Any]:
    """``schemas``: a non-empty array of the resource's URNs (RFC 7643 §3)."""
    return {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(urns)}}


def resource_schema(resource: ResourceSchema) -> dict[str, Any]:
    """A User or Group document: the core attributes, each extension as an object under its
    URN (RFC 7643 §3.3)."""
    core = resource.attributes[resource.core]
    properties: dict[str, Any] = {"schemas": _schemas_property(resource.schema_urns)}
    properties.update({attribute.name: attribute_schema(attribute) for attribute in core.values()})
    for urn in resource.extensions:
        properties[urn] = {"type": "object", "properties": {
            attribute.name: attribute_schema(attribute) for attribute in resource.attributes[urn].values()
        }}
    required = ["schemas", *(a.name for a in core.values() if a.required)]
    return {"type": "object", "description": f"RFC 7643 {resource.name} resource ({resource.core}).",
            "properties": properties, "required": required}


def patch_op_schema() -> dict[str, Any]:
    """RFC 7644 §3.5.2 PatchOp. ``op`` is matched case-insensitively (Entra sends ``Add``)."""
    ops = [case(name) for name in ("add", "remove", "replace") for case in (str.lower, str.capitalize)]
    operation = {"type": "object", "required": ["op"], "properties": {
        "op": {"type": "string", "enum": ops},
        "path": {"type": "string", "description": "An attribute path (RFC 7644 §3.10), with an optional "
                 "value filter such as members[value eq \"...\"]."},
        "value": {"description": "The value to add or replace; absent for remove."},
    }}
    return {"type": "object", "required": ["schemas", "Operations"], "properties": {
        "schemas": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": [PATCH_OP_SCHEMA]}},
        "Operations": {"type": "array", "minItems": 1, "items": operation},
    }}


def search_request_schema() -> dict[str, Any]:
    """RFC 7644 §3.4.3 SearchRequest: the list query parameters as a body."""
    names = {"type": "array", "items": {"type": "string"}}
    return {"type": "object", "properties": {
        "schemas": {"type": "array", "items": {"type": "string", "enum": [SEARCH_REQUEST_SCHEMA]}},
        "attributes": names,
        "excludedAttributes": names,
        "filter": {"type": "string"},
        "sortBy": {"type": "string"},
        "sortOrder": {"type": "string", "enum": ["ascending", "descending"]},
        "startIndex": {"type": "integer"},
        "count": {"type": "integer"},
    }}


def list_response_schema(item_ref: str) -> dict[str, Any]:
    """RFC 7644 §3.4.2 ListResponse of the resources ``item_ref`` (a ``$ref`` target) describes."""
    return {"type": "object", "required": ["schemas", "totalResults"], "properties": {
        "schemas": {"type": "array", "items": {"type": "string", "enum": [LIST_RESPONSE_SCHEMA]}},
        "totalResults": {"type": "integer", "minimum": 0},
        "startIndex": {"type": "integer", "minimum": 1},
        "itemsPerPage": {"type": "integer", "minimum": 0},
        "Resources": {"type": "array", "items": {"$ref": item_ref}},
    }}


def error_schema() -> dict[str, Any]:
    """RFC 7644 §3.12 Error: ``status`` is the HTTP status as a string; ``scimType`` for 400/409/413."""
    return {"type": "object", "required": ["schemas", "status"], "properties": {
        "schemas": {"type": "array", "minItems": 1, "items": {"type": "string", "const": ERROR_SCHEMA}},
        "status": {"type": "string", "pattern": "^[1-5][0-9][0-9]$"},
        "scimType": {"type": "string", "enum": list(SCIM_TYPES)},
        "detail": {"type": "string"},
    }}


def components() -> dict[str, dict[str, Any]]:
    """Every SCIM message schema by component name (for OpenAPI ``components.schemas``)."""
    return {
        "User": resource_schema(user_schema()),
        "Group": resource_schema(group_schema()),
        "PatchOp": patch_op_schema(),
        "SearchRequest": search_request_schema(),
        "UserListResponse": list_response_schema("#/components/schemas/User"),
        "GroupListResponse": list_response_schema("#/components/schemas/Group"),
        "ListResponse": list_response_schema("#/components/schemas/Resource"),
        "Resource": {"type": "object", "description": "Any SCIM resource or discovery document."},
        "Error": error_schema(),
    }
