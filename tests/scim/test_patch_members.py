"""Group 'members' operations -> MemberPlan (RFC 7644 §3.5.2, docs/identity-providers.md §3)."""

from __future__ import annotations

from typing import Any

import pytest

from scimgate.scim.errors import (
    InvalidFilterException,
    InvalidPathException,
    InvalidValueException,
    MutabilityException,
)
from scimgate.scim.patch import MemberPlan, PatchResult, apply_patch
from scimgate.scim.quirks import normalise_patch_request
from scimgate.scim.schema import group_schema

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP_ID = "e9e30dba-f08f-4109-8486-d5c6a331660a"
GROUP = {"displayName": "Engineering"}


def patch(*operations: dict[str, Any], document: dict[str, Any] | None = None) -> PatchResult:
    ops = normalise_patch_request({"schemas": [PATCH], "Operations": list(operations)})
    return apply_patch(document or GROUP, ops, group_schema(), resource_id=GROUP_ID)


def member(value: str, type_: str | None = None, display: str | None = None) -> dict[str, Any]:
    return {"value": value, "type": type_, "display": display}


def final_set(start: set[str], plan: MemberPlan | None) -> set[str]:
    """How the storage layer applies a plan (see MemberPlan)."""
    assert plan is not None
    current = set() if plan.clear else set(start)
    current -= set(plan.remove)
    return current | {m["value"] for m in plan.add}


def test_add_members() -> None:
    """docs/identity-providers.md §3: add path members with a list; $ref may be null (Entra)."""
    result = patch(
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": "u1"}, {"value": "u2"}]}
    )
    assert result.members == MemberPlan(add=[member("u1"), member("u2")])
    assert result.document == GROUP and result.changed


def test_add_member_okta_display_no_type() -> None:
    """Case C13 (Okta): members carry value and display, no type."""
    result = patch({"op": "add", "path": "members", "value": [{"value": "u1", "display": "sam@example.com"}]})
    assert result.members == MemberPlan(add=[member("u1", display="sam@example.com")])


def test_add_same_member_twice_once() -> None:
    """Case C09: adding the same id twice in one request plans one add."""
    op = {"op": "add", "path": "members", "value": [{"value": "u1"}]}
    assert patch(op, op).members == MemberPlan(add=[member("u1")])


def test_member_type_canonical() -> None:
    """RFC 7643 §4.2: members.type is "User" or "Group" (case-insensitive in)."""
    result = patch({"op": "add", "path": "members", "value": [{"value": "g2", "type": "group"}]})
    assert result.members == MemberPlan(add=[member("g2", "Group")])


def test_bad_member_type_is_invalid_value() -> None:
    """An unknown members.type is 400 invalidValue."""
    with pytest.raises(InvalidValueException):
        patch({"op": "add", "path": "members", "value": [{"value": "g2", "type": "Robot"}]})


def test_member_without_value_is_invalid_value() -> None:
    """A member object without an id is 400 invalidValue."""
    with pytest.raises(InvalidValueException):
        patch({"op": "add", "path": "members", "value": [{"display": "x"}]})


def test_bare_string_member() -> None:
    """docs/identity-providers.md §8 (reference Postman suite): a bare id as member value is tolerated."""
    assert patch({"op": "add", "path": "members", "value": "u1"}).members == MemberPlan(add=[member("u1")])


def test_remove_member_by_filter() -> None:
    """Case C08, §3.5.2.2: remove members[value eq "id"] removes only that member."""
    result = patch({"op": "remove", "path": 'members[value eq "u1"]'})
    assert result.members == MemberPlan(remove=["u1"])
    assert final_set({"u1", "u2"}, result.members) == {"u2"}


def test_remove_members_entra_value_list() -> None:
    """identity-providers.md §3 (Entra without the flag): Remove path members with a value list removes
    those only."""
    result = patch({"op": "Remove", "path": "members", "value": [{"value": "u1"}, {"value": "u3"}]})
    assert result.members == MemberPlan(remove=["u1", "u3"])


def test_remove_members_without_value_clears() -> None:
    """§3.5.2.2 / docs/identity-providers.md §8: remove path members with no value clears all members."""
    assert patch({"op": "remove", "path": "members"}).members == MemberPlan(clear=True)


def test_replace_members_is_clear_plus_add() -> None:
    """Case C11, §3.5.2.3: replace members replaces the whole list."""
    result = patch({"op": "replace", "path": "members", "value": [{"value": "u2"}, {"value": "u3"}]})
    assert result.members == MemberPlan(clear=True, add=[member("u2"), member("u3")])
    assert final_set({"u1", "u2"}, result.members) == {"u2", "u3"}


def test_add_then_remove_same_member() -> None:
    """Validator 'Multiple Ops same attr': add X then remove X leaves X absent."""
    result = patch(
        {"op": "add", "path": "members", "value": [{"value": "x"}]},
        {"op": "remove", "path": 'members[value eq "x"]'},
    )
    assert final_set(set(), result.members) == set()
    assert final_set({"x"}, result.members) == set()


def test_remove_then_add_same_member() -> None:
    """Okta mixes ops (docs/identity-providers.md §7): remove X then add X leaves X present."""
    result = patch(
        {"op": "remove", "path": 'members[value eq "x"]'},
        {"op": "add", "path": "members", "value": [{"value": "x", "display": "d"}]},
    )
    assert result.members == MemberPlan(add=[member("x", display="d")])
    assert final_set({"x"}, result.members) == {"x"}


def test_remove_several_by_or_filter() -> None:
    """A filter of value eq terms joined by or removes each named member."""
    result = patch({"op": "remove", "path": 'members[value eq "a" or value eq "b"]'})
    assert result.members == MemberPlan(remove=["a", "b"])


def test_other_member_filters_are_invalid_filter() -> None:
    """Documented limit: member filters other than value eq need the member list -> 400 invalidFilter."""
    with pytest.raises(InvalidFilterException):
        patch({"op": "remove", "path": 'members[type eq "User"]'})


def test_member_sub_attribute_path_is_invalid_path() -> None:
    """Documented limit: members.display paths are 400 invalidPath."""
    with pytest.raises(InvalidPathException):
        patch({"op": "replace", "path": 'members[value eq "a"].display', "value": "x"})


def test_okta_rename_with_id_and_members() -> None:
    """docs/identity-providers.md §7 (Okta): rename with the group id echoed, mixed with member ops."""
    result = patch(
        {"op": "replace", "value": {"id": GROUP_ID, "displayName": "Eng"}},
        {"op": "remove", "path": 'members[value eq "u1"]'},
        {"op": "add", "path": "members", "value": [{"value": "u2", "display": "jdoe@example.com"}]},
    )
    assert result.document == {"displayName": "Eng"}
    assert result.members == MemberPlan(add=[member("u2", display="jdoe@example.com")], remove=["u1"])


def test_pathless_members_value() -> None:
    """A path-less replace whose value holds members replaces the member list."""
    result = patch({"op": "replace", "value": {"displayName": "Eng", "members": [{"value": "u1"}]}})
    assert result.members == MemberPlan(clear=True, add=[member("u1")])
    assert result.document == {"displayName": "Eng"}


def test_group_rename_only_has_no_plan() -> None:
    """Validator 'Update Group displayName': no member ops -> members is None."""
    result = patch({"op": "replace", "value": {"displayName": "Eng"}})
    assert result.members is None and result.changed


def test_group_display_name_required() -> None:
    """RFC 7643 §4.2, RFC 7644 §3.5.2.2: removing a group's required displayName is mutability."""
    with pytest.raises(MutabilityException):
        patch({"op": "remove", "path": "displayName"})


def test_empty_remove_value_list_is_no_change() -> None:
    """An Entra-style remove listing no members changes nothing (no plan)."""
    result = patch({"op": "Remove", "path": "members", "value": []})
    assert result.members is None and not result.changed
