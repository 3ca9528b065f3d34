"""SQLite writes on the event loop's own connection (http.execute.execute_write, storage.db.run_now):
a short write runs there only when it can take the write lock without waiting; one that finds
the database locked by a program outside the writer lock waits in a worker thread while the
server keeps answering; its failure is audited once; the loop's connection, which never
checkpoints at commit, has the WAL checkpointed for it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from scimgate.http.execute import CHECKPOINT_EVERY, is_short_write
from tests.support import Tenant, audit_events

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _rename(value: str) -> dict[str, object]:
    return {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": value}]}


def _database_file(tenant: Tenant) -> Path:
    if tenant.server.backend != "sqlite":
        pytest.skip("the event loop's writer is SQLite's")
    return Path(tenant.server.database_url.removeprefix("sqlite:///"))


def test_a_write_that_finds_the_database_locked_waits_in_a_thread_not_on_the_loop(tenant: Tenant) -> None:
    """Another program (here a plain sqlite3 connection, which knows nothing of the writer lock)
    holds SQLite's write lock: the PATCH cannot start on the loop, so it waits in a worker thread
    while GETs are answered; once the lock is released it commits, once."""
    database = _database_file(tenant)
    user = tenant.create_user("locked.out@example.com", displayName="Before")
    holder = sqlite3.connect(database, timeout=30, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    answer: list[httpx.Response] = []
    patch = threading.Thread(target=lambda: answer.append(
        tenant.patch(f"/Users/{user['id']}", json=_rename("After"), timeout=60)))
    try:
        patch.start()
        for _ in range(5):
            read = tenant.get(f"/Users/{user['id']}", timeout=10)
            assert read.status_code == 200 and read.json()["displayName"] == "Before"
            assert tenant.get("/Users", params={"filter": 'userName eq "locked.out@example.com"'},
                              timeout=10).status_code == 200
        assert not answer, "the PATCH was answered while the database was locked"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    patch.join(60)
    assert answer and answer[0].status_code == 200, answer and answer[0].text
    assert tenant.get(f"/Users/{user['id']}").json()["displayName"] == "After"


def test_a_failed_loop_write_is_audited_once(tenant: Tenant) -> None:
    tenant.create_user("twice@example.com")
    again = tenant.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                        "userName": "TWICE@example.com"},
                        headers={"X-Request-Id": "loop-write-409"})
    assert again.status_code == 409, again.text
    rows = [row for row in audit_events(tenant.server, tenant.workspace_id, 2)
            if row.request_id == "loop-write-409"]
    assert [(row.status, row.scim_type) for row in rows] == [(409, "uniqueness")]


def test_the_wal_is_checkpointed_for_the_loops_writes(tenant: Tenant) -> None:
    """Without checkpoints the WAL grows by every write's pages; with one every
    ``CHECKPOINT_EVERY`` writes it is reused from its start, so after four times as many writes
    it holds far fewer than all of them."""
    database = _database_file(tenant)
    wal = Path(str(database) + "-wal")
    user = tenant.create_user("busy.writer@example.com")
    with sqlite3.connect(database) as probe:  # start from a checkpointed WAL
        probe.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for n in range(CHECKPOINT_EVERY // 4):
        assert tenant.patch(f"/Users/{user['id']}", json=_rename(f"Name {n}")).status_code == 200
    per_write = wal.stat().st_size / (CHECKPOINT_EVERY // 4)
    for n in range(CHECKPOINT_EVERY * 2):
        assert tenant.patch(f"/Users/{user['id']}", json=_rename(f"Later {n}")).status_code == 200
    assert wal.stat().st_size < per_write * CHECKPOINT_EVERY * 1.5


@pytest.mark.parametrize(("operations", "short"), [
    ([{"op": "add", "path": "members", "value": [{"value": "a"}]}], True),
    ([{"op": "remove", "path": 'members[value eq "a"]'}], True),
    ([{"op": "replace", "path": "displayName", "value": "x"}], True),
    ([{"op": "remove", "path": "members"}], False),
    ([{"op": "Replace", "path": " Members ", "value": []}], False),
    ([{"op": "replace", "value": {"members": []}}], False),
    ([{"OP": "remove ", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members"}], False),
    ([{"op": "replace", "path": " ", "value": {"members": []}}], False),
    ([{"op": "remove", "path": "members.value"}], False),
    ([{"op": "add", "path": "displayName", "value": "x"}, {"op": "remove", "path": "Members"}], False),
])
def test_a_group_patch_is_short_unless_it_may_drop_every_member(operations: list[object],
                                                                short: bool) -> None:
    for key in ("Operations", "operations"):  # the engine reads the key in any case
        document = {"schemas": [PATCH_OP], key: operations}
        assert is_short_write(b"{}", document, group_patch=True) is short
    assert is_short_write(b"x" * (17 * 1024), document) is False
