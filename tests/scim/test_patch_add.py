"""PATCH add (RFC 7644 §3.5.2.1) through scimgate.scim.patch.apply_patch."""

from __future__ import annotations

from tests.scim.patching import patch, user

from scimgate.scim.schema import ENTERPRISE_USER_SCHEMA


def test_add_simple_sets_value() -> None:
    """§3.5.2.1: add on a single-valued attribute sets it (docs/identity-providers.md §2.4 d)."""
    assert patch(user(), {"op": "Add", "path": "nickName", "value": "Ali"})["nickName"] == "Ali"


def test_add_simple_replaces_existing_value() -> None:
    """§3.5.2.1: add on a single-valued attribute replaces the existing value."""
    assert patch(user(nickName="A"), {"op": "add", "path": "nickName", "value": "B"})["nickName"] == "B"


def test_add_sub_attribute_creates_parent() -> None:
    """§3.5.2.1: add name.givenName on a user with no name (case C06)."""
    assert patch(user(), {"op": "add", "path": "name.givenName", "value": "Eli"})["name"] == {
        "givenName": "Eli"
    }


def test_add_multi_valued_appends() -> None:
    """§3.5.2.1: values are added to a multi-valued attribute."""
    doc = user(emails=[{"value": "a@example.com", "type": "work"}])
    out = patch(doc, {"op": "add", "path": "emails", "value": [{"value": "b@example.com", "type": "home"}]})
    assert [e["value"] for e in out["emails"]] == ["a@example.com", "b@example.com"]


def test_add_multi_valued_does_not_duplicate() -> None:
    """§3.5.2.1: an equal value already present is not added again."""
    doc = user(emails=[{"value": "a@example.com", "type": "work"}])
    out = patch(doc, {"op": "add", "path": "emails", "value": [{"value": "a@example.com", "type": "work"}]})
    assert out["emails"] == [{"value": "a@example.com", "type": "work"}]


def test_add_primary_clears_other_primaries() -> None:
    """RFC 7643 §2.4: a new primary value makes the others non-primary."""
    doc = user(emails=[{"value": "a@example.com", "type": "work", "primary": True}])
    out = patch(doc, {"op": "add", "path": "emails", "value": [{"value": "b@example.com", "primary": True}]})
    assert out["emails"] == [
        {"value": "a@example.com", "type": "work", "primary": False},
        {"value": "b@example.com", "primary": True},
    ]


def test_add_through_unmatched_filter_creates_element() -> None:
    """Case C06 (Entra): add emails[type eq "work"].value with no work email creates it."""
    out = patch(
        user(),
        {"op": "add", "path": 'emails[type eq "work"].value', "value": "eli@example.com"},
        {"op": "add", "path": 'addresses[type eq "work"].locality', "value": "Springfield"},
        {"op": "add", "path": "name.givenName", "value": "Eli"},
    )
    assert out["emails"] == [{"type": "work", "value": "eli@example.com"}]
    assert out["addresses"] == [{"type": "work", "locality": "Springfield"}]
    assert out["name"] == {"givenName": "Eli"}


def test_add_through_filter_is_idempotent() -> None:
    """Case C06: repeating the request does not create a second work email."""
    op = {"op": "add", "path": 'emails[type eq "work"].value', "value": "eli@example.com"}
    once = patch(user(), op)
    assert patch(once, op) == once


def test_add_through_matched_filter_updates_element() -> None:
    """§3.5.2.1 with a valuePath: the matched element gets the sub-attribute."""
    doc = user(phoneNumbers=[{"value": "1", "type": "work"}, {"value": "2", "type": "mobile"}])
    out = patch(doc, {"op": "add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "3"})
    assert out["phoneNumbers"] == [{"value": "1", "type": "work"}, {"value": "3", "type": "mobile"}]


def test_pathless_add_dotted_keys_nest() -> None:
    """Case C01: dotted keys of a path-less add land in the complex attribute, never as flat keys."""
    out = patch(
        user(displayName="Ada C01"),
        {
            "op": "Add",
            "value": {
                "displayName": "Ada Lovelace",
                "title": "Engineer",
                "name.givenName": "Ada",
                "name.familyName": "Lovelace",
                "name.formatted": "Ada Lovelace",
            },
        },
    )
    assert out["name"] == {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"}
    assert out["displayName"] == "Ada Lovelace" and out["title"] == "Engineer"
    assert not {"name.givenName", "givenName", "familyName"} & set(out)


def test_add_manager_bare_string() -> None:
    """Case C36 (Entra): manager sent as a bare id is stored as {"value": id}."""
    out = patch(user(), {"op": "Add", "path": f"{ENTERPRISE_USER_SCHEMA}:manager", "value": "boss-id"})
    assert out[ENTERPRISE_USER_SCHEMA] == {"manager": {"value": "boss-id"}}


def test_add_manager_object_and_list_forms() -> None:
    """Case C36 / identity-providers.md §2.4 g: the {value} and one-element list forms give the same
    result."""
    path = f"{ENTERPRISE_USER_SCHEMA}:manager"
    expected = {"manager": {"value": "boss-id"}}
    assert (
        patch(user(), {"op": "add", "path": path, "value": {"value": "boss-id"}})[ENTERPRISE_USER_SCHEMA]
        == expected
    )
    listed = patch(user(), {"op": "add", "path": path, "value": [{"$ref": None, "value": "boss-id"}]})
    assert listed[ENTERPRISE_USER_SCHEMA] == expected


def test_add_null_adds_nothing() -> None:
    """An add whose value is null changes nothing (no null add in RFC 7644 §3.5.2.1)."""
    doc = user(nickName="A")
    assert patch(doc, {"op": "add", "path": "nickName", "value": None}) == doc


def test_add_roles_json_encoded_strings() -> None:
    """docs/identity-providers.md §2.4 h: Entra sends role elements as JSON-encoded strings."""
    value = ['{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}']
    out = patch(user(), {"op": "Add", "path": "roles", "value": value})
    assert out["roles"] == [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]


def test_add_roles_with_json_string_value_stores_the_role_value() -> None:
    """Issue 16: an element whose "value" is a JSON-encoded app role stores the role's own value,
    its displayName as display, and keeps the element's type."""
    role = '{"id":"06b0","value":"25","displayName":"Role1234"}'
    value = [{"value": role, "type": "WindowsAzureActiveDirectoryRole"}]
    out = patch(user(), {"op": "Add", "path": "roles", "value": value})
    assert out["roles"] == [{"value": "25", "display": "Role1234", "type": "WindowsAzureActiveDirectoryRole"}]


def test_add_equal_but_for_case_is_not_duplicated() -> None:
    """RFC 7643 §2.3.1 / §3.5.2.1: emails.value is caseExact false, so A@x equals a@x: no change."""
    doc = user(emails=[{"value": "Ada@example.com", "type": "work"}])
    out = patch(doc, {"op": "add", "path": "emails", "value": [{"value": "ada@example.com", "type": "Work"}]})
    assert out == doc


def test_add_same_value_other_type_is_added() -> None:
    """Elements are compared whole: the same address with another type is another value."""
    doc = user(emails=[{"value": "ada@example.com", "type": "work"}])
    out = patch(doc, {"op": "add", "path": "emails", "value": [{"value": "ada@example.com", "type": "home"}]})
    assert len(out["emails"]) == 2


def test_add_primary_through_unmatched_filter() -> None:
    """A filter-created element keeps primary true and the previous primary is cleared (RFC 7643 §2.4)."""
    doc = user(emails=[{"value": "ada@example.com", "type": "work", "primary": True}])
    out = patch(doc, {"op": "replace", "path": 'emails[type eq "home"].primary', "value": True})
    assert out["emails"] == [
        {"value": "ada@example.com", "type": "work", "primary": False},
        {"type": "home", "primary": True},
    ]
