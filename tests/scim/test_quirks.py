"""Identity-provider PatchOp dialects -> RFC-form operations (scimgate.scim.quirks)."""

from __future__ import annotations

import pytest

from scimgate.scim.errors import InvalidSyntaxException, InvalidValueException
from scimgate.scim.quirks import (
    expand_pathless_value,
    normalise_patch_request,
    remove_value_list_to_filters,
)

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def body(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def test_rfc_form_passes_through() -> None:
    """RFC 7644 §3.5.2: lower-case ops with path and value are returned as they are."""
    ops = normalise_patch_request(body({"op": "replace", "path": "displayName", "value": "A"}))
    assert ops == [{"op": "replace", "path": "displayName", "value": "A"}]


@pytest.mark.parametrize("op", ["Add", "REPLACE", "Remove", "rEmOvE"])
def test_op_any_case(op: str) -> None:
    """C04 / docs/identity-providers.md §2.4: Entra's capitalised ops are read case-insensitively."""
    ops = normalise_patch_request(body({"op": op, "path": "nickName", "value": "x"}))
    assert ops[0]["op"] == op.lower()


def test_operations_key_any_case() -> None:
    """C39: 'operations' (lower case) is accepted; RFC 7643 §2.1 names are case-insensitive."""
    ops = normalise_patch_request(
        {"schemas": [PATCH_OP], "operations": [{"op": "replace", "path": "a", "value": 1}]}
    )
    assert ops == [{"op": "replace", "path": "a", "value": 1}]


def test_odd_schemas_are_accepted() -> None:
    """identity-providers.md §9: clients announce odd URNs; a schemas array without the PatchOp URN is
    accepted."""
    body = {
        "schemas": ["urn:scim:schemas:core:1.0"],
        "Operations": [{"op": "add", "path": "title", "value": "t"}],
    }
    assert normalise_patch_request(body) == [{"op": "add", "path": "title", "value": "t"}]


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "text",
        {"schemas": [PATCH_OP]},
        {"schemas": [PATCH_OP], "Operations": {}},
        {"schemas": [PATCH_OP], "Operations": "replace"},
        {"schemas": [PATCH_OP], "Operations": [1]},
        {"schemas": [PATCH_OP], "Operations": [{"path": "title", "value": "x"}]},
        {"schemas": [PATCH_OP], "Operations": [{"op": "Merge", "path": "title", "value": "x"}]},
        {"schemas": [PATCH_OP], "Operations": [{"op": 3, "path": "title", "value": "x"}]},
        {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": 3, "value": "x"}]},
        {"schemas": [PATCH_OP], "Operations": [], "operations": []},
        {"Operations": [{"op": "add", "path": "title", "value": "x"}]},
        {"schemas": PATCH_OP, "Operations": [{"op": "add", "path": "title", "value": "x"}]},
    ],
)
def test_malformed_bodies_are_invalid_syntax(payload: object) -> None:
    """C39, RFC 7644 §3.12: structural faults are 400 invalidSyntax (never a 500)."""
    with pytest.raises(InvalidSyntaxException):
        normalise_patch_request(payload)


def test_empty_operations_is_invalid_value() -> None:
    """Issue 5 / docs/identity-providers.md §2.5: an empty Operations array is 400 invalidValue."""
    with pytest.raises(InvalidValueException):
        normalise_patch_request(body())


@pytest.mark.parametrize("op", ["add", "replace"])
def test_add_or_replace_without_value_is_invalid_value(op: str) -> None:
    """RFC 7644 §3.5.2.1/§3.5.2.3: add and replace need a value member."""
    with pytest.raises(InvalidValueException):
        normalise_patch_request(body({"op": op, "path": "title"}))


def test_explicit_null_value_is_kept() -> None:
    """A replace with value null is kept as None (it clears the attribute in the engine)."""
    assert normalise_patch_request(body({"op": "replace", "path": "title", "value": None})) == [
        {"op": "replace", "path": "title", "value": None}
    ]


def test_blank_path_is_no_path() -> None:
    """An empty path is read as the resource itself (RFC 7644 §3.5.2: path is optional)."""
    ops = normalise_patch_request(body({"op": "replace", "path": " ", "value": {"active": False}}))
    assert ops == [{"op": "replace", "path": "active", "value": False}]


def test_operation_member_names_any_case() -> None:
    """RFC 7643 §2.1: 'Op', 'Path', 'Value' are matched case-insensitively."""
    ops = normalise_patch_request(body({"Op": "Replace", "Path": "title", "Value": "x"}))
    assert ops == [{"op": "replace", "path": "title", "value": "x"}]


def test_pathless_value_expanded_per_key() -> None:
    """C01, docs/identity-providers.md §2.4 c: flat dotted and URN keys become one operation each."""
    ops = expand_pathless_value(
        {
            "op": "replace",
            "value": {"displayName": "A", "name.givenName": "Ada", f"{ENTERPRISE}:department": "Ops"},
        }
    )
    assert ops == [
        {"op": "replace", "path": "displayName", "value": "A"},
        {"op": "replace", "path": "name.givenName", "value": "Ada"},
        {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Ops"},
    ]


def test_pathless_value_drops_schemas() -> None:
    """'schemas' inside a value object is derived by the server and ignored."""
    assert expand_pathless_value({"op": "add", "value": {"schemas": ["x"], "title": "t"}}) == [
        {"op": "add", "path": "title", "value": "t"}
    ]


def test_pathless_value_must_be_object() -> None:
    """RFC 7644 §3.5.2.3: with no path the value is an object of attributes."""
    with pytest.raises(InvalidValueException):
        expand_pathless_value({"op": "replace", "value": "False"})


def test_entra_member_remove_with_value_list() -> None:
    """docs/identity-providers.md §3: Entra's Remove path members with a value list removes only those ids."""
    ops = normalise_patch_request(
        body({"op": "Remove", "path": "members", "value": [{"value": "u1"}, {"value": "u2", "display": "x"}]})
    )
    assert ops == [
        {"op": "remove", "path": 'members[value eq "u1"]'},
        {"op": "remove", "path": 'members[value eq "u2"]'},
    ]


def test_remove_with_empty_value_list_removes_nothing() -> None:
    """An Entra-style remove listing no values is a no-op, not a clear of the whole list."""
    assert remove_value_list_to_filters({"op": "remove", "path": "members", "value": []}) == []


def test_remove_value_list_on_other_attribute() -> None:
    """A remove with value objects on a multi-valued attribute selects by all their sub-attributes."""
    ops = remove_value_list_to_filters(
        {"op": "remove", "path": "emails", "value": [{"value": "a@example.com", "type": "work"}]}
    )
    assert ops == [{"op": "remove", "path": 'emails[value eq "a@example.com" and type eq "work"]'}]


def test_remove_value_quotes_values() -> None:
    """Values are JSON-quoted, so a quote in an id cannot inject filter syntax."""
    ops = remove_value_list_to_filters(
        {"op": "remove", "path": "members", "value": [{"value": 'a" or value pr'}]}
    )
    assert ops == [{"op": "remove", "path": 'members[value eq "a\\" or value pr"]'}]


def test_remove_with_filter_path_ignores_value() -> None:
    """RFC 7644 §3.5.2.2: the path alone names the target of a remove."""
    ops = remove_value_list_to_filters(
        {"op": "remove", "path": 'members[value eq "a"]', "value": [{"value": "b"}]}
    )
    assert ops == [{"op": "remove", "path": 'members[value eq "a"]'}]


@pytest.mark.parametrize("value", [[{"value": {"x": 1}}], [{"bad key": "x"}], [{}]])
def test_remove_value_that_names_nothing_is_invalid(value: object) -> None:
    """A remove value that cannot be read as values to remove is 400 invalidValue."""
    with pytest.raises(InvalidValueException):
        remove_value_list_to_filters({"op": "remove", "path": "emails", "value": value})


def test_pathless_remove_passes_through() -> None:
    """A path-less remove is left for the engine to answer noTarget (RFC 7644 §3.5.2.2)."""
    assert normalise_patch_request(body({"op": "remove"})) == [{"op": "remove"}]


def test_urn_qualified_members_remove_uses_value_only() -> None:
    """The URN-qualified members path is recognised too; display is not used to select members."""
    path = "urn:ietf:params:scim:schemas:core:2.0:Group:members"
    ops = remove_value_list_to_filters(
        {"op": "remove", "path": path, "value": [{"value": "u1", "display": "x"}]}
    )
    assert ops == [{"op": "remove", "path": f'{path}[value eq "u1"]'}]
