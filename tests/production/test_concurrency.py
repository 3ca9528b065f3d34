"""Four worker processes racing on one database: the database decides, nothing is lost, no 500 (issue 3 §3).

Each test releases all its requests at once (a thread barrier) against a 4-worker server, on
PostgreSQL and on SQLite (WAL + BEGIN IMMEDIATE + busy timeout, storage/db.py).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.support import LiveServer, Tenant, start_server, stop_server

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
# uvicorn kills a worker that misses its 5 s health ping; a loaded CI box can miss it (cli.serve uses 60 s).
HEALTHCHECK_ENV = {"UVICORN_TIMEOUT_WORKER_HEALTHCHECK": "60"}


@pytest.fixture(scope="module")
def live_server(
    database_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A 4-worker scimgate for this module."""
    started = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend, workers=4,
                           env=HEALTHCHECK_ENV)
    yield started
    stop_server(started)



def race(tenant: Tenant, requests: list[Callable[[httpx.Client], httpx.Response]]) -> list[httpx.Response]:
    """Run every request on its own connection, all released together; responses in order."""
    barrier = threading.Barrier(len(requests))

    def run(request: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        headers = dict(tenant.client.headers)
        with httpx.Client(base_url=tenant.server.base_url, headers=headers, timeout=60) as c:
            barrier.wait()
            return request(c)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(run, requests))


def statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


def user_body(user_name: str) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": user_name, "displayName": "Racer"}


def assert_log_clean(server: LiveServer) -> None:
    log = server.log_path.read_text(errors="replace")
    assert '"message": "request"' in log  # the workers' access lines do reach this file
    assert "database is locked" not in log
    assert "Traceback" not in log


def test_same_username_posted_50_times_creates_one(tenant: Tenant) -> None:
    """50 concurrent POSTs of one userName: one 201, 49 x 409 uniqueness (RFC 7644 §3.3)."""
    body = user_body("race@example.com")
    responses = race(tenant, [lambda c: c.post("/Users", json=body)] * 50)
    assert statuses(responses) == Counter({201: 1, 409: 49})
    assert {r.json()["scimType"] for r in responses if r.status_code == 409} == {"uniqueness"}
    listed = tenant.get("/Users", params={"filter": 'userName eq "race@example.com"'}).json()
    assert listed["totalResults"] == 1
    assert_log_clean(tenant.server)


def test_twenty_clients_add_different_members_to_one_group(tenant: Tenant) -> None:
    """20 concurrent PATCH adds of different members to one group: all 20 present (RFC 7644 §3.5.2.1)."""
    users = [tenant.create_user(f"member{i}@example.com")["id"] for i in range(20)]
    created = tenant.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Racing group"})
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]

    def add(user_id: str) -> Callable[[httpx.Client], httpx.Response]:
        operation = {"op": "add", "path": "members", "value": [{"value": user_id}]}
        body = {"schemas": [PATCH_OP], "Operations": [operation]}
        return lambda c: c.patch(f"/Groups/{group_id}", json=body)

    responses = race(tenant, [add(user_id) for user_id in users])
    assert set(statuses(responses)) <= {200, 204}, [r.text for r in responses if r.status_code >= 300]
    group = tenant.get(f"/Groups/{group_id}").json()
    assert {m["value"] for m in group.get("members", [])} == set(users)
    assert_log_clean(tenant.server)


def test_patches_with_same_if_match_one_wins(tenant: Tenant) -> None:
    """20 concurrent PATCHes with one If-Match: one 200, 19 x 412 (RFC 7644 §3.14; row locked FOR UPDATE)."""
    created = tenant.post("/Users", json=user_body("etag@example.com"))
    user_id, etag = created.json()["id"], created.headers["ETag"]

    def rename(i: int) -> Callable[[httpx.Client], httpx.Response]:
        operation = {"op": "replace", "path": "displayName", "value": f"Name {i}"}
        body = {"schemas": [PATCH_OP], "Operations": [operation]}
        return lambda c: c.patch(f"/Users/{user_id}", json=body, headers={"If-Match": etag})

    responses = race(tenant, [rename(i) for i in range(20)])
    assert statuses(responses) == Counter({200: 1, 412: 19})
    winner = next(r for r in responses if r.status_code == 200).json()["displayName"]
    current = tenant.get(f"/Users/{user_id}")
    assert current.json()["displayName"] == winner
    assert current.headers["ETag"] != etag
    assert_log_clean(tenant.server)


def test_delete_racing_patch_never_500(tenant: Tenant) -> None:
    """DELETE racing PATCHes of the same user: each answers 200/204/404, never 500; the user ends deleted."""
    user_ids = [tenant.create_user(f"doomed{i}@example.com")["id"] for i in range(5)]
    body = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    requests: list[Callable[[httpx.Client], httpx.Response]] = []
    for user_id in user_ids:
        requests.append(lambda c, u=user_id: c.delete(f"/Users/{u}"))
        requests.extend(lambda c, u=user_id: c.patch(f"/Users/{u}", json=body) for _ in range(3))
    responses = race(tenant, requests)
    assert set(statuses(responses)) <= {200, 204, 404}, [r.text for r in responses if r.status_code >= 500]
    assert statuses(responses)[204] == len(user_ids)
    for user_id in user_ids:
        assert tenant.get(f"/Users/{user_id}").status_code == 404
    assert_log_clean(tenant.server)

