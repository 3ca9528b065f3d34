"""Races over one resource or one membership, on a 4-worker server (issue 13, race suite).

Every test releases its requests together (a thread barrier) and then checks two things: no
answer is a 5xx, and the stored state is one that some serial order of the same requests
produces. Each kind of race is run many times at once (``PAIRS`` pairs per round) so that
the interleavings that matter do occur, on PostgreSQL (row locks, foreign keys, deadlock
retries) and on SQLite (one writer at a time).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.production.test_concurrency import (  # noqa: F401  (live_server: the 4-worker fixture)
    GROUP_SCHEMA,
    PATCH_OP,
    assert_log_clean,
    live_server,
    race,
)
from tests.support import Tenant

PAIRS = 25
ROUNDS = 8  # delete vs add: 8 x 25 = 200 races per database


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def add_members(*ids: str) -> dict[str, Any]:
    return patch({"op": "add", "path": "members", "value": [{"value": i} for i in ids]})


def new_group(tenant: Tenant, members: tuple[str, ...] = ()) -> dict[str, Any]:
    body = {"schemas": [GROUP_SCHEMA], "displayName": "g-" + uuid.uuid4().hex[:10],
            "members": [{"value": m} for m in members]}
    response = tenant.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def new_users(tenant: Tenant, count: int) -> list[str]:
    return [tenant.create_user(f"r-{uuid.uuid4().hex[:12]}@example.com")["id"] for _ in range(count)]


def member_ids(tenant: Tenant, group_id: str) -> set[str]:
    body = tenant.get(f"/Groups/{group_id}").json()
    return {member["value"] for member in body.get("members", [])}


def no_5xx(responses: list[httpx.Response]) -> None:
    assert [r.status_code for r in responses if r.status_code >= 500] == []


def assert_refused_member(response: httpx.Response, member_id: str) -> None:
    """The loser of an add racing the member's delete: 400 invalidValue naming the member."""
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"
    assert member_id in response.json()["detail"]


def assert_writable_as_read(tenant: Tenant, group_id: str) -> None:
    """The group can be written back as read (PUT with its own members): no ghost member."""
    group = tenant.get(f"/Groups/{group_id}").json()
    put = tenant.put(f"/Groups/{group_id}", json={"schemas": [GROUP_SCHEMA],
                                                  "displayName": group["displayName"],
                                                  "members": group.get("members", [])})
    assert put.status_code == 200, put.text


def test_user_delete_racing_its_add_to_a_group_leaves_no_ghost(tenant: Tenant) -> None:
    """200 races of DELETE /Users/u against PATCH add u: each add is 204 (it went first; the
    delete then removes u) or 400 invalidValue naming u; the group never lists a deleted user."""
    for _ in range(ROUNDS):
        group = new_group(tenant)
        users = new_users(tenant, PAIRS)
        requests: list[Callable[[httpx.Client], httpx.Response]] = []
        for user in users:
            requests.append(lambda c, u=user: c.delete(f"/Users/{u}"))
            requests.append(lambda c, u=user, g=group["id"]: c.patch(f"/Groups/{g}", json=add_members(u)))
        responses = race(tenant, requests)
        no_5xx(responses)
        for index, user in enumerate(users):
            deleted, added = responses[2 * index], responses[2 * index + 1]
            assert deleted.status_code == 204, deleted.text
            if added.status_code != 204:
                assert_refused_member(added, user)
        assert member_ids(tenant, group["id"]) == set()
        assert_writable_as_read(tenant, group["id"])
    assert_log_clean(tenant.server)


def test_nested_group_delete_racing_its_add_leaves_no_ghost(tenant: Tenant) -> None:
    """DELETE /Groups/h against PATCH add h to g, 25 at once: no parent lists a deleted group."""
    parent = new_group(tenant)
    nested = [new_group(tenant)["id"] for _ in range(PAIRS)]
    requests: list[Callable[[httpx.Client], httpx.Response]] = []
    for child in nested:
        requests.append(lambda c, h=child: c.delete(f"/Groups/{h}"))
        requests.append(lambda c, h=child: c.patch(f"/Groups/{parent['id']}", json=add_members(h)))
    responses = race(tenant, requests)
    no_5xx(responses)
    for index, child in enumerate(nested):
        assert responses[2 * index].status_code == 204
        if responses[2 * index + 1].status_code != 204:
            assert_refused_member(responses[2 * index + 1], child)
    assert member_ids(tenant, parent["id"]) == set()
    assert_writable_as_read(tenant, parent["id"])


def test_user_delete_racing_a_group_put_naming_it(tenant: Tenant) -> None:
    """PUT /Groups/g with members [u, keep] against DELETE u: the group ends with keep alone,
    or the PUT is 400 naming u and the group is unchanged (empty)."""
    keep = new_users(tenant, 1)[0]
    groups = [new_group(tenant)["id"] for _ in range(PAIRS)]
    users = new_users(tenant, PAIRS)
    requests: list[Callable[[httpx.Client], httpx.Response]] = []
    for group, user in zip(groups, users, strict=True):
        body = {"schemas": [GROUP_SCHEMA], "displayName": "put-" + group[:8],
                "members": [{"value": user}, {"value": keep}]}
        requests.append(lambda c, u=user: c.delete(f"/Users/{u}"))
        requests.append(lambda c, g=group, b=body: c.put(f"/Groups/{g}", json=b))
    responses = race(tenant, requests)
    no_5xx(responses)
    for index, (group, user) in enumerate(zip(groups, users, strict=True)):
        put = responses[2 * index + 1]
        if put.status_code == 200:
            assert member_ids(tenant, group) == {keep}
        else:
            assert_refused_member(put, user)
            assert member_ids(tenant, group) == set()


def test_two_patches_of_one_group_add_and_remove(tenant: Tenant) -> None:
    """PATCH remove a and PATCH add b on one group (which holds a), 25 groups at once: every
    group ends as {b}, the only serial outcome; and add x / remove x ends with x or without it."""
    groups = []
    for _ in range(PAIRS):
        a, b = new_users(tenant, 2)
        groups.append((new_group(tenant, (a,))["id"], a, b))
    requests: list[Callable[[httpx.Client], httpx.Response]] = []
    for group, a, b in groups:
        requests.append(lambda c, g=group, m=a: c.patch(
            f"/Groups/{g}", json=patch({"op": "remove", "path": f'members[value eq "{m}"]'})))
        requests.append(lambda c, g=group, m=b: c.patch(f"/Groups/{g}", json=add_members(m)))
    responses = race(tenant, requests)
    assert {r.status_code for r in responses} == {204}
    for group, _a, b in groups:
        assert member_ids(tenant, group) == {b}


def test_group_put_racing_a_patch(tenant: Tenant) -> None:
    """PUT members [a] against PATCH add b: {a, b} (PUT first) or {a} (PATCH first), never {b}."""
    cases = []
    for _ in range(PAIRS):
        a, b = new_users(tenant, 2)
        group = new_group(tenant)
        cases.append((group["id"], group["displayName"], a, b))
    requests: list[Callable[[httpx.Client], httpx.Response]] = []
    for group, name, a, b in cases:
        body = {"schemas": [GROUP_SCHEMA], "displayName": name, "members": [{"value": a}]}
        requests.append(lambda c, g=group, x=body: c.put(f"/Groups/{g}", json=x))
        requests.append(lambda c, g=group, m=b: c.patch(f"/Groups/{g}", json=add_members(m)))
    responses = race(tenant, requests)
    assert {r.status_code for r in responses} == {200, 204}
    for group, _name, a, b in cases:
        assert member_ids(tenant, group) in ({a, b}, {a})


def test_user_name_swaps_are_409_never_500(tenant: Tenant) -> None:
    """Two PATCHes swapping two users' userNames (the PostgreSQL deadlock of issue 13): in any
    serial order both find the other name taken, so both are 409 uniqueness and nothing changes."""
    pairs = []
    for _ in range(PAIRS):
        first, second = (f"swap-{uuid.uuid4().hex[:10]}@example.com" for _ in range(2))
        pairs.append((tenant.create_user(first)["id"], first, tenant.create_user(second)["id"], second))
    requests: list[Callable[[httpx.Client], httpx.Response]] = []
    for one, one_name, two, two_name in pairs:
        requests.append(lambda c, u=one, n=two_name: c.patch(
            f"/Users/{u}", json=patch({"op": "replace", "path": "userName", "value": n})))
        requests.append(lambda c, u=two, n=one_name: c.patch(
            f"/Users/{u}", json=patch({"op": "replace", "path": "userName", "value": n})))
    responses = race(tenant, requests)
    assert {r.status_code for r in responses} == {409}, [r.text for r in responses if r.status_code != 409]
    for one, one_name, two, two_name in pairs:
        assert tenant.get(f"/Users/{one}").json()["userName"] == one_name
        assert tenant.get(f"/Users/{two}").json()["userName"] == two_name
    assert_log_clean(tenant.server)


def test_group_display_name_swaps_are_409_never_500(tenant: Tenant) -> None:
    """The same swap on group displayNames (unique per workspace): both 409, nothing changes."""
    pairs = [(new_group(tenant), new_group(tenant)) for _ in range(PAIRS)]
    requests: list[Callable[[httpx.Client], httpx.Response]] = []
    for one, two in pairs:
        requests.append(lambda c, g=one["id"], n=two["displayName"]: c.patch(
            f"/Groups/{g}", json=patch({"op": "replace", "path": "displayName", "value": n})))
        requests.append(lambda c, g=two["id"], n=one["displayName"]: c.patch(
            f"/Groups/{g}", json=patch({"op": "replace", "path": "displayName", "value": n})))
    responses = race(tenant, requests)
    assert {r.status_code for r in responses} == {409}
    for one, two in pairs:
        assert tenant.get(f"/Groups/{one['id']}").json()["displayName"] == one["displayName"]
        assert tenant.get(f"/Groups/{two['id']}").json()["displayName"] == two["displayName"]


def test_delete_racing_delete(tenant: Tenant) -> None:
    """Two DELETEs of one user (or group) who is in a group: one 204, one 404; the group is empty."""
    users = new_users(tenant, PAIRS)
    group = new_group(tenant, tuple(users))
    nested = [new_group(tenant)["id"] for _ in range(5)]
    assert tenant.patch(f"/Groups/{group['id']}", json=add_members(*nested)).status_code == 204
    paths = [f"/Users/{u}" for u in users] + [f"/Groups/{h}" for h in nested]
    responses = race(tenant, [lambda c, p=path: c.delete(p) for path in paths for _ in range(2)])
    for index in range(len(paths)):
        assert sorted(r.status_code for r in responses[2 * index:2 * index + 2]) == [204, 404]
    assert member_ids(tenant, group["id"]) == set()
