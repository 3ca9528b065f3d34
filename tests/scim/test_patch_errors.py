"""PATCH error answers (RFC 7644 §3.12 Table 9) from scimgate.scim.patch.apply_patch."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.scim.patching import USER_ID, patch, user

from scimgate.scim.errors import (
    InvalidFilterException,
    InvalidPathException,
    InvalidValueException,
    MutabilityException,
    ScimError,
)


@pytest.mark.parametrize(
    "path",
    [
        "nosuch",
        "name.nosuch",
        "urn:example:unknown:2.0:User:department",
        'emails[type eq "work"].nosuch',
        'emails[type eq "work"',
        "a b",
        'title[value eq "x"]',
        "emails.type.value",
    ],
)
def test_unknown_or_malformed_path_is_invalid_path(path: str) -> None:
    """§3.5.2, Table 9: an unknown attribute or malformed path is 400 invalidPath (fail closed)."""
    with pytest.raises(InvalidPathException):
        patch(user(), {"op": "replace", "path": path, "value": "x"})


def test_unknown_key_in_pathless_value_is_invalid_path() -> None:
    """Fail closed: an unknown attribute in a path-less value is 400 invalidPath."""
    with pytest.raises(InvalidPathException):
        patch(user(), {"op": "replace", "value": {"displayName": "A", "nosuch": "x"}})


def test_unknown_filter_attribute_is_invalid_filter() -> None:
    """Table 9: a filter on an unknown sub-attribute is 400 invalidFilter."""
    with pytest.raises(InvalidFilterException):
        patch(user(emails=[{"value": "a@example.com"}]), {"op": "remove", "path": 'emails[nosuch eq "x"]'})


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("active", "maybe"),
        ("name", "Ada"),
        ("emails", [{"primary": "perhaps"}]),
        ("name.givenName", 5),
        ("emails", [{"value": "a", "primary": True}, {"value": "b", "primary": True}]),
    ],
)
def test_wrong_type_is_invalid_value(path: str, value: object) -> None:
    """Table 9: a value of the wrong type is 400 invalidValue."""
    with pytest.raises(InvalidValueException):
        patch(user(), {"op": "replace", "path": path, "value": value})


@pytest.mark.parametrize(
    ("op", "path", "value"),
    [
        ("replace", "id", "other-id"),
        ("remove", "id", None),
        ("replace", "meta", {"version": "1"}),
        ("add", "groups", [{"value": "g"}]),
        ("replace", "meta.version", 'W/"2"'),
        ("replace", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName", "B"),
    ],
)
def test_read_only_is_mutability(op: str, path: str, value: object) -> None:
    """RFC 7643 §7, Table 9: writing id, meta, groups or a readOnly sub-attribute is 400 mutability."""
    operation: dict[str, Any] = {"op": op, "path": path}
    if op != "remove":
        operation["value"] = value
    with pytest.raises(MutabilityException):
        patch(user(), operation)


def test_same_id_is_ignored() -> None:
    """identity-providers.md §7 (Okta): an id equal to the resource's is ignored, with or without path."""
    doc = user()
    assert patch(doc, {"op": "replace", "path": "id", "value": USER_ID}) == doc
    assert patch(doc, {"op": "replace", "value": {"id": USER_ID, "active": False}})["active"] is False


def test_failed_request_leaves_input_untouched() -> None:
    """Issue 5 atomicity: a request whose third op fails leaves the input byte-identical."""
    doc = user(emails=[{"value": "a@example.com", "type": "work"}], name={"givenName": "A"})
    before = copy.deepcopy(doc)
    with pytest.raises(ScimError):
        patch(
            doc,
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "b@example.com"},
            {"op": "remove", "path": "name.givenName"},
            {"op": "replace", "path": "active", "value": "maybe"},
        )
    assert doc == before


def test_at_most_one_primary_after_all_ops() -> None:
    """RFC 7643 §2.4: a result with two primary values is 400 invalidValue."""
    doc = user(emails=[{"value": "a@example.com", "primary": True}, {"value": "b@example.com"}])
    with pytest.raises(InvalidValueException):
        patch(doc, {"op": "replace", "path": "emails.primary", "value": True})


@pytest.mark.parametrize("op, path, value", [
    ("replace", 'emails[type eq "work"].value', 5),
    ("add", 'emails[type eq "work"].primary', "yes"),
    ("replace", "name.givenName", 3),
    ("replace", "emails.value", [1]),
    ("add", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", 5),
])
def test_a_wrong_sub_attribute_value_names_its_path_once(op: str, path: str, value: Any) -> None:
    """The 400 invalidValue detail quotes the operation's path as sent, not with the
    sub-attribute repeated (``name.givenName.givenName``)."""
    document = user(emails=[{"value": "ada@example.com", "type": "work"}])
    with pytest.raises(InvalidValueException) as raised:
        patch(document, {"op": op, "path": path, "value": value})
    assert f"'{path}'" in raised.value.detail
