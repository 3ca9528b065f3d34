"""Discovery documents (RFC 7643 §5-§7, RFC 7644 §4): what scimgate supports, said exactly.

``/ServiceProviderConfig``, ``/ResourceTypes`` and ``/Schemas`` are built from the same schema
definitions the rest of the server uses (scim.schema), so they cannot drift from behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scim2_models import EnterpriseUser, Group, User

from scimgate.roles import ROLES
from scimgate.scim.errors import ForbiddenException, NotFoundException
from scimgate.scim.schema import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_SCHEMA,
    USER_SCHEMA,
    Attribute,
    ResourceSchema,
    group_schema,
    resource_schemas,
    user_schema,
)

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


def service_provider_config(base_url: str, max_results: int) -> dict[str, Any]:
    """RFC 7643 §5. Bulk and password change are not offered; ETags, sorting, filters and
    PATCH are."""
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": f"{base_url}/ServiceProviderConfig",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "The workspace's SCIM bearer token, sent as 'Authorization: Bearer <token>'.",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base_url}/ServiceProviderConfig"},
    }


def resource_type(resource: ResourceSchema, base_url: str) -> dict[str, Any]:
    """RFC 7643 §6: one ResourceType document."""
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": resource.name,
        "name": resource.name,
        "endpoint": resource.endpoint,
        "description": f"{resource.name} accounts of the workspace" if resource.name == "User" else "Groups",
        "schema": resource.core,
        "schemaExtensions": [{"schema": urn, "required": False} for urn in resource.extensions],
        "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/{resource.name}"},
    }


def resource_types(base_url: str) -> list[dict[str, Any]]:
    """Every ResourceType document."""
    return [resource_type(resource, base_url) for resource in resource_schemas()]


COMMON_DESCRIPTIONS = {
    "id": "Unique identifier of the resource, assigned by scimgate (RFC 7643 §3.1).",
    "externalId": "Identifier of the resource as defined by the provisioning client (RFC 7643 §3.1).",
    "meta": "Resource metadata: resourceType, created, lastModified, location, version (RFC 7643 §3.1).",
}


SERVER_COMPUTED = {"members.display"}
"""Sub-attributes a client may send but the server renders itself (a Group member's ``display``
is the member's current displayName): advertised ``readOnly`` (RFC 7643 §7), so a client does
not expect its own text back, while requests that carry them (Okta, case C13) stay valid."""


CANONICAL_VALUES = {"roles.value": list(ROLES)}
"""Canonical values the server gives a sub-attribute (RFC 7643 §7): a User's ``roles.value``
names a workspace role (scimgate.roles); other values are stored and returned, and name none."""


def _definition(attribute: Attribute, described: dict[str, Any] | None, parent: str = "") -> dict[str, Any]:
    """RFC 7643 §7 attribute definition: scim2-models' description, canonical values and
    reference types, with every characteristic taken from the table the server enforces
    (scim.schema), so the document says what the server does (userName required and unique,
    id readOnly and always returned)."""
    described = described or {}
    description = described.get("description") or COMMON_DESCRIPTIONS.get(attribute.name, "")
    document: dict[str, Any] = {"name": attribute.name}
    document.update({
        "type": attribute.type,
        "multiValued": attribute.multi_valued,
        "description": description,
        "required": attribute.required,
        "caseExact": attribute.case_exact,
        "mutability": "readOnly" if f"{parent}{attribute.name}" in SERVER_COMPUTED else attribute.mutability,
        "returned": attribute.returned,
        "uniqueness": attribute.uniqueness,
    })
    for key in ("canonicalValues", "referenceTypes"):
        if described.get(key):
            document[key] = described[key]
    if f"{parent}{attribute.name}" in CANONICAL_VALUES:
        document["canonicalValues"] = CANONICAL_VALUES[f"{parent}{attribute.name}"]
    if attribute.type == "reference" and "referenceTypes" not in document:
        document["referenceTypes"] = ["uri"] if attribute.name == "location" else ["external"]
    if attribute.sub_attributes:
        known = {sub["name"].lower(): sub for sub in described.get("subAttributes", [])}
        document["subAttributes"] = [
            _definition(sub, known.get(key), f"{attribute.name}.")
            for key, sub in attribute.sub_attributes.items()
        ]
    return document


def _schema_document(urn: str, model: Any, resource: ResourceSchema, base_url: str) -> dict[str, Any]:
    described = model.to_schema().model_dump(mode="json", exclude_none=True)
    by_name = {item["name"].lower(): item for item in described["attributes"]}
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": urn,
        "name": described.get("name") or resource.name,
        "description": described.get("description", ""),
        "attributes": [
            _definition(attribute, by_name.get(key)) for key, attribute in resource.attributes[urn].items()
        ],
        "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{urn}"},
    }


def schemas(base_url: str) -> list[dict[str, Any]]:
    """RFC 7643 §7: the Schema documents (each with its own ``schemas`` and ``meta``, case C31).

    The core schemas list the common attributes ``id``, ``externalId`` and ``meta`` too
    (RFC 7643 §3.1), since they are what a client may filter, sort and project on.
    """
    return [
        _schema_document(USER_SCHEMA, User, user_schema(), base_url),
        _schema_document(ENTERPRISE_USER_SCHEMA, EnterpriseUser, user_schema(), base_url),
        _schema_document(GROUP_SCHEMA, Group, group_schema(), base_url),
    ]


def find_schema(base_url: str, urn: str) -> dict[str, Any]:
    """The Schema document ``urn`` (any case); NotFoundException otherwise (RFC 7644 §4)."""
    for document in schemas(base_url):
        if document["id"].lower() == urn.lower():
            return document
    raise NotFoundException(detail=f"No schema {urn!r}: GET /Schemas lists them.")


def find_resource_type(base_url: str, name: str) -> dict[str, Any]:
    """The ResourceType document ``name`` (any case); NotFoundException otherwise (RFC 7644 §4)."""
    for document in resource_types(base_url):
        if document["id"].lower() == name.lower():
            return document
    raise NotFoundException(detail=f"No resource type {name!r}: GET /ResourceTypes lists them.")


def refuse_filter(params: Mapping[str, str]) -> None:
    """RFC 7644 §4: "If a 'filter' is provided, the service provider SHOULD respond with HTTP
    status code 403 (Forbidden) to ensure that clients cannot incorrectly assume that any
    matching conditions specified in a filter are true." Other parameters are ignored."""
    if any(key.lower() == "filter" for key in params):
        raise ForbiddenException(
            detail="Discovery endpoints cannot be filtered (RFC 7644 §4): GET them whole."
        )
