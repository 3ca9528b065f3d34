"""scimgate.roles: which role a value names, the highest of several, and the ``roles`` attribute."""

from __future__ import annotations

from scimgate.roles import highest, role_named, role_of_attribute


def test_role_named_any_case_and_nothing_else() -> None:
    assert role_named(" Admin ") == "admin"
    assert role_named("EDITOR") == "editor"
    assert role_named("Owner") is None
    assert role_named(3) is None


def test_highest_ignores_unknown_names() -> None:
    assert highest(["member", None, "editor", "root"]) == "editor"
    assert highest([None, "root"]) is None


def test_roles_attribute_elements() -> None:
    several = [{"value": "Reader"}, {"value": "Editor", "primary": True}, {"value": "admin"}]
    assert role_of_attribute(several) == "admin"
    assert role_of_attribute([{"display": "Admin"}]) is None  # only value names a role
    assert role_of_attribute(None) is None
    assert role_of_attribute([]) is None
