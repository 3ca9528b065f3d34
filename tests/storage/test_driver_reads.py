"""storage.driver_reads: a prebuilt SELECT run on the driver's cursor reads back exactly what a
session reads (types converted by the same processors), sees each commit at once, keeps no
read transaction open, and refuses what it cannot run. Both databases: on SQLite the event
loop's one connection, on PostgreSQL an autocommit pool."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, update

from scimgate.scim.params import ListQuery
from scimgate.services import members, workspaces
from scimgate.storage import members as store
from scimgate.storage.db import make_engine, session_factory, snapshot, transaction
from scimgate.storage.driver_reads import DriverReads, Unsupported, driver_reads_for, fetch
from scimgate.storage.members import _GROUPS_OF, _LOAD_WITH_GROUPS
from scimgate.storage.models import Member, Workspace

BASE_URL = "https://scim.example.test/api/scim/v2"


@pytest.fixture
def reads(engine: Engine) -> Iterator[DriverReads]:
    found = driver_reads_for(engine)
    assert found is not None
    yield found
    found.close()


def _member(engine: Engine) -> tuple[str, str]:
    with transaction(session_factory(engine)) as session:
        workspace = workspaces.create_workspace(session, "Reads " + uuid.uuid4().hex, allow_any_domain=True)
        written = members.create_user(session, workspace, {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Ada@Example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"}, "displayName": "Ada ✓",
            "emails": [{"value": "ada@example.com", "primary": True}]}, BASE_URL)
        return workspace.id, written.body["id"]


def _workspace(engine: Engine, workspace_id: str) -> Workspace:
    with snapshot(session_factory(engine)) as session:
        found = session.get(Workspace, workspace_id)
        assert found is not None
        return found


def test_a_driver_read_reads_what_a_session_reads(engine: Engine, reads: DriverReads) -> None:
    workspace_id, member_id = _member(engine)
    parameters = {"workspace_id": workspace_id, "key": member_id}
    with snapshot(session_factory(engine)) as session:
        expected = [tuple(row) for row in fetch(session, _LOAD_WITH_GROUPS, parameters)]
        via_session = store.load_with_groups(session, workspace_id, member_id)
    got = fetch(reads, _LOAD_WITH_GROUPS, parameters)
    assert got == expected
    assert isinstance(got[0][1], dict) and got[0][1]["displayName"] == "Ada ✓"
    assert got[0][3].tzinfo is not None  # created: an aware datetime, as UTCDateTime reads it
    assert store.load_with_groups(reads, workspace_id, member_id) == via_session
    assert store.load_with_groups(reads, workspace_id, "no-such-id") is None


def test_a_driver_read_sees_each_commit_and_holds_no_transaction(engine: Engine, reads: DriverReads) -> None:
    """Autocommit: every read is its own read transaction, so a commit in between is seen, and
    nothing stays open after a read (a WAL checkpoint can complete)."""
    workspace_id, member_id = _member(engine)
    assert store.load_with_groups(reads, workspace_id, member_id) is not None
    with transaction(session_factory(engine)) as session:
        session.execute(update(Member).where(Member.id == member_id).values(version=Member.version + 7))
    found = store.load_with_groups(reads, workspace_id, member_id)
    assert found is not None and found[0].version == 8
    if reads.on_loop:
        assert not reads._connection.driver_connection.in_transaction
        database = engine.url.database
        assert database is not None
        checkpoint = sqlite3.connect(database).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert checkpoint[0] == 0  # not busy: no reader held the WAL
    else:  # the pool's connections are idle, in no transaction
        with reads._engine.connect() as connection:
            assert connection.connection.driver_connection.info.transaction_status.name == "IDLE"


def test_what_a_driver_read_cannot_run_asks_for_a_session(engine: Engine, reads: DriverReads) -> None:
    workspace_id, member_id = _member(engine)
    with pytest.raises(Unsupported):
        reads.rows(_GROUPS_OF, {"workspace_id": workspace_id, "member_ids": [member_id]})
    with pytest.raises(Unsupported):  # a list that is no unique lookup needs the general path
        members.list_users(reads, _workspace(engine, workspace_id), ListQuery(filter='displayName eq "Ada"'),
                           BASE_URL)


def test_driver_reads_run_where_they_can(engine: Engine, reads: DriverReads, backend: str) -> None:
    """On the loop for a SQLite file, in worker threads for PostgreSQL, nowhere for an in-memory
    SQLite database (another engine would open another, empty, one)."""
    assert reads.on_loop is (backend == "sqlite")
    assert driver_reads_for(make_engine("sqlite://")) is None


def test_a_postgresql_restart_costs_no_read(engine: Engine, reads: DriverReads, backend: str) -> None:
    """Every pooled connection closed by the server (a restart, a failover): the first read
    finds its connection dead, replaces the whole pool and answers; none fails."""
    if backend != "postgres":
        pytest.skip("SQLite's connection is a file's")
    workspace_id, member_id = _member(engine)
    held = [reads._engine.raw_connection() for _ in range(4)]  # the pool full of idle connections
    for connection in held:
        connection.close()
    database = engine.url.database
    admin = make_engine(engine.url.set(database="test").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            closed = connection.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %(name)s AND pid <> pg_backend_pid()", {"name": database}).scalar()
        assert closed and closed >= 4
        for _ in range(3):
            found = store.load_with_groups(reads, workspace_id, member_id)
            assert found is not None and found[0].id == member_id
    finally:
        admin.dispose()
