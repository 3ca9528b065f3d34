"""PATCH replace (RFC 7644 §3.5.2.3) through scimgate.scim.patch.apply_patch."""

from __future__ import annotations

import pytest
from tests.scim.patching import PATCH, USER_ID, patch, user

from scimgate.scim.errors import InvalidValueException, NoTargetException
from scimgate.scim.patch import apply_patch
from scimgate.scim.quirks import normalise_patch_request
from scimgate.scim.schema import ENTERPRISE_USER_SCHEMA, user_schema

MANAGER = f"{ENTERPRISE_USER_SCHEMA}:manager"

FIA = {"givenName": "Fia", "familyName": "Stone", "middleName": "Q", "formatted": "Fia Q Stone"}


def test_replace_complex_merges_sub_attributes() -> None:
    """Case C40, §3.5.2.3: sub-attributes not in the value are left unchanged."""
    out = patch(user(name=FIA), {"op": "replace", "path": "name", "value": {"givenName": "Fiona"}})
    assert out["name"] == {**FIA, "givenName": "Fiona"}


def test_pathless_replace_complex_merges() -> None:
    """Case C40: the path-less form {"name": {"givenName": ...}} gives the same result."""
    out = patch(user(name=FIA), {"op": "replace", "value": {"name": {"givenName": "Fiona"}}})
    assert out["name"] == {**FIA, "givenName": "Fiona"}


def test_replace_sub_attribute_only() -> None:
    """Case C40: replace name.familyName changes only familyName."""
    out = patch(user(name=FIA), {"op": "replace", "path": "name.familyName", "value": "Rock"})
    assert out["name"] == {**FIA, "familyName": "Rock"}


def test_replace_complex_null_sub_attribute_clears_it() -> None:
    """A sub-attribute given as null in a replace value is removed."""
    out = patch(user(name=FIA), {"op": "replace", "path": "name", "value": {"middleName": None}})
    assert "middleName" not in out["name"]


def test_replace_multi_valued_replaces_list() -> None:
    """§3.5.2.3: replace without a filter replaces all values."""
    doc = user(emails=[{"value": "a@example.com"}, {"value": "b@example.com"}])
    out = patch(
        doc, {"op": "replace", "path": "emails", "value": [{"value": "c@example.com", "type": "work"}]}
    )
    assert out["emails"] == [{"value": "c@example.com", "type": "work"}]


def test_replace_through_filter_keeps_other_elements() -> None:
    """Case C05: a filtered replace changes the matched email only; it stays primary."""
    doc = user(
        emails=[
            {"value": "dee@example.com", "type": "work", "primary": True},
            {"value": "dee.home@example.net", "type": "home", "primary": False},
        ]
    )
    out = patch(
        doc,
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "dee.renamed@example.com"},
        {"op": "Replace", "path": "userName", "value": "dee.renamed@example.com"},
    )
    assert out["emails"] == [
        {"value": "dee.renamed@example.com", "type": "work", "primary": True},
        {"value": "dee.home@example.net", "type": "home", "primary": False},
    ]
    assert out["userName"] == "dee.renamed@example.com"


def test_replace_filter_case_insensitive() -> None:
    """RFC 7644 §3.4.2.2: type is caseExact false, so "Work" matches "work"."""
    doc = user(emails=[{"value": "a@example.com", "type": "Work"}])
    out = patch(doc, {"op": "replace", "path": 'emails[type eq "work"].value', "value": "b@example.com"})
    assert out["emails"] == [{"value": "b@example.com", "type": "Work"}]


def test_replace_through_unmatched_filter_creates() -> None:
    """Decision (Entra compat, C05/C06): replace with no match creates the described element."""
    out = patch(user(), {"op": "replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555"})
    assert out["phoneNumbers"] == [{"type": "mobile", "value": "+1 555"}]


def test_replace_roles_primary_string_filter() -> None:
    """identity-providers.md §2.4 e: roles[primary eq "True"] compares booleans leniently and creates
    primary true."""
    out = patch(user(), {"op": "replace", "path": 'roles[primary eq "True"].value', "value": "Admin"})
    assert out["roles"] == [{"primary": True, "value": "Admin"}]
    again = patch(out, {"op": "replace", "path": 'roles[primary eq "True"].display', "value": "Admin role"})
    assert again["roles"] == [{"primary": True, "value": "Admin", "display": "Admin role"}]


def test_replace_through_non_describing_filter_without_match_is_no_target() -> None:
    """§3.5.2.3: a filter that describes no element (co) and matches nothing is 400 noTarget."""
    with pytest.raises(NoTargetException):
        patch(user(), {"op": "replace", "path": 'emails[value co "x"].type', "value": "work"})


def test_replace_whole_filtered_element_merges() -> None:
    """§3.5.2.3 with a valuePath and no sub-attribute: matched elements get the value's sub-attributes."""
    doc = user(addresses=[{"type": "work", "locality": "A", "country": "NL"}])
    out = patch(doc, {"op": "replace", "path": 'addresses[type eq "work"]', "value": {"locality": "B"}})
    assert out["addresses"] == [{"type": "work", "locality": "B", "country": "NL"}]


def test_replace_primary_clears_other_primaries() -> None:
    """RFC 7643 §2.4: setting primary on one element clears it on the others."""
    doc = user(
        emails=[{"value": "a@example.com", "primary": True}, {"value": "b@example.com", "type": "home"}]
    )
    out = patch(doc, {"op": "replace", "path": 'emails[type eq "home"].primary', "value": True})
    assert out["emails"] == [
        {"value": "a@example.com", "primary": False},
        {"value": "b@example.com", "type": "home", "primary": True},
    ]


@pytest.mark.parametrize("value", ["False", "false", "FALSE", False])
def test_replace_active_boolean_strings(value: object) -> None:
    """Case C03: Entra's "False" string (any case) is stored as JSON false."""
    assert patch(user(), {"op": "Replace", "path": "active", "value": value})["active"] is False


def test_replace_active_bad_string_is_invalid_value() -> None:
    """Case C03: any other string is 400 invalidValue."""
    with pytest.raises(InvalidValueException):
        patch(user(), {"op": "Replace", "path": "active", "value": "maybe"})


def test_replace_null_clears() -> None:
    """A replace with value null removes the attribute."""
    assert "title" not in patch(user(title="t"), {"op": "replace", "path": "title", "value": None})


def test_replace_manager_value_object() -> None:
    """identity-providers.md §2.4 g (Validator "Replace Manager"): {"value": id} replaces the whole
    manager."""
    doc = user(**{ENTERPRISE_USER_SCHEMA: {"manager": {"value": "old", "$ref": "../Users/old"}}})
    out = patch(doc, {"op": "replace", "path": MANAGER, "value": {"value": "new"}})
    assert out[ENTERPRISE_USER_SCHEMA] == {"manager": {"value": "new"}}


@pytest.mark.parametrize("value", [{"value": ""}, None, "", []])
def test_replace_manager_empty_clears(value: object) -> None:
    """identity-providers.md §2.4 g (Validator 'Remove Manager'): {"value": ""} or null clears the manager."""
    doc = user(**{ENTERPRISE_USER_SCHEMA: {"manager": {"value": "old"}, "department": "Ops"}})
    out = patch(doc, {"op": "replace", "path": MANAGER, "value": value})
    assert out[ENTERPRISE_USER_SCHEMA] == {"department": "Ops"}


def test_replace_manager_value_sub_attribute() -> None:
    """Path ...:manager.value sets the id; an empty string clears the manager."""
    out = patch(user(), {"op": "replace", "path": f"{MANAGER}.value", "value": "boss"})
    assert out[ENTERPRISE_USER_SCHEMA] == {"manager": {"value": "boss"}}
    assert ENTERPRISE_USER_SCHEMA not in patch(
        out, {"op": "replace", "path": f"{MANAGER}.value", "value": ""}
    )


def test_replace_extension_attribute_only() -> None:
    """Case C37: replace ...:department changes only that field."""
    doc = user(**{ENTERPRISE_USER_SCHEMA: {"department": "Ops", "employeeNumber": "C37-001"}})
    out = patch(doc, {"op": "replace", "path": f"{ENTERPRISE_USER_SCHEMA}:department", "value": "Finance"})
    assert out[ENTERPRISE_USER_SCHEMA] == {"department": "Finance", "employeeNumber": "C37-001"}


def test_replace_nested_extension_object() -> None:
    """RFC 7644 §3.10: the RFC form {"urn:...:User": {...}} in a path-less value."""
    out = patch(
        user(), {"op": "replace", "value": {ENTERPRISE_USER_SCHEMA: {"costCenter": "42", "manager": "m"}}}
    )
    assert out[ENTERPRISE_USER_SCHEMA] == {"costCenter": "42", "manager": {"value": "m"}}


def test_replace_extension_path_with_object() -> None:
    """A schema URN as path replaces the listed extension attributes."""
    doc = user(**{ENTERPRISE_USER_SCHEMA: {"department": "Ops"}})
    out = patch(doc, {"op": "replace", "path": ENTERPRISE_USER_SCHEMA, "value": {"division": "D"}})
    assert out[ENTERPRISE_USER_SCHEMA] == {"department": "Ops", "division": "D"}


def test_capitalised_attribute_names() -> None:
    """identity-providers.md §8 / RFC 7643 §2.1: "UserName", "Active", ".Value" resolve to canonical names."""
    doc = user(emails=[{"value": "a@example.com", "type": "work"}])
    out = patch(
        doc,
        {"op": "replace", "value": {"UserName": "b@example.com", "Active": "False"}},
        {"op": "replace", "path": 'Emails[Type eq "work"].Value', "value": "b@example.com"},
    )
    assert out["userName"] == "b@example.com" and out["active"] is False
    assert out["emails"] == [{"value": "b@example.com", "type": "work"}]


def test_okta_pathless_active() -> None:
    """Case C14 (Okta): {"op":"replace","value":{"active":false}} deactivates; true reactivates."""
    off = patch(user(), {"op": "replace", "value": {"active": False}})
    assert off["active"] is False
    assert patch(off, {"op": "replace", "value": {"active": True}})["active"] is True


def test_replace_core_urn_qualified_path() -> None:
    """RFC 7644 §3.10: a path qualified with the core schema URN names the core attribute."""
    out = patch(
        user(),
        {
            "op": "replace",
            "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
            "value": "Ada",
        },
    )
    assert out["name"] == {"givenName": "Ada"}


def test_replace_unqualified_extension_attribute() -> None:
    """An extension attribute without its URN resolves when only one extension has it."""
    assert patch(user(), {"op": "replace", "path": "department", "value": "Ops"})[ENTERPRISE_USER_SCHEMA] == {
        "department": "Ops"
    }


def test_strict_mode_replace_unmatched_is_no_target() -> None:
    """RFC 7644 §3.5.2.3 (case C05, strict reading): replace_unmatched="noTarget" answers 400 noTarget."""
    doc = user(emails=[{"value": "a@example.com", "type": "work"}])
    ops = normalise_patch_request(
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "replace", "path": 'emails[type eq "other"].value', "value": "x@example.com"}
            ],
        }
    )
    with pytest.raises(NoTargetException):
        apply_patch(doc, ops, user_schema(), resource_id=USER_ID, replace_unmatched="noTarget")


def test_strict_mode_still_replaces_matches_and_adds_create() -> None:
    """Strict mode changes only unmatched replaces: matches update, add creates (case C06)."""
    doc = user(emails=[{"value": "a@example.com", "type": "work"}])
    ops = normalise_patch_request(
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "replace", "path": 'emails[type eq "work"].value', "value": "b@example.com"},
                {"op": "add", "path": 'emails[type eq "home"].value', "value": "h@example.com"},
            ],
        }
    )
    out = apply_patch(doc, ops, user_schema(), resource_id=USER_ID, replace_unmatched="noTarget").document
    assert out["emails"] == [
        {"value": "b@example.com", "type": "work"},
        {"type": "home", "value": "h@example.com"},
    ]


def test_replace_manager_value_drops_stale_ref() -> None:
    """Writing manager.value replaces the reference whole: the previous $ref does not survive."""
    doc = user(**{ENTERPRISE_USER_SCHEMA: {"manager": {"value": "old", "$ref": "../Users/old"}}})
    out = patch(doc, {"op": "replace", "path": f"{MANAGER}.value", "value": "new"})
    assert out[ENTERPRISE_USER_SCHEMA] == {"manager": {"value": "new"}}
    assert ENTERPRISE_USER_SCHEMA not in patch(doc, {"op": "remove", "path": f"{MANAGER}.value"})
