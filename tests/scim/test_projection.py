"""``attributes`` / ``excludedAttributes`` on a rendered SCIM document (RFC 7644 §3.4.2.5, §3.9)."""

from __future__ import annotations

from typing import Any

import pytest

from scimgate.scim.errors import InvalidValueException
from scimgate.scim.projection import project, wants_attribute
from scimgate.scim.schema import group_schema, user_schema

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

BODY: dict[str, Any] = {
    "schemas": [USER, ENTERPRISE],
    "id": "u1",
    "userName": "ada@example.com",
    "name": {"givenName": "Ada", "familyName": "Lovelace"},
    "emails": [{"value": "ada@example.com", "type": "work", "primary": True}, {"value": "a@example.org"}],
    "active": True,
    ENTERPRISE: {"department": "R&D", "manager": {"value": "m1", "displayName": "Boss"}},
    "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z", "location": "https://x/Users/u1",
             "version": 'W/"1"'},
}


def _user(attributes: tuple[str, ...] = (), excluded: tuple[str, ...] = ()) -> dict[str, Any]:
    return project(BODY, user_schema(), attributes, excluded)


def test_attributes_keep_always_returned() -> None:
    """attributes keeps the named ones plus id, schemas and meta.resourceType (RFC 7643 §7, always)."""
    assert _user(("userName",)) == {"schemas": BODY["schemas"], "id": "u1", "userName": "ada@example.com",
                                     "meta": {"resourceType": "User"}}


def test_attribute_names_are_case_insensitive() -> None:
    """Attribute names in attributes are case-insensitive (RFC 7643 §2.1)."""
    assert _user(("USERNAME", "Name.GIVENNAME"))["name"] == {"givenName": "Ada"}


def test_sub_attributes_of_multi_valued_are_merged() -> None:
    """emails.value and emails.type together keep both sub-attributes of each element (RFC 7644 §3.10)."""
    assert _user(("emails.value", "emails.type"))["emails"] == [
        {"value": "ada@example.com", "type": "work"}, {"value": "a@example.org"}]


def test_whole_attribute_wins_over_its_sub_attribute() -> None:
    """Naming name and name.givenName keeps all of name."""
    assert _user(("name.givenName", "name"))["name"] == BODY["name"]


def test_urn_qualified_attributes_and_whole_extension() -> None:
    """URN-qualified sub-attributes and the extension URN alone (RFC 7644 §3.10)."""
    assert _user((f"{ENTERPRISE}:manager.value",))[ENTERPRISE] == {"manager": {"value": "m1"}}
    assert _user((ENTERPRISE.upper(),))[ENTERPRISE] == BODY[ENTERPRISE]


def test_meta_sub_attribute_keeps_resource_type() -> None:
    """attributes=meta.created keeps created and the always-returned resourceType."""
    assert _user(("meta.created",))["meta"] == {"resourceType": "User", "created": "2026-01-01T00:00:00Z"}


def test_excluded_removes_but_never_id_schemas_or_resource_type() -> None:
    """excludedAttributes cannot remove id, schemas or meta.resourceType (RFC 7643 §7)."""
    projected = _user(excluded=("id", "schemas", "meta", "emails", "name.familyName"))
    assert projected["id"] == "u1" and projected["schemas"] == BODY["schemas"]
    assert projected["meta"] == {"resourceType": "User"}
    assert "emails" not in projected and projected["name"] == {"givenName": "Ada"}
    assert BODY["name"] == {"givenName": "Ada", "familyName": "Lovelace"}  # the input is not changed


def test_excluded_extension_attribute_and_extension() -> None:
    """excludedAttributes with URN forms removes an extension attribute or the whole extension."""
    manager_only = {"manager": BODY[ENTERPRISE]["manager"]}
    assert _user(excluded=(f"{ENTERPRISE}:department",))[ENTERPRISE] == manager_only
    assert ENTERPRISE not in _user(excluded=(ENTERPRISE,))
    assert ENTERPRISE not in _user(excluded=(f"{ENTERPRISE}:department", f"{ENTERPRISE}:manager"))


def test_excluded_sub_attribute_of_multi_valued() -> None:
    """excludedAttributes=emails.type removes that sub-attribute from every element."""
    assert _user(excluded=("emails.type",))["emails"] == [
        {"value": "ada@example.com", "primary": True}, {"value": "a@example.org"}]


@pytest.mark.parametrize("name", ["nosuch", "name.nosuch", "urn:example:other:1.0:thing"])
def test_unknown_attribute_is_invalid_value(name: str) -> None:
    """An unknown name in attributes/excludedAttributes is 400 invalidValue (fail closed, STYLE.md §2)."""
    with pytest.raises(InvalidValueException):
        _user((name,))
    with pytest.raises(InvalidValueException):
        _user(excluded=(name,))


def test_wants_attribute_for_computed_members() -> None:
    """wants_attribute tells the Group service whether to load members at all (C21)."""
    assert not wants_attribute(group_schema(), "members", (), ("members",))
    assert wants_attribute(group_schema(), "members", (), ("members.display",))
    assert not wants_attribute(group_schema(), "members", ("displayName",), ())
    assert wants_attribute(group_schema(), "members", ("Members.value",), ())
