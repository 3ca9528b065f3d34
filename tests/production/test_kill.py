"""kill -9 mid-stream: every acknowledged write survives, nothing half-written (SQLite and PostgreSQL).

Four clients create users and add each to a group as fast as they can; once enough writes are
acknowledged the server process is killed with SIGKILL (no shutdown, no flush). A new server on
the same database must then answer every user whose creation was answered 201 and every
membership whose PATCH was answered 204, every stored user must read without error, and the
group must be writable as read (no member pointing at nothing). Durability comes from the
database's commit (PostgreSQL's WAL; SQLite's WAL in ``synchronous=NORMAL``, which survives a
process kill, storage/db.py): scimgate answers only after the commit.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from scimgate.storage.models import Member
from tests.support import LiveServer, make_tenant, start_server, stop_server

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CLIENTS = 4
ACKNOWLEDGED_BEFORE_KILL = 40


@pytest.fixture
def server(database_url: str, backend: str, tmp_path: Path) -> Iterator[LiveServer]:
    started = start_server(database_url, tmp_path / "first.log", backend)
    yield started
    if started.process.poll() is None:
        stop_server(started)


def test_acknowledged_writes_survive_kill_9(server: LiveServer, tmp_path: Path) -> None:
    tenant = make_tenant(server)
    group = tenant.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Survivors"}).json()
    created: list[str] = []
    joined: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    headers = dict(tenant.client.headers)

    def provision(_: int) -> None:
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
            while True:
                name = f"k{uuid.uuid4().hex[:12]}@example.com"
                try:
                    answer = client.post("/Users", json={"schemas": [USER_SCHEMA], "userName": name})
                    if answer.status_code != 201:
                        assert answer.status_code < 500, answer.text
                        continue
                    user_id = answer.json()["id"]
                    with lock:
                        created.append(user_id)
                    add = {"schemas": [PATCH_OP], "Operations": [
                        {"op": "add", "path": "members", "value": [{"value": user_id}]}]}
                    if client.patch(f"/Groups/{group['id']}", json=add).status_code == 204:
                        with lock:
                            joined.append(user_id)
                            if len(joined) >= ACKNOWLEDGED_BEFORE_KILL:
                                enough.set()
                except httpx.TransportError:
                    return  # the server is gone

    with ThreadPoolExecutor(CLIENTS) as pool:
        running = [pool.submit(provision, n) for n in range(CLIENTS)]
        assert enough.wait(timeout=300), f"only {len(joined)} memberships acknowledged"
        server.process.kill()  # SIGKILL: no lifespan shutdown, no pool close, no flush
        server.process.wait()
        for future in running:
            future.result()
    server.sessions.kw["bind"].dispose()

    revived = start_server(server.database_url, tmp_path / "second.log", server.backend)
    try:
        with httpx.Client(base_url=revived.base_url, headers=headers, timeout=30) as client:
            for user_id in created:
                assert client.get(f"/Users/{user_id}").status_code == 200, user_id
            members = {m["value"] for m in client.get(f"/Groups/{group['id']}").json().get("members", [])}
            assert set(joined) <= members
            with revived.sessions() as session:
                stored = select(Member.id).where(Member.workspace_id == tenant.workspace_id)
                ids = set(session.scalars(stored))
            assert set(created) <= ids
            for user_id in ids:  # a write in flight at the kill is all there or not there at all
                assert client.get(f"/Users/{user_id}").status_code == 200, user_id
            read = client.get(f"/Groups/{group['id']}").json()
            same = {"schemas": [GROUP_SCHEMA], "displayName": "Survivors", "members": read.get("members", [])}
            put = client.put(f"/Groups/{group['id']}", json=same)
            assert put.status_code == 200, put.text
    finally:
        stop_server(revived)
        tenant.client.close()
