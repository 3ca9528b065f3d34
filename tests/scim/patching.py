"""What the PATCH engine's unit tests share: a canonical user and one way to apply operations."""

from __future__ import annotations

from typing import Any

from scimgate.scim.patch import apply_patch
from scimgate.scim.quirks import normalise_patch_request
from scimgate.scim.resource import normalise_document
from scimgate.scim.schema import user_schema

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_ID = "2819c223-7f76-453a-919d-413861904646"


def user(**extra: Any) -> dict[str, Any]:
    """A stored (canonical) user document with ``extra`` attributes."""
    return normalise_document({"userName": "ada@example.com", "active": True, **extra}, user_schema())


def patch(document: dict[str, Any], *operations: dict[str, Any]) -> dict[str, Any]:
    """The document after a PatchOp of ``operations``; the result must be canonical too."""
    ops = normalise_patch_request({"schemas": [PATCH], "Operations": list(operations)})
    result = apply_patch(document, ops, user_schema(), resource_id=USER_ID)
    assert normalise_document(result.document, user_schema()) == result.document
    return result.document
