"""A group of 100,000 members: one-member PATCHes and member-less GETs cost O(1) SQL.

ARCHITECTURE.md "Rules" (a PATCH of one group member does not load the group's membership) and
issue 6. The group is made once per module and backend by bulk INSERT through the storage layer;
each operation is a direct service call on a session whose engine counts executed statements
and the rows the database hands back (a ``before_cursor_execute`` listener plus a cursor wrapper
counting fetched rows). The counts are compared with the same operation on a 3-member group:
equal counts mean the cost does not grow with the membership.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from scimgate.services import groups, workspaces
from scimgate.services.resources import Projection
from scimgate.storage import groups as group_store
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, session_factory, transaction
from scimgate.storage.models import GroupMember, Member, Workspace, utcnow

BIG = 100_000
OUTBOX_STATEMENTS = 2  # the event counter upsert and the event INSERT (events.outbox, issue 15)
SMALL = 3
BASE_URL = "https://scim.example.test/api/scim/v2"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class _CountingCursor:
    """A DBAPI cursor that adds every row it returns to ``counter.rows``."""

    def __init__(self, cursor: Any, counter: SqlCounter):
        self._cursor = cursor
        self._counter = counter

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        self._counter.rows += row is not None
        return row

    def fetchmany(self, *args: Any) -> Any:
        rows = self._cursor.fetchmany(*args)
        self._counter.rows += len(rows)
        return rows

    def fetchall(self) -> Any:
        rows = self._cursor.fetchall()
        self._counter.rows += len(rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        for row in self._cursor:
            self._counter.rows += 1
            yield row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class SqlCounter:
    """Counts statements sent to ``engine`` and rows fetched back while ``active``."""

    def __init__(self, engine: Engine):
        self.statements = 0
        self.rows = 0
        self.sql: list[str] = []
        self.active = False
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if self.active:
            self.statements += 1
            self.sql.append(statement)

    def _after(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if self.active and context is not None:
            context.cursor = _CountingCursor(cursor, self)

    def measure(self, sessions: sessionmaker[Session], operation: Any) -> tuple[int, int]:
        """(statements, rows fetched) of ``operation(session)`` run in one transaction, commit included."""
        self.statements = self.rows = 0
        self.sql = []
        self.active = True
        try:
            with transaction(sessions) as session:
                operation(session)
        finally:
            self.active = False
        return self.statements, self.rows


@dataclass
class Scale:
    sessions: sessionmaker[Session]
    counter: SqlCounter
    workspace_id: str
    big_id: str
    small_id: str
    spare_ids: list[str]  # users that are in no group
    big_member_id: str


def _bulk_members(session: Session, workspace_id: str, count: int) -> list[str]:
    now = utcnow()
    ids = sorted(str(uuid.uuid4()) for _ in range(count))  # sorted: B-tree appends, not random inserts
    session.execute(
        insert(Member.metadata.tables[Member.__tablename__]),
        [
            {
                "id": member_id,
                "workspace_id": workspace_id,
                "user_name": f"u{n:06d}@example.com",
                "user_name_lower": f"u{n:06d}@example.com",
                "document": {"userName": f"u{n:06d}@example.com"},
                "active": True,
                "version": 1,
                "created": now,
                "last_modified": now,
            }
            for n, member_id in enumerate(ids)
        ],
    )
    return ids


@pytest.fixture(scope="module")
def scale(database_url: str) -> Iterator[Scale]:
    """A workspace with a 100,000-member group and a 3-member group (made once per backend)."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    started = time.perf_counter()
    with transaction(sessions) as session:
        workspace = workspaces.create_workspace(session, "scale-" + uuid.uuid4().hex[:8])
        ids = _bulk_members(session, workspace.id, BIG + SMALL + 4)
        big = group_store.insert_group(session, workspace.id, {"displayName": "Everyone"})
        small = group_store.insert_group(session, workspace.id, {"displayName": "Few"})
        group_store.insert_rows(session, workspace.id, big.id, dict.fromkeys(ids[:BIG], "User"))
        group_store.insert_rows(
            session, workspace.id, small.id, dict.fromkeys(ids[BIG : BIG + SMALL], "User")
        )
        state = Scale(
            sessions, SqlCounter(engine), workspace.id, big.id, small.id, ids[BIG + SMALL :], ids[0]
        )
    print(f"set-up of {BIG} members: {time.perf_counter() - started:.1f}s")
    yield state
    engine.dispose()


def _workspace(session: Session, scale: Scale) -> Workspace:
    workspace = session.get(Workspace, scale.workspace_id)
    assert workspace is not None
    return workspace


def _patch(scale: Scale, group_id: str, *operations: dict[str, Any]) -> tuple[int, int]:
    body = {"schemas": [PATCH_OP], "Operations": list(operations)}
    return scale.counter.measure(
        scale.sessions,
        lambda s: groups.patch_group(s, _workspace(s, scale), group_id, body, BASE_URL),
    )


def _is_member(scale: Scale, group_id: str, member_id: str) -> bool:
    with transaction(scale.sessions) as session:
        return session.get(GroupMember, (group_id, member_id)) is not None


def _size(scale: Scale, group_id: str) -> int:
    with transaction(scale.sessions) as session:
        return session.scalar(select(func.count()).where(GroupMember.group_id == group_id)) or 0


def test_add_one_member_costs_the_same_in_a_huge_group(scale: Scale) -> None:
    """PATCH add of one member: same statements and rows at 100,000 members as at 3 (RFC 7644 §3.5.2.1)."""
    add = {"op": "add", "path": "members", "value": [{"value": scale.spare_ids[0]}]}
    small = _patch(scale, scale.small_id, add)
    big = _patch(scale, scale.big_id, add)
    assert big == small
    assert big[0] <= 8 + OUTBOX_STATEMENTS and big[1] <= 6 + 1, big
    assert _is_member(scale, scale.big_id, scale.spare_ids[0])


def test_remove_one_member_costs_the_same_in_a_huge_group(scale: Scale) -> None:
    """PATCH remove ``members[value eq]``: same statements and rows at 100,000 as at 3 (RFC 7644 §3.5.2.2)."""
    _patch(scale, scale.small_id, {"op": "add", "path": "members", "value": [{"value": scale.spare_ids[2]}]})
    small = _patch(
        scale, scale.small_id, {"op": "remove", "path": f'members[value eq "{scale.spare_ids[2]}"]'}
    )
    big = _patch(scale, scale.big_id, {"op": "remove", "path": f'members[value eq "{scale.big_member_id}"]'})
    assert big == small
    assert big[0] <= 8 + OUTBOX_STATEMENTS and big[1] <= 6 + 1, big
    assert not _is_member(scale, scale.big_id, scale.big_member_id)


def test_entra_legacy_remove_and_rename_cost_the_same(scale: Scale) -> None:
    """Entra's ``Remove`` with a value list and Okta's rename echo stay O(1) (identity-providers.md §3,
    §7)."""
    for group_id, member in ((scale.small_id, scale.spare_ids[1]), (scale.big_id, scale.spare_ids[1])):
        _patch(scale, group_id, {"op": "add", "path": "members", "value": [{"value": member}]})
    ops = (
        {"op": "Remove", "path": "members", "value": [{"value": scale.spare_ids[1]}]},
        {"op": "replace", "value": {"displayName": "Renamed"}},
    )
    small = _patch(scale, scale.small_id, ops[0], {**ops[1], "value": {"displayName": "Few renamed"}})
    big = _patch(scale, scale.big_id, *ops)
    assert big == small


def test_get_excluding_members_never_reads_membership(scale: Scale) -> None:
    """GET excluding members (either projection): O(1) SQL, group_member never read (identity-providers.md
    §3)."""
    for projection in (Projection(excluded=("members",)), Projection(attributes=("displayName",))):
        measured = [
            scale.counter.measure(
                scale.sessions,
                lambda s, g=group_id, p=projection: groups.get_group(s, _workspace(s, scale), g, BASE_URL, p),
            )
            for group_id in (scale.small_id, scale.big_id)
        ]
        assert measured[0] == measured[1]
        assert measured[1][0] <= 3 and measured[1][1] <= 3, measured
        assert not any("group_member" in statement for statement in scale.counter.sql)


def test_get_with_members_returns_all_of_them(scale: Scale) -> None:
    """A GET that returns members returns every one of the 100,000+ (streamed; C15: nothing truncated)."""
    with transaction(scale.sessions) as session:
        written = groups.get_group(session, _workspace(session, scale), scale.big_id, BASE_URL)
    assert len(written.body["members"]) == _size(scale, scale.big_id)
