"""Stored documents -> SCIM JSON: ``schemas``, ``id``, ``meta``, ETags and ListResponses.

RFC 7643 §3.1 (common attributes, ``meta``), RFC 7644 §3.4.2 (ListResponse), §3.14 (versions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimgate.scim.schema import LIST_RESPONSE_SCHEMA, ResourceSchema


def format_datetime(value: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` (RFC 7643 §2.3.5), microseconds kept so filters round-trip."""
    text = value.isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def etag(version: int) -> str:
    """The weak entity tag of a resource version (RFC 7644 §3.14, RFC 7232 §2.3)."""
    return f'W/"{version}"'


def parse_etag(value: str) -> str:
    """The opaque part of an entity tag: ``W/"3"`` and ``"3"`` both give ``3``."""
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


@dataclass(frozen=True)
class StoredResource:
    """What the storage layer hands the protocol layer about one resource."""

    id: str
    document: dict[str, Any]
    version: int
    created: datetime
    last_modified: datetime


def to_scim(
    resource: ResourceSchema,
    stored: StoredResource,
    base_url: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full SCIM representation of ``stored`` (before attribute projection).

    ``extra`` holds computed attributes (a User's ``groups``, a Group's ``members``).
    ``schemas`` lists the core schema and each extension present in the document.
    """
    document = stored.document
    schemas = [resource.core] + [urn for urn in resource.extensions if urn in document]
    body: dict[str, Any] = {"schemas": schemas, "id": stored.id}
    body.update(document)
    if extra:
        body.update({key: value for key, value in extra.items() if value is not None})
    body["meta"] = {
        "resourceType": resource.name,
        "created": format_datetime(stored.created),
        "lastModified": format_datetime(stored.last_modified),
        "location": f"{base_url}{resource.endpoint}/{stored.id}",
        "version": etag(stored.version),
    }
    return body


def list_response(resources: Sequence[dict[str, Any]], total: int, start_index: int) -> dict[str, Any]:
    """An RFC 7644 §3.4.2 ListResponse; ``startIndex`` and ``itemsPerPage`` are integers."""
    return {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "Resources": list(resources),
        "startIndex": start_index,
        "itemsPerPage": len(resources),
    }
