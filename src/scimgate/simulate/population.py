"""The simulated source directory: people and groups, and what the target must read back.

Each simulated user keeps ``expected``: a flat map from a SCIM attribute path (the grammar Entra
writes in its mappings, docs/identity-providers.md §2.4(b)/(e) and §5: ``name.givenName``,
``emails[type eq "work"].value``, ``urn:...:User:employeeNumber``, ``urn:...:User:manager.value``)
to the value last sent. The final cycle reads every user back and compares with
:func:`differences`, which is how Entra decides whether to PATCH again (docs/identity-providers.md §2.1).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from scimgate.simulate.client import ScimClient

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

GIVEN = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Leslie")
FAMILY = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
          "Perlman", "Lamport")

_VALUE_PATH = re.compile(r'^(\w+)\[type eq "([^"]*)"\]\.(\w+)$')
MISSING = object()


@dataclass
class SimUser:
    """One source user: its index, the target's ``id`` once created, and the expected values."""

    index: int
    expected: dict[str, Any]
    id: str | None = None
    deleted: bool = False

    @property
    def user_name(self) -> str:
        """The userName last sent."""
        return str(self.expected["userName"])


@dataclass
class SimGroup:
    """One source group: the target's ``id`` once created, its name and expected member ids."""

    index: int
    display_name: str
    external_id: str
    id: str | None = None
    members: set[str] = field(default_factory=set)


def run_tag() -> str:
    """A short random tag so that repeated runs against one server never collide."""
    return secrets.token_hex(3)


def person(index: int, tag: str, domain: str) -> dict[str, str]:
    """Deterministic name parts and addresses of user ``index`` in run ``tag``."""
    given = GIVEN[index % len(GIVEN)]
    family = FAMILY[(index // len(GIVEN)) % len(FAMILY)]
    local = f"{given.lower()}.{family.lower()}.{index:05d}.{tag}"
    return {"given": given, "family": family, "local": local, "email": f"{local}@{domain}"}


def read_path(resource: dict[str, Any], path: str) -> Any:
    """The value at ``path`` in a SCIM resource, or :data:`MISSING`.

    ``path`` is ``attr``, ``attr.sub``, ``attr[type eq "t"].sub``, optionally prefixed by an
    extension URN and ``:`` (RFC 7644 §3.10 attribute notation, the subset Entra uses).
    """
    node: Any = resource
    if path.startswith("urn:"):
        urn, _, path = path.rpartition(":")
        node = resource.get(urn)
        if not isinstance(node, dict):
            return MISSING
    match = _VALUE_PATH.match(path)
    if match:
        attribute, wanted_type, sub = match.groups()
        items = [i for i in node.get(attribute) or [] if isinstance(i, dict) and i.get("type") == wanted_type]
        return items[0].get(sub, MISSING) if len(items) == 1 else MISSING
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def differences(expected: dict[str, Any], resource: dict[str, Any]) -> list[str]:
    """Human-readable differences between the values sent and a resource read back (exact
    comparison: Entra wants values stored as sent, docs/identity-providers.md §2.1 "Diff-then-PATCH")."""
    found = []
    for path, value in expected.items():
        actual = read_path(resource, path)
        if actual != value:
            shown = "(missing)" if actual is MISSING else repr(actual)
            found.append(f"{path}: sent {value!r}, read back {shown}")
    return found


def post_user(client: ScimClient, user: SimUser, body: dict[str, Any]) -> None:
    """POST ``body`` to /Users (RFC 7644 §3.3) after the caller's existence check: caches the new
    ``id`` on ``user`` and checks that the answer holds every value that was sent (identity-providers.md §2.1:
    values must round-trip exactly)."""
    response = client.call("create user", "POST", "/Users", body=body, expect=(201,))
    if response is None:
        return
    created = response.json()
    if client.check("create user", isinstance(created.get("id"), str), f"POST /Users: no id in {created}"):
        user.id = created["id"]
        diff = differences(user.expected, created)
        client.check("create user", not diff, f"POST /Users {user.user_name}: {'; '.join(diff)}")
