"""A workspace of 20,000 members: every one-resource SCIM operation does the same database work
as in a workspace of a few (issue 9's flat cost in users, issue 14's lean request path).

Counting statements and fetched rows (as tests/storage/test_group_scale.py does for a group's
size) misses the fault of this kind that shipped: a GET by id whose statement SQLite planned as a
walk of the workspace's live members, testing each for the id (storage.planner). So each
operation is measured by the work the database itself does: on SQLite the virtual machine's
instructions (a progress handler called every ``STEP`` of them), on PostgreSQL the rows its
scans read for the statements sent (EXPLAIN ANALYZE, after ANALYZE). Both workspaces live in
one database; the small one is measured first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session, sessionmaker

from scimgate.scim.params import ListQuery
from scimgate.services import groups, members, workspaces
from scimgate.services.resources import Projection
from scimgate.storage import groups as group_store
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, session_factory, transaction
from scimgate.storage.models import Member, MemberEmail, Workspace, utcnow

BIG = 20_000
SMALL = 3
STEP = 1
"""SQLite instructions per progress-handler call."""
SLACK_STEPS = 500
"""Instructions a big workspace may add to an operation (deeper B-trees, a longer name):
a walk of its members costs tens of thousands per thousand members."""
SLACK_ROWS = 50
"""Rows PostgreSQL may read more for an operation in the big workspace."""
BASE_URL = "https://scim.example.test/api/scim/v2"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


@dataclass
class Tenant:
    workspace_id: str
    member_ids: list[str]
    group_id: str


@dataclass
class Scale:
    engine: Engine
    sessions: sessionmaker[Session]
    backend: str
    small: Tenant
    big: Tenant


def _bulk_members(session: Session, workspace_id: str, count: int) -> list[str]:
    now = utcnow()
    tag = workspace_id[:8]
    ids = sorted(str(uuid.uuid4()) for _ in range(count))
    rows = [{
        "id": member_id, "workspace_id": workspace_id, "user_name": f"u{n:06d}.{tag}@example.com",
        "user_name_lower": f"u{n:06d}.{tag}@example.com", "external_id": f"ext-{n:06d}-{tag}",
        "display_name": f"User {n}", "display_name_lower": f"user {n}",
        "document": {"schemas": [USER_SCHEMA], "userName": f"u{n:06d}.{tag}@example.com",
                     "externalId": f"ext-{n:06d}-{tag}", "displayName": f"User {n}", "active": True,
                     "emails": [{"value": f"u{n:06d}.{tag}@example.com", "primary": True}]},
        "active": True, "version": 1, "created": now, "last_modified": now,
    } for n, member_id in enumerate(ids)]
    session.execute(insert(Member.metadata.tables[Member.__tablename__]), rows)
    session.execute(insert(MemberEmail.metadata.tables[MemberEmail.__tablename__]), [
        {"workspace_id": workspace_id, "member_id": row["id"], "position": 0, "value": row["user_name"],
         "value_lower": row["user_name_lower"], "primary": True} for row in rows])
    return ids


def _tenant(session: Session, count: int) -> Tenant:
    workspace = workspaces.create_workspace(session, "scale-" + uuid.uuid4().hex[:8], allow_any_domain=True)
    workspaces.set_scim_sync(session, workspace, True)
    ids = _bulk_members(session, workspace.id, count)
    group = group_store.insert_group(session, workspace.id, {"displayName": "Staff"})
    group_store.insert_rows(session, workspace.id, group.id, dict.fromkeys(ids[:max(2, count // 2)], "User"))
    for n in range(min(count, 20)):  # other groups: the workspace's groups grow too
        group_store.insert_group(session, workspace.id, {"displayName": f"Team {n}"})
    return Tenant(workspace.id, ids, group.id)


@pytest.fixture(scope="module")
def scale(database_url: str, backend: str) -> Iterator[Scale]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        small, big = _tenant(session, SMALL), _tenant(session, BIG)
    if backend == "postgres":
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    yield Scale(engine, sessions, backend, small, big)
    engine.dispose()


class Work:
    """What the database did for one unit of work: SQLite instructions (in ``STEP``s) and the
    statements sent (with their parameters, for EXPLAIN)."""

    def __init__(self) -> None:
        self.steps = 0
        self.sent: list[tuple[str, Any]] = []

    def tick(self) -> int:
        self.steps += STEP
        return 0  # go on


def _measure(scale: Scale, tenant: Tenant, operation: Operation) -> Work:
    """``operation(session, workspace)`` in a transaction that is rolled back (the two tenants
    stay as made), and the database work it caused."""
    work = Work()

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        work.sent.append((statement, parameters))

    event.listen(scale.engine, "before_cursor_execute", grab)
    try:
        with scale.sessions() as session, session.begin():
            raw = session.connection().connection.dbapi_connection
            workspace = session.get(Workspace, tenant.workspace_id)
            assert workspace is not None
            work.sent.clear()
            if scale.backend == "sqlite":
                raw.set_progress_handler(work.tick, STEP)
            try:
                operation(session, workspace)
                session.flush()
            finally:
                if scale.backend == "sqlite":
                    raw.set_progress_handler(None, STEP)
            session.rollback()
    finally:
        event.remove(scale.engine, "before_cursor_execute", grab)
    return work


def _rows_read(scale: Scale, work: Work) -> int:
    """The rows PostgreSQL's scans read for ``work``'s statements, INSERTs aside: each one run
    again under ``EXPLAIN (ANALYZE, FORMAT JSON)`` in a transaction that is rolled back, summing
    over its scan nodes the rows they returned and those their filters removed, times loops."""

    def read(node: dict[str, Any]) -> int:
        own = 0
        if "Scan" in node["Node Type"]:
            own = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                   + node.get("Rows Removed by Index Recheck", 0)) * node.get("Actual Loops", 1)
        return own + sum(read(child) for child in node.get("Plans", []))

    total = 0
    with scale.engine.connect() as connection:
        for statement, parameters in work.sent:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
                continue
            with connection.begin() as transaction:
                plan = connection.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement,
                                                  parameters).scalar_one()
                transaction.rollback()
            total += read(plan[0]["Plan"])
    return total


def _compare(scale: Scale, make: Make) -> None:
    small, big = (_measure(scale, tenant, make(tenant)) for tenant in (scale.small, scale.big))
    assert len(big.sent) == len(small.sent), [s for s, _ in big.sent]
    if scale.backend == "sqlite":
        assert big.steps <= small.steps + SLACK_STEPS, (small.steps, big.steps, [s for s, _ in big.sent])
    else:
        small_rows, big_rows = _rows_read(scale, small), _rows_read(scale, big)
        assert big_rows <= small_rows + SLACK_ROWS, (small_rows, big_rows, [s for s, _ in big.sent])


def _user(n: int) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": f"new{n}.{uuid.uuid4().hex[:6]}@example.com",
            "externalId": f"new-{uuid.uuid4().hex}", "name": {"givenName": "New", "familyName": "User"},
            "emails": [{"value": f"new{n}@example.com", "primary": True}], "active": True}


def _patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


Operation = Callable[[Session, Workspace], Any]
Make = Callable[[Tenant], Operation]


def _lookup(attribute: str, value: Callable[[Tenant], str]) -> Make:
    def make(tenant: Tenant) -> Operation:
        query = ListQuery(filter=f'{attribute} eq "{value(tenant)}"')
        return lambda s, w: members.list_users(s, w, query, BASE_URL)
    return make


def _name(tenant: Tenant) -> str:
    return f"u{1:06d}.{tenant.workspace_id[:8]}@example.com"


def _get(n: int) -> Make:
    return lambda t: lambda s, w: members.get_user(s, w, t.member_ids[n], BASE_URL)


def _patch_user(n: int, path: str, value: Any) -> Make:
    body = _patch({"op": "replace", "path": path, "value": value})
    return lambda t: lambda s, w: members.patch_user(s, w, t.member_ids[n], body, BASE_URL)


def _patch_group(operation: Callable[[Tenant], dict[str, Any]]) -> Make:
    return lambda t: lambda s, w: groups.patch_group(s, w, t.group_id, _patch(operation(t)), BASE_URL)


NO_MEMBERS = ListQuery(excluded_attributes=("members",))
OPERATIONS: dict[str, Make] = {
    "GET /Users/{id}": _get(-1),
    "GET /Users/{id} of a group member": _get(0),
    "filter userName eq": _lookup("userName", _name),
    "filter id eq": _lookup("id", lambda t: t.member_ids[1]),
    "filter externalId eq": _lookup("externalId", lambda t: f"ext-{1:06d}-{t.workspace_id[:8]}"),
    "filter emails.value eq": _lookup("emails.value", _name),
    "filter userName eq, nobody": _lookup("userName", lambda t: "nobody@example.com"),
    "POST /Users": lambda t: lambda s, w: members.create_user(s, w, _user(1), BASE_URL),
    "PATCH /Users/{id} displayName": _patch_user(1, "displayName", "Renamed"),
    "PATCH /Users/{id} active false": _patch_user(0, "active", False),
    "PUT /Users/{id}": lambda t: lambda s, w: members.replace_user(
        s, w, t.member_ids[1], {**_user(2), "userName": _name(t)}, BASE_URL),
    "DELETE /Users/{id}": lambda t: lambda s, w: members.delete_user(
        s, w, t.member_ids[0], base_url=BASE_URL),
    "GET /Groups/{id}?excludedAttributes=members": lambda t: lambda s, w: groups.get_group(
        s, w, t.group_id, BASE_URL, Projection.of(NO_MEMBERS)),
    "filter displayName eq on Groups": lambda t: lambda s, w: groups.list_groups(
        s, w, ListQuery(filter='displayName eq "Team 1"', excluded_attributes=("members",)), BASE_URL),
    "PATCH /Groups/{id} add member": _patch_group(
        lambda t: {"op": "add", "path": "members", "value": [{"value": t.member_ids[-1]}]}),
    "PATCH /Groups/{id} remove member": _patch_group(
        lambda t: {"op": "remove", "path": f'members[value eq "{t.member_ids[0]}"]'}),
    "POST /Groups": lambda t: lambda s, w: groups.create_group(
        s, w, {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "New"}, BASE_URL),
}


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_an_operation_costs_the_same_in_a_big_workspace(scale: Scale, name: str) -> None:
    """The operation's statements, and the database's work on them, do not grow with the
    workspace's members (SQLite instructions within ``SLACK_STEPS``, PostgreSQL's rows read
    within ``SLACK_ROWS``)."""
    _compare(scale, OPERATIONS[name])


def test_the_measure_sees_a_walk_of_the_workspace(scale: Scale) -> None:
    """The measure can fail: a statement that tests every member of the workspace costs the
    big workspace far more than the small one."""
    def walk(tenant: Tenant) -> Operation:
        statement = text("SELECT count(*) FROM member WHERE workspace_id = :w AND display_name LIKE '%9%'")
        return lambda s, w: s.execute(statement, {"w": tenant.workspace_id}).scalar()
    with pytest.raises(AssertionError):
        _compare(scale, walk)
