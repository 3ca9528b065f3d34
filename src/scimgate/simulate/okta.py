"""Replay of an Okta provisioning run (docs/identity-providers.md §7, OIN app behaviour).

Phases: the connectivity check (``GET /Users?startIndex=1&count=2``); per user an existence check
by ``userName eq`` *with* paging parameters, then POST (with ``password``, ``groups: []``,
``locale``, ``externalId``); an import that pages through ``/Users`` 100 at a time; profile updates
by GET-modify-PUT of the whole object; deactivate and reactivate by a pathless ``replace`` of
``active`` (and, as App-Integration-Wizard apps do, deactivate by PUT); Push Groups (create with
``members: []``, rename by a pathless replace carrying ``id``, membership by PATCHes that mix
``remove`` and ``add``, a full push by ``replace``); a read-back of every user and group; and an
unlink that deletes one pushed group. Okta never DELETEs users.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scimgate.simulate.client import ScimClient, patch_body
from scimgate.simulate.population import (
    CORE_GROUP,
    CORE_USER,
    SimGroup,
    SimUser,
    differences,
    person,
    post_user,
    run_tag,
)

USER_AGENT = "Okta SCIM Client 1.0.0"
PATCH_OK = (200, 204)

Phase = Callable[[str], None]


@dataclass(frozen=True)
class OktaOptions:
    """``users`` and ``groups`` to push, the verified ``domain`` of their emails, and the import
    page size (Okta uses 100)."""

    users: int
    groups: int
    domain: str = "example.com"
    page_size: int = 100


def make_users(count: int, tag: str, domain: str) -> list[SimUser]:
    """The Okta users, with the attributes Okta requires (docs/identity-providers.md §7: userName, name parts,
    emails, active)."""
    users = []
    for index in range(count):
        p = person(index, tag, domain)
        users.append(SimUser(index, {
            "userName": p["email"],
            "externalId": "00u" + secrets.token_hex(8),
            "active": True,
            "displayName": f"{p['given']} {p['family']}",
            "locale": "en-US",
            "name.givenName": p["given"],
            "name.familyName": p["family"],
            'emails[type eq "work"].value': p["email"],
        }))
    return users


def user_body(user: SimUser) -> dict[str, Any]:
    """Okta's POST /Users body (docs/identity-providers.md §7 "Create")."""
    e = user.expected
    return {
        "schemas": [CORE_USER],
        "userName": e["userName"],
        "name": {"givenName": e["name.givenName"], "familyName": e["name.familyName"]},
        "emails": [{"primary": True, "value": e['emails[type eq "work"].value'], "type": "work"}],
        "displayName": e["displayName"],
        "locale": e["locale"],
        "externalId": e["externalId"],
        "groups": [],
        "password": secrets.token_urlsafe(12),
        "active": True,
    }


def run_okta(client: ScimClient, options: OktaOptions, phase: Phase) -> None:
    """Replay the whole run, recording every unexpected answer or difference in
    ``client.recorder``; stops after the connectivity check if it fails."""
    tag = run_tag()
    users = make_users(options.users, tag, options.domain)
    groups = [SimGroup(g, f"Okta Push {g} {tag}", "") for g in range(options.groups)]

    phase("test connection")
    if client.list_resources("test connection", "/Users", {"startIndex": 1, "count": 2}) is None:
        return
    phase("create users")
    for user in users:
        create_user(client, user)
    live = [u for u in users if u.id]
    phase("import")
    import_users(client, live, options.page_size)
    phase("profile updates (PUT)")
    for user in live:
        put_user(client, user, {"name.givenName": user.expected["name.givenName"] + "-Marie",
                                "title": "Analyst"})
    phase("deactivate / reactivate")
    for user in (u for u in live if u.index % 3 == 0):
        set_active(client, user, False)
    for user in (u for u in live if u.index % 6 == 0):
        set_active(client, user, True)
    for user in (u for u in live if u.index % 5 == 4 and u.expected["active"]):
        put_user(client, user, {"active": False}, kind="deactivate (PUT)")
    phase("push groups")
    for group in groups:
        push_group(client, group, [u for u in live if u.index % max(1, len(groups)) == group.index], live)
    phase("read back")
    for user in live:
        response = client.call("read back user", "GET", f"/Users/{user.id}")
        if response is not None:
            diff = differences(user.expected, response.json())
            client.check("read back user", not diff, f"{user.user_name}: {'; '.join(diff)}")
    for group in (g for g in groups if g.id):
        read_back_group(client, group)
    if groups and groups[-1].id:
        phase("unlink group")
        gid = groups[-1].id
        if client.call("delete group", "DELETE", f"/Groups/{gid}", expect=(204,)):
            client.call("delete group", "GET", f"/Groups/{gid}", expect=(404,))


def create_user(client: ScimClient, user: SimUser) -> None:
    """Existence check with paging parameters (200 empty, or 404 which Okta tolerates), then
    POST; a 201 must carry the resource (docs/identity-providers.md §7 "Create")."""
    check = client.call("existence check", "GET", "/Users", expect=(200, 404), params={
        "filter": f'userName eq "{user.user_name}"', "startIndex": 1, "count": 100})
    if check is None:
        return
    if check.status_code == 200 and not client.check(
            "existence check", check.json().get("totalResults") == 0, f"{user.user_name} exists already"):
        return
    post_user(client, user, user_body(user))


def import_users(client: ScimClient, users: list[SimUser], page_size: int) -> None:
    """Page through /Users (startIndex 1, 1+page, ...); no id may repeat across pages and every
    created user must be seen (stable ordering, docs/identity-providers.md §7 "Pagination")."""
    wanted = {u.id for u in users}
    seen: set[str] = set()
    start = 1
    while wanted - seen:
        page = client.list_resources("import page", "/Users", {"startIndex": start, "count": page_size})
        if page is None:
            return
        ids = [r.get("id") for r in page["Resources"]]
        repeated = seen.intersection(ids)
        client.check("import page", not repeated,
                     f"page at startIndex={start} repeats ids {sorted(repeated)[:3]}")
        seen.update(i for i in ids if isinstance(i, str))
        if not ids or start + len(ids) > page["totalResults"]:
            break
        start += len(ids)
    missing = wanted - seen
    client.check("import page", not missing, f"import did not list {len(missing)} created user(s)")


def put_user(client: ScimClient, user: SimUser, changes: dict[str, Any],
             kind: str = "update user (PUT)") -> None:
    """GET the user, change ``changes`` (flat paths, one level of dots) in the document and PUT
    the whole object back, ``id``, ``meta`` and ``groups`` included (identity-providers.md §7 "Update")."""
    current = client.call(kind, "GET", f"/Users/{user.id}")
    if current is None:
        return
    document = current.json()
    for path, value in changes.items():
        head, _, sub = path.partition(".")
        if sub:
            document.setdefault(head, {})[sub] = value
        else:
            document[head] = value
    response = client.call(kind, "PUT", f"/Users/{user.id}", body=document, expect=(200,))
    if response is None:
        return
    user.expected.update(changes)
    diff = differences(user.expected, response.json())
    client.check(kind, not diff, f"PUT /Users/{user.id}: {'; '.join(diff)}")


def set_active(client: ScimClient, user: SimUser, value: bool) -> None:
    """OIN deactivate / reactivate: ``{"op":"replace","value":{"active":...}}`` (identity-providers.md §7)."""
    kind = "reactivate" if value else "deactivate"
    response = client.call(kind, "PATCH", f"/Users/{user.id}",
                           body=patch_body([{"op": "replace", "value": {"active": value}}]), expect=PATCH_OK)
    if response is None:
        return
    user.expected["active"] = value
    if response.status_code == 200:
        client.check(kind, response.json().get("active") is value,
                     f"PATCH active={value}: answer shows active={response.json().get('active')!r}")


def push_group(client: ScimClient, group: SimGroup, own: list[SimUser], everyone: list[SimUser]) -> None:
    """Push one group: create empty, add its users (rename re-sent before each membership update,
    as Okta does), then one PATCH mixing a ``remove`` and an ``add``; the first group gets a full
    ``replace`` of members (docs/identity-providers.md §7 "Groups")."""
    body = {"schemas": [CORE_GROUP], "displayName": group.display_name, "members": []}
    response = client.call("create group", "POST", "/Groups", body=body, expect=(201,))
    if response is None or not client.check("create group", isinstance(response.json().get("id"), str),
                                            "POST /Groups: no id"):
        return
    group.id = response.json()["id"]

    def membership(kind: str, operations: list[dict[str, Any]]) -> bool:
        rename = [{"op": "replace", "value": {"id": group.id, "displayName": group.display_name}}]
        if client.call("rename group", "PATCH", f"/Groups/{group.id}", body=patch_body(rename),
                       expect=PATCH_OK) is None:
            return False
        return client.call(kind, "PATCH", f"/Groups/{group.id}", body=patch_body(operations),
                           expect=PATCH_OK) is not None

    add = [{"value": u.id, "display": u.user_name} for u in own]
    if add and membership("add members", [{"op": "add", "path": "members", "value": add}]):
        group.members.update(str(u.id) for u in own)
    outsider = next((u for u in everyone if str(u.id) not in group.members), None)
    if group.members and outsider is not None:
        leaving = sorted(group.members)[0]
        joining = [{"value": outsider.id, "display": outsider.user_name}]
        mixed: list[dict[str, Any]] = [{"op": "remove", "path": f'members[value eq "{leaving}"]'},
                 {"op": "add", "path": "members", "value": joining}]
        if membership("mixed members", mixed):
            group.members.discard(leaving)
            group.members.add(str(outsider.id))
    if group.index == 0 and everyone:
        full = everyone[: max(1, len(everyone) // 2)]
        push = [{"op": "replace", "path": "members",
                 "value": [{"value": u.id, "display": u.user_name} for u in full]}]
        if membership("full push", push):
            group.members = {str(u.id) for u in full}


def read_back_group(client: ScimClient, group: SimGroup) -> None:
    """GET /Groups/{id}: displayName and member set as pushed."""
    response = client.call("read back group", "GET", f"/Groups/{group.id}")
    if response is None:
        return
    body = response.json()
    members = {m.get("value") for m in body.get("members") or []}
    same = members == group.members and body.get("displayName") == group.display_name
    client.check("read back group", same,
                 f"{group.display_name}: read back {body.get('displayName')!r} with members "
                 f"{sorted(members)}, expected {sorted(group.members)}")

