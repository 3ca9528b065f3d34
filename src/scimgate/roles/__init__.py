"""Workspace roles: their names, their order, and how a SCIM ``roles`` value names one.

The product's workspace has three roles, highest first: ``admin``, ``editor``, ``member``
(issue 16). They are published in ``/Schemas`` as the canonical values of the User's
``roles.value`` (RFC 7643 §4.1.2, §7 ``canonicalValues``). Pure functions, no I/O: the
protocol layer (discovery) and the services both read them from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

ROLES = ("admin", "editor", "member")
"""The workspace roles, highest first."""
RANK = {"admin": 3, "editor": 2, "member": 1}
"""A role's rank: of several roles a member is given, the highest rank wins."""
SOURCES = ("groups", "roles")
"""Where a member's role comes from when both name one: ``groups`` (the admin's mapping of SCIM
groups to roles) or ``roles`` (the User's SCIM ``roles`` attribute, e.g. Entra app roles)."""


def role_named(value: Any) -> str | None:
    """The workspace role ``value`` names (any case, surrounding spaces ignored), or None:
    ``"Admin"`` -> ``"admin"``, ``"Owner"`` -> None."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    return name if name in RANK else None


def highest(roles: Iterable[str | None]) -> str | None:
    """The highest-ranked of ``roles`` (Nones and unknown names ignored), or None."""
    known = [role for role in roles if role in RANK]
    return max(known, key=RANK.__getitem__) if known else None


def role_of_attribute(values: Any) -> str | None:
    """The workspace role a stored User ``roles`` attribute names: the highest of its elements'
    ``value`` (RFC 7643 §4.1.2; Entra sends the app role's own value there, Okta the value of
    its role attribute), or None when no element names a workspace role."""
    if not isinstance(values, list):
        return None
    return highest(role_named(item.get("value")) for item in values if isinstance(item, dict))
