"""PatchResult.changed and canonical form (RFC 7644 §3.5.2: no-op PATCH keeps the version)."""

from __future__ import annotations

import copy
from typing import Any

from scimgate.scim.patch import apply_patch
from scimgate.scim.quirks import normalise_patch_request
from scimgate.scim.resource import normalise_document
from scimgate.scim.schema import user_schema

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_ID = "2819c223-7f76-453a-919d-413861904646"
DOC = normalise_document(
    {
        "userName": "ada@example.com",
        "active": True,
        "displayName": "Ada",
        "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
    },
    user_schema(),
)


def run(*operations: dict[str, Any]) -> Any:
    ops = normalise_patch_request({"schemas": [PATCH], "Operations": list(operations)})
    return apply_patch(DOC, ops, user_schema(), resource_id=USER_ID)


def test_same_values_not_changed() -> None:
    """§3.5.2.1: re-sending current values changes nothing (version must not bump)."""
    result = run(
        {"op": "replace", "path": "displayName", "value": "Ada"},
        {"op": "Replace", "path": "active", "value": "True"},
        {"op": "add", "path": 'emails[type eq "work"].value', "value": "ada@example.com"},
        {"op": "remove", "path": "nickName"},
    )
    assert not result.changed and result.document == DOC


def test_change_then_revert_not_changed() -> None:
    """changed compares the final document with the input, not the steps."""
    result = run({"op": "replace", "path": "title", "value": "x"}, {"op": "remove", "path": "title"})
    assert not result.changed


def test_changed_true_on_change() -> None:
    """A real change sets changed."""
    assert run({"op": "replace", "path": "displayName", "value": "B"}).changed


def test_input_not_mutated() -> None:
    """apply_patch works on a deep copy."""
    before = copy.deepcopy(DOC)
    run({"op": "replace", "path": 'emails[type eq "work"].value', "value": "b@example.com"})
    assert before == DOC


def test_user_has_no_member_plan() -> None:
    """members is None for Users."""
    assert run({"op": "replace", "path": "displayName", "value": "B"}).members is None
