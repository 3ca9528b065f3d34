"""Discovery documents (RFC 7643 §5-§7, RFC 7644 §4): what scimgate supports, said exactly.

``/ServiceProviderConfig``, ``/ResourceTypes`` and ``/Schemas`` are built from the same schema
definitions the rest of the server uses (scim.schema), so they cannot drift from behaviour.
"""

from __future__ import annotations

from typing import Any

from scim2_models import EnterpriseUser, Group, User

from scimgate.scim.schema import ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, ResourceSchema, resource_schemas

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


def schemas(base_url: str) -> list[dict[str, Any]]:
    """RFC 7643 §7: the Schema documents (each with its own ``schemas`` and ``meta``, case C31)."""
    out = []
    for urn, model in ((USER_SCHEMA, User), (ENTERPRISE_USER_SCHEMA, EnterpriseUser), (GROUP_SCHEMA, Group)):
        document = model.to_schema().model_dump(mode="json", exclude_none=True)
        document["schemas"] = [SCHEMA_SCHEMA]
        document["id"] = urn
        document["meta"] = {"resourceType": "Schema", "location": f"{base_url}/Schemas/{urn}"}
        out.append(document)
    return out
