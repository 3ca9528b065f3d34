"""PATCH remove (RFC 7644 §3.5.2.2) through scimgate.scim.patch.apply_patch."""

from __future__ import annotations

import pytest
from tests.scim.patching import patch, user

from scimgate.scim.errors import MutabilityException, NoTargetException
from scimgate.scim.schema import ENTERPRISE_USER_SCHEMA


def test_remove_simple() -> None:
    """§3.5.2.2: remove a single-valued attribute."""
    assert "nickName" not in patch(user(nickName="A"), {"op": "REMOVE", "path": "nickName"})


def test_remove_absent_attribute_is_no_op() -> None:
    """Case C04: removing an attribute that is not set succeeds and changes nothing."""
    doc = user()
    assert patch(doc, {"op": "Remove", "path": "nickName"}) == doc


def test_remove_without_path_is_no_target() -> None:
    """§3.5.2.2: a remove without path is 400 noTarget."""
    with pytest.raises(NoTargetException):
        patch(user(), {"op": "remove"})


def test_remove_sub_attribute() -> None:
    """§3.5.2.2: remove name.middleName leaves the other name parts."""
    out = patch(user(name={"givenName": "A", "middleName": "Q"}), {"op": "remove", "path": "name.middleName"})
    assert out["name"] == {"givenName": "A"}


def test_remove_last_sub_attribute_removes_parent() -> None:
    """A complex attribute left empty is removed (canonical form has no empty objects)."""
    assert "name" not in patch(user(name={"givenName": "A"}), {"op": "remove", "path": "name.givenName"})


def test_remove_multi_valued_all() -> None:
    """§3.5.2.2: remove of a multi-valued attribute without filter removes all values."""
    assert "emails" not in patch(
        user(emails=[{"value": "a@example.com"}]), {"op": "remove", "path": "emails"}
    )


def test_remove_through_filter() -> None:
    """§3.5.2.2: a valuePath filter removes the matching values only."""
    doc = user(
        emails=[{"value": "a@example.com", "type": "work"}, {"value": "b@example.com", "type": "home"}]
    )
    out = patch(doc, {"op": "remove", "path": 'emails[type eq "work"]'})
    assert out["emails"] == [{"value": "b@example.com", "type": "home"}]


def test_remove_through_unmatched_filter_is_no_op() -> None:
    """Decision: remove through a filter matching nothing changes nothing."""
    doc = user(emails=[{"value": "a@example.com", "type": "work"}])
    assert patch(doc, {"op": "remove", "path": 'emails[type eq "other"]'}) == doc


def test_remove_sub_attribute_through_filter() -> None:
    """§3.5.2.2: emails[type eq "work"].display removes the sub-attribute from the matched element."""
    doc = user(emails=[{"value": "a@example.com", "type": "work", "display": "A"}])
    out = patch(doc, {"op": "remove", "path": 'emails[type eq "work"].display'})
    assert out["emails"] == [{"value": "a@example.com", "type": "work"}]


def test_remove_value_through_filter_drops_empty_element() -> None:
    """Decision: an element left with only type/primary is dropped (it carries no value)."""
    doc = user(phoneNumbers=[{"value": "1", "type": "work", "primary": True}, {"value": "2", "type": "fax"}])
    out = patch(doc, {"op": "remove", "path": 'phoneNumbers[type eq "work"].value'})
    assert out["phoneNumbers"] == [{"value": "2", "type": "fax"}]


def test_remove_manager_keeps_other_extension_attributes() -> None:
    """Case C37: remove ...:manager clears only the manager."""
    doc = user(
        **{ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m"}, "department": "Ops", "employeeNumber": "1"}}
    )
    out = patch(doc, {"op": "remove", "path": f"{ENTERPRISE_USER_SCHEMA}:manager"})
    assert out[ENTERPRISE_USER_SCHEMA] == {"department": "Ops", "employeeNumber": "1"}


def test_remove_whole_extension() -> None:
    """RFC 7644 §3.10: remove with a schema URN path removes the extension's attributes."""
    doc = user(**{ENTERPRISE_USER_SCHEMA: {"department": "Ops"}})
    assert ENTERPRISE_USER_SCHEMA not in patch(doc, {"op": "remove", "path": ENTERPRISE_USER_SCHEMA})


def test_remove_required_attribute_fails() -> None:
    """Issue 5, RFC 7644 §3.5.2.2: a request that leaves userName missing fails with 400 mutability."""
    with pytest.raises(MutabilityException):
        patch(user(), {"op": "remove", "path": "userName"})


def test_remove_required_then_set_again_succeeds() -> None:
    """Validation runs after ALL operations (RFC 7644 §3.5.2)."""
    out = patch(
        user(), {"op": "remove", "path": "userName"}, {"op": "add", "path": "userName", "value": "b@x.com"}
    )
    assert out["userName"] == "b@x.com"


def test_remove_with_value_objects_on_emails() -> None:
    """Entra legacy style on users: remove path emails with a value list removes the listed elements."""
    doc = user(
        emails=[{"value": "a@example.com", "type": "work"}, {"value": "b@example.com", "type": "home"}]
    )
    out = patch(doc, {"op": "Remove", "path": "emails", "value": [{"value": "A@example.com"}]})
    assert out["emails"] == [{"value": "b@example.com", "type": "home"}]


def test_remove_password_is_ignored() -> None:
    """password is writeOnly and never stored: operations on it change nothing."""
    doc = user()
    assert patch(doc, {"op": "remove", "path": "password"}) == doc


def test_remove_simple_with_matching_value() -> None:
    """Entra legacy remove-with-value on a single-valued attribute removes it when the value matches."""
    assert "title" not in patch(
        user(title="Engineer"), {"op": "Remove", "path": "title", "value": "engineer"}
    )


def test_remove_simple_with_other_value_is_no_op() -> None:
    """A remove naming another value leaves the attribute alone."""
    doc = user(title="Engineer")
    assert patch(doc, {"op": "Remove", "path": "title", "value": "Manager"}) == doc
