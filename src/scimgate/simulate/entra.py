"""Replay of a Microsoft Entra ID provisioning run (docs/identity-providers.md §1-§4).

Phases, in Entra's order (identity-providers.md §2.1): test connection; per user a ``userName eq`` filter then
POST; groups created empty; the reference round (manager, members added in PATCH batches);
attribute updates; an email-domain change; member removals and a group rename; disable and
re-enable through ``active``; hard delete; and a final incremental cycle that reads every user and
group back and must find nothing to change. With ``sign_ins`` (``--sign-in``, simulate.sign_in)
every created user also signs in after creation, again after the domain change (moved users
with their new address, landing in the same id), and each disabled user is refused.

Two dialects (identity-providers.md §4): ``legacy`` (today's default: capitalised ``op``, one ``Replace`` per
attribute, ``active`` as the strings ``"True"``/``"False"``, ``Remove`` of members with a value
list) and ``aadOptscim062020`` (lower-case ``op``, value-filter paths as their own ops and the
rest merged into one pathless ``replace`` with dotted and URN keys, booleans, member removal by
``members[value eq "..."]``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scimgate.simulate.client import ScimClient, patch_body
from scimgate.simulate.population import (
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE,
    SimGroup,
    SimUser,
    differences,
    person,
    post_user,
    run_tag,
)
from scimgate.simulate.sign_in import SignIns

LEGACY = "legacy"
AAD_FLAG = "aadOptscim062020"
DIALECTS = (LEGACY, AAD_FLAG)
ENTRA_GROUP_SCHEMA = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
USER_AGENT = "scimgate-simulate (Entra ID provisioning replay)"
PATCH_OK = (200, 204)

Phase = Callable[[str], None]


@dataclass(frozen=True)
class EntraOptions:
    """What to replay: ``users`` and ``groups`` counts, the dialect, the verified ``domain`` users
    are created in, the ``new_domain`` some of them move to (None: skip that phase) and the
    number of members per group PATCH (``batch``)."""

    users: int
    groups: int
    dialect: str = LEGACY
    domain: str = "example.com"
    new_domain: str | None = None
    batch: int = 25


class Dialect:
    """PatchOp shapes of one Entra dialect (docs/identity-providers.md §2.4, §3, §4)."""

    def __init__(self, name: str) -> None:
        if name not in DIALECTS:
            raise ValueError(f"unknown dialect {name!r}; use one of {', '.join(DIALECTS)}")
        self.legacy = name == LEGACY

    def op(self, name: str) -> str:
        """``add`` -> ``Add`` in the legacy dialect, unchanged with the flag (identity-providers.md §4 row
        5)."""
        return name.capitalize() if self.legacy else name

    def boolean(self, value: bool) -> bool | str:
        """Legacy ``active`` values are the strings "True"/"False" (identity-providers.md §2.4(f), §2.7)."""
        return ("True" if value else "False") if self.legacy else value

    def replace(self, changes: dict[str, Any]) -> list[dict[str, Any]]:
        """Attribute updates: one op per attribute (legacy), or value-filter paths as their own
        ops plus one pathless replace with flat dotted/URN keys (flag; identity-providers.md §2.4(b), (c))."""
        if self.legacy:
            return [{"op": "Replace", "path": path, "value": value} for path, value in changes.items()]
        filtered = {p: v for p, v in changes.items() if "[" in p}
        flat = {p: v for p, v in changes.items() if "[" not in p}
        operations = [{"op": "replace", "path": p, "value": v} for p, v in filtered.items()]
        if flat:
            operations.append({"op": "replace", "value": flat})
        return operations

    def active(self, value: bool) -> list[dict[str, Any]]:
        """Disable / enable (docs/identity-providers.md §2.4(f), §4 row 1)."""
        return [{"op": self.op("replace"), "path": "active", "value": self.boolean(value)}]

    def add_members(self, ids: list[str]) -> list[dict[str, Any]]:
        """Several members in one ``add`` op, ``$ref`` null (docs/identity-providers.md §3 "Add members")."""
        return [{"op": self.op("add"), "path": "members", "value": [{"$ref": None, "value": i} for i in ids]}]

    def remove_members(self, ids: list[str]) -> list[dict[str, Any]]:
        """Legacy ``Remove`` with a value list, or one filtered ``remove`` per member (§3, §4 row 4)."""
        if self.legacy:
            return [{"op": "Remove", "path": "members", "value": [{"value": i} for i in ids]}]
        return [{"op": "remove", "path": f'members[value eq "{i}"]'} for i in ids]

    def rename_group(self, name: str) -> list[dict[str, Any]]:
        """``Replace displayName`` with a path (legacy), pathless with the flag (identity-providers.md §3)."""
        if self.legacy:
            return [{"op": "Replace", "path": "displayName", "value": name}]
        return [{"op": "replace", "value": {"displayName": name}}]


def user_body(user: SimUser) -> dict[str, Any]:
    """The POST /Users body Entra sends (identity-providers.md §2.2): ``meta`` and ``roles: []`` included."""
    e = user.expected
    return {
        "schemas": [CORE_USER, ENTERPRISE],
        "externalId": e["externalId"],
        "userName": e["userName"],
        "active": True,
        "displayName": e["displayName"],
        "emails": [{"primary": True, "type": "work", "value": e['emails[type eq "work"].value']}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": e["name.formatted"], "familyName": e["name.familyName"],
                 "givenName": e["name.givenName"]},
        "roles": [],
        ENTERPRISE: {"employeeNumber": e[f"{ENTERPRISE}:employeeNumber"],
                     "department": e[f"{ENTERPRISE}:department"]},
    }


def make_users(count: int, tag: str, domain: str) -> list[SimUser]:
    """The source users, with the values the POST will send as their expected state."""
    users = []
    for index in range(count):
        p = person(index, tag, domain)
        users.append(SimUser(index, {
            "userName": p["email"],
            "externalId": p["local"],
            "active": True,
            "displayName": f"{p['given']} {p['family']}",
            'emails[type eq "work"].value': p["email"],
            "name.givenName": p["given"],
            "name.familyName": p["family"],
            "name.formatted": f"{p['given']} {p['family']}",
            f"{ENTERPRISE}:employeeNumber": str(10000 + index),
            f"{ENTERPRISE}:department": "Research",
        }))
    return users


def run_entra(client: ScimClient, options: EntraOptions, phase: Phase,
              sign_ins: SignIns | None = None) -> None:
    """Replay the whole run; every unexpected answer or read-back difference is recorded in
    ``client.recorder``. Stops after the test connection if that fails (as Entra does), and
    skips the sign-ins if their SAML setup fails (recorded)."""
    dialect = Dialect(options.dialect)
    tag = run_tag()
    users = make_users(options.users, tag, options.domain)
    groups = [SimGroup(g, f"Sim Group {g} {tag}", str(uuid.uuid4())) for g in range(options.groups)]

    phase("test connection")
    if not probe_connection(client, with_groups=bool(groups)):
        return
    phase("create users")
    for user in users:
        create_user(client, user)
    live = [u for u in users if u.id]
    if sign_ins is not None:
        phase("sign-in setup")
        if not sign_ins.connect():
            sign_ins = None
    if sign_ins is not None:
        phase("sign-in")
        for user in live:
            sign_ins.sign_in("sign in", user.index, user.user_name, expect_id=user.id)
    phase("create groups")
    for group in groups:
        create_group(client, group)
    phase("reference round: manager")
    if live and live[0].index == 0:
        for user in live[1:]:
            set_manager(client, dialect, user, live[0])
    phase("reference round: members")
    for group in (g for g in groups if g.id):
        ids = [u.id for u in live if u.id and u.index % len(groups) == group.index]
        for start in range(0, len(ids), options.batch):
            chunk = ids[start:start + options.batch]
            if client.call("add members", "PATCH", f"/Groups/{group.id}",
                           body=patch_body(dialect.add_members(chunk)), expect=PATCH_OK):
                group.members.update(chunk)
    phase("attribute updates")
    for user in live:
        update_user(client, dialect, user)
    if options.new_domain:
        phase("email domain change")
        for user in (u for u in live if u.index % 3 == 1):
            change_domain(client, dialect, user, options.new_domain)
    if sign_ins is not None:
        phase("sign-in after domain change")
        for user in live:
            moved = options.new_domain and user.user_name.endswith("@" + options.new_domain)
            kind = "sign in, new domain" if moved else "sign in again"
            sign_ins.sign_in(kind, user.index, user.user_name, expect_id=user.id)
    phase("member removals and rename")
    for group in (g for g in groups if g.id):
        if group.members:
            first = sorted(group.members)[0]
            if client.call("remove members", "PATCH", f"/Groups/{group.id}",
                           body=patch_body(dialect.remove_members([first])), expect=PATCH_OK):
                group.members.discard(first)
        if group.index == 0:
            new_name = group.display_name + " renamed"
            if client.call("rename group", "PATCH", f"/Groups/{group.id}",
                           body=patch_body(dialect.rename_group(new_name)), expect=PATCH_OK):
                group.display_name = new_name
    phase("disable")
    for user in (u for u in live if u.index % 4 == 2):
        set_active(client, dialect, user, False)
        if sign_ins is not None:
            sign_ins.sign_in("sign in, disabled", user.index, user.user_name, expect_id=None)
    phase("re-enable")
    for user in (u for u in live if u.index % 8 == 2):
        set_active(client, dialect, user, True)
    phase("hard delete")
    if len(live) >= 2:
        for user in live[-max(1, len(live) // 10):]:
            delete_user(client, user, groups)
    phase("incremental cycle")
    for user in (u for u in live if not u.deleted):
        read_back_user(client, user)
    for group in (g for g in groups if g.id):
        read_back_group(client, group)


def probe_connection(client: ScimClient, *, with_groups: bool) -> bool:
    """Filters for a random GUID must answer 200 with an empty ListResponse (identity-providers.md §1)."""
    probe = client.list_resources("test connection", "/Users", {"filter": f'userName eq "{uuid.uuid4()}"'})
    ok = probe is not None and client.check("test connection", probe["totalResults"] == 0,
                                            "GET /Users?filter=<random GUID>: totalResults is not 0")
    if with_groups:
        probe = client.list_resources("test connection", "/Groups", {
            "excludedAttributes": "members", "filter": f'displayName eq "{uuid.uuid4()}"'})
        ok = ok and probe is not None and client.check(
            "test connection", probe["totalResults"] == 0,
            "GET /Groups?filter=<random GUID>: totalResults is not 0")
    return ok


def create_user(client: ScimClient, user: SimUser) -> None:
    """Filter by userName, then POST when there is no match (identity-providers.md §2.2); caches the id."""
    found = client.list_resources("filter user", "/Users", {"filter": f'userName eq "{user.user_name}"'})
    if found is None or not client.check("filter user", found["totalResults"] == 0,
                                         f"{user.user_name} exists before its creation"):
        return
    post_user(client, user, user_body(user))


def create_group(client: ScimClient, group: SimGroup) -> None:
    """Filter by displayName without members, then POST the group empty (docs/identity-providers.md §3)."""
    found = client.list_resources("filter group", "/Groups", {
        "excludedAttributes": "members", "filter": f'displayName eq "{group.display_name}"'})
    if found is None or not client.check("filter group", found["totalResults"] == 0,
                                         f"{group.display_name} exists before its creation"):
        return
    body = {"schemas": [CORE_GROUP, ENTRA_GROUP_SCHEMA], "externalId": group.external_id,
            "displayName": group.display_name, "meta": {"resourceType": "Group"}}
    response = client.call("create group", "POST", "/Groups", body=body, expect=(201,))
    if response is not None and client.check("create group", isinstance(response.json().get("id"), str),
                                             "POST /Groups: no id"):
        group.id = response.json()["id"]


def patch_user(client: ScimClient, kind: str, user: SimUser, operations: list[dict[str, Any]],
               changes: dict[str, Any]) -> None:
    """PATCH a user; on success ``changes`` join the expected state, and a 200 body must show them."""
    response = client.call(kind, "PATCH", f"/Users/{user.id}", body=patch_body(operations), expect=PATCH_OK)
    if response is None:
        return
    user.expected.update(changes)
    if response.status_code == 200:
        diff = differences(user.expected, response.json())
        client.check(kind, not diff, f"PATCH /Users/{user.id}: {'; '.join(diff)}")


def set_manager(client: ScimClient, dialect: Dialect, user: SimUser, manager: SimUser) -> None:
    """Manager as a bare id on the enterprise URN path, as real Entra traffic does (identity-providers.md
    §2.4(g))."""
    operations = [{"op": dialect.op("add"), "path": f"{ENTERPRISE}:manager", "value": manager.id}]
    patch_user(client, "set manager", user, operations, {f"{ENTERPRISE}:manager.value": manager.id})


def update_user(client: ScimClient, dialect: Dialect, user: SimUser) -> None:
    """Attribute updates in the dialect's shape (identity-providers.md §2.4(b)-(e)), with typed value paths
    that create their element, and ``nickName`` through ``Add``."""
    changes = {
        "displayName": user.expected["displayName"] + " (Research)",
        "title": "Staff Engineer",
        "name.middleName": "Q",
        f"{ENTERPRISE}:department": "Platform",
        f"{ENTERPRISE}:employeeNumber": str(20000 + user.index),
        'phoneNumbers[type eq "work"].value': f"+1 (425) 555-{user.index % 10000:04d}",
        'addresses[type eq "work"].locality': "Redmond",
    }
    operations = dialect.replace(changes)
    operations.append({"op": dialect.op("add"), "path": "nickName", "value": f"nick{user.index}"})
    patch_user(client, "update user", user, operations, {**changes, "nickName": f"nick{user.index}"})


def change_domain(client: ScimClient, dialect: Dialect, user: SimUser, new_domain: str) -> None:
    """Move a user's userName and work email to ``new_domain`` (a UPN suffix change in Entra)."""
    new_name = user.user_name.rsplit("@", 1)[0] + "@" + new_domain
    changes = {"userName": new_name, 'emails[type eq "work"].value': new_name}
    patch_user(client, "change domain", user, dialect.replace(changes), changes)


def set_active(client: ScimClient, dialect: Dialect, user: SimUser, value: bool) -> None:
    """Disable or enable (soft delete, identity-providers.md §2.4(f)); a later GET must show the new value
    and the user must stay visible (docs/identity-providers.md §2.3)."""
    kind = "enable user" if value else "disable user"
    patch_user(client, kind, user, dialect.active(value), {"active": value})
    response = client.call(kind, "GET", f"/Users/{user.id}")
    if response is not None:
        client.check(kind, response.json().get("active") is value,
                     f"GET /Users/{user.id} after setting active={value}: active is "
                     f"{response.json().get('active')!r}")


def delete_user(client: ScimClient, user: SimUser, groups: list[SimGroup]) -> None:
    """Hard delete: 204, then GET 404 (docs/identity-providers.md §2.6); the user leaves every group."""
    if client.call("delete user", "DELETE", f"/Users/{user.id}", expect=(204,)) is None:
        return
    user.deleted = True
    for group in groups:
        group.members.discard(str(user.id))
    client.call("get deleted user", "GET", f"/Users/{user.id}", expect=(404,))


def read_back_user(client: ScimClient, user: SimUser) -> None:
    """Incremental cycle: the userName filter finds exactly this user, with every value as sent."""
    query = {"filter": f'userName eq "{user.user_name}"'}
    found = client.list_resources("incremental: user", "/Users", query)
    if found is None:
        return
    ids = [r.get("id") for r in found["Resources"]]
    if client.check("incremental: user", ids == [user.id],
                    f"filter userName eq {user.user_name!r}: ids {ids}, expected [{user.id}]"):
        diff = differences(user.expected, found["Resources"][0])
        client.check("incremental: user", not diff,
                     f"{user.user_name} would be PATCHed again: {'; '.join(diff)}")


def read_back_group(client: ScimClient, group: SimGroup) -> None:
    """Incremental cycle: the displayName filter (without members) finds the group; GET by id
    shows the expected name, externalId and member set (docs/identity-providers.md §3)."""
    found = client.list_resources("incremental: group", "/Groups", {
        "excludedAttributes": "members", "filter": f'displayName eq "{group.display_name}"'})
    if found is None:
        return
    ids = [r.get("id") for r in found["Resources"]]
    if not client.check("incremental: group", ids == [group.id],
                        f"filter displayName eq {group.display_name!r}: ids {ids}, expected [{group.id}]"):
        return
    client.check("incremental: group", "members" not in found["Resources"][0],
                 f"{group.display_name}: members returned despite excludedAttributes=members")
    response = client.call("incremental: group", "GET", f"/Groups/{group.id}")
    if response is None:
        return
    body = response.json()
    members = {m.get("value") for m in body.get("members") or []}
    client.check("incremental: group", members == group.members,
                 f"{group.display_name}: members {sorted(members)}, expected {sorted(group.members)}")
    same = body.get("displayName") == group.display_name and body.get("externalId") == group.external_id
    client.check("incremental: group", same,
                 f"{group.display_name}: read back displayName {body.get('displayName')!r}, "
                 f"externalId {body.get('externalId')!r}")
