"""Stored documents -> SCIM JSON: ``schemas``, ``id``, ``meta``, ETags and ListResponses.

RFC 7643 §3.1 (common attributes, ``meta``), RFC 7644 §3.4.2 (ListResponse), §3.14 (versions).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimgate.scim.schema import LIST_RESPONSE_SCHEMA, ResourceSchema


def format_datetime(value: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` (RFC 7643 §2.3.5), microseconds kept so filters round-trip."""
    text = value.isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def etag(version: int | str) -> str:
    """The weak entity tag of a resource version (RFC 7644 §3.14, RFC 7232 §2.3)."""
    return f'W/"{version}"'


def derived_version(version: int, derived: Sequence[Any]) -> str:
    """The version of a representation that holds ``derived`` values the resource's own
    ``version`` does not count (a User's ``groups``, RFC 7643 §4.1.2, changes when a group
    changes): the version alone when ``derived`` is empty, else the version, ``-`` and 16 hex
    digits of the SHA-256 of ``derived`` as JSON. So the entity tag changes whenever either
    changes (RFC 7644 §3.14), without writing the resource when one of its groups changes."""
    if not derived:
        return str(version)
    digest = hashlib.sha256(json.dumps(derived, separators=(",", ":")).encode()).hexdigest()
    return f"{version}-{digest[:16]}"


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
    version: int | str
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
