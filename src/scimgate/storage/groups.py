"""Group (SCIM Group) storage: the group row, and membership as ``group_member`` rows.

Contract: every function takes the workspace (or a group already loaded for it) and only ever
touches that workspace's rows. ``insert``/``save`` raise ``UniquenessException`` when the
displayName (case-insensitive) is taken, also under concurrent writers (the database's unique
index decides). ``load`` returns None for an id that is not the workspace's.

Concurrency (PostgreSQL; SQLite runs one writer at a time). The database makes a membership
row that names nothing impossible (models.GroupMember: foreign keys with ON DELETE CASCADE).
Writers take row locks in one order, groups before the users they contain, parent groups
before the groups they contain:

- a change of a group's row or membership locks the group ``FOR NO KEY UPDATE`` (``LOCK_WRITE``)
  and then every member it adds ``FOR KEY SHARE`` (``kinds_of``), which re-reads the member
  under the lock: a user or group deleted meanwhile is not found (400 invalidValue, nothing
  written), and one being deleted is waited for;
- a DELETE of a user or group first locks the groups that contain it (``lock_containing``),
  then the row itself ``FOR UPDATE`` (``LOCK_DELETE``), bumps the containing groups' versions
  (their ``members`` changed) and deletes; the cascade removes any membership row committed
  before the delete took its lock.

A cycle not ruled out by this order (e.g. three requests over one user and two groups) ends in
PostgreSQL's deadlock detection, and the request is run again (storage.db.run).

Membership is never loaded whole to change it: adds, removes and "replace the whole list" are
SQL statements whose parameters are the ids the request names, and whose cost does not depend
on the size of the group (ARCHITECTURE.md, "Rules"). Reading the whole membership (for a GET
that returns ``members``) streams the rows in batches of ``STREAM_BATCH``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from scimgate.scim.errors import InvalidValueException, UniquenessException
from scimgate.scim.serialize import StoredResource
from scimgate.storage import prepared
from scimgate.storage.models import LIVE_MEMBER, GroupMember, Member, ScimGroup, UTCDateTime, utcnow

STREAM_BATCH = 1000
ID_BATCH = 500  # ids per IN (...) list: well below SQLite's and PostgreSQL's parameter limits
NESTING_LOCK = 6  # advisory lock class of nested-group changes (PostgreSQL)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _apply_document(group: ScimGroup, document: dict[str, Any]) -> None:
    """Derived columns from the document; 400 ``invalidValue`` for a value longer than its
    indexed column (RFC 7644 §3.12), before PostgreSQL would refuse it with a database error."""
    group.document = document
    group.display_name = document["displayName"]
    group.display_name_lower = document["displayName"].lower()
    group.external_id = _text(document.get("externalId"))
    for column, label in (("display_name", "displayName"), ("external_id", "externalId")):
        value = getattr(group, column)
        limit = getattr(ScimGroup, column).type.length
        if value is not None and len(value) > limit:
            raise InvalidValueException(detail=f"'{label}' is longer than {limit} characters.")


def _flush_unique(session: Session, display_name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise UniquenessException(
            detail=f"A group with displayName {display_name!r} already exists in this workspace "
            "(displayName is unique, case-insensitive)."
        ) from exc


def _batches(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), ID_BATCH):
        yield list(ids[start:start + ID_BATCH])


def _among_ids(column: Any, postgresql: bool) -> ColumnElement[bool]:
    """``column`` is one of the bound list ``ids``: ``column = ANY(:ids)`` on PostgreSQL (one
    array parameter, so one statement text and one prepared plan for every list), an expanding
    ``IN (...)`` on SQLite."""
    if postgresql:
        return column == any_(bindparam("ids", type_=ARRAY(String)))  # type: ignore[no-any-return]
    return column.in_(bindparam("ids", expanding=True))  # type: ignore[no-any-return]


def stored(group: ScimGroup) -> StoredResource:
    """The protocol layer's view of a group row (``members`` is not in the document)."""
    return StoredResource(group.id, group.document, group.version, group.created, group.last_modified)


def insert_group(session: Session, workspace_id: str, document: dict[str, Any]) -> ScimGroup:
    """Create a group from a canonical document without ``members``; its id is a new UUID."""
    now = utcnow()
    group = ScimGroup(id=str(uuid.uuid4()), workspace_id=workspace_id, version=1, created=now,
                      last_modified=now)
    _apply_document(group, document)
    session.add(group)
    _flush_unique(session, group.display_name)
    return group


LOCK_WRITE = "write"
"""``load`` lock of a request that changes the group's row or membership (FOR NO KEY UPDATE)."""
LOCK_DELETE = "delete"
"""``load`` lock of a request that deletes the group (FOR UPDATE)."""

_LOAD = select(ScimGroup).where(ScimGroup.workspace_id == bindparam("workspace_id"),
                                ScimGroup.id == bindparam("group_id"))  # built once: every request runs it
_LOADS = {None: _LOAD, LOCK_WRITE: _LOAD.with_for_update(key_share=True),
          LOCK_DELETE: _LOAD.with_for_update()}


def load(session: Session, workspace_id: str, group_id: str, *, lock: str | None = None) -> ScimGroup | None:
    """The workspace's group ``group_id``; ``lock`` (``LOCK_WRITE``/``LOCK_DELETE``) locks the
    row until commit, which also serialises concurrent membership changes of that group. A
    ``FOR NO KEY UPDATE`` does not wait for requests that only add the group to another one
    (they hold ``FOR KEY SHARE``)."""
    parameters = {"workspace_id": workspace_id, "group_id": group_id}
    return prepared.load_one(session, ScimGroup, _LOAD_ROW, parameters, (group_id,),
                             elsewhere=_LOADS[lock])  # SQLite: on the driver's cursor


def save(session: Session, group: ScimGroup, document: dict[str, Any]) -> None:
    """Store a changed document: derived columns, version + 1, lastModified now."""
    _apply_document(group, document)
    group.version += 1
    group.last_modified = utcnow()
    _flush_unique(session, group.display_name)


_GROUP: Table = ScimGroup.__table__  # type: ignore[assignment]
_LOAD_ROW = select(*_GROUP.c).where(_GROUP.c.workspace_id == bindparam("workspace_id"),
                                    _GROUP.c.id == bindparam("group_id"))
_MEMBERSHIP_TABLE: Table = GroupMember.__table__  # type: ignore[assignment]
_TOUCH = (update(_GROUP).where(_GROUP.c.id == bindparam("b_id"))
          .values(version=bindparam("b_version"), last_modified=bindparam("b_now", type_=UTCDateTime())))


def touch(session: Session, group: ScimGroup) -> None:
    """A new version of the group (its membership changed): version + 1, lastModified now, as
    one Core UPDATE built once; ``group`` holds the new values as committed state (nothing left
    for the ORM to flush)."""
    version, now = group.version + 1, utcnow()
    prepared.execute(session, _TOUCH, {"b_id": group.id, "b_version": version, "b_now": now})
    set_committed_value(group, "version", version)
    set_committed_value(group, "last_modified", now)


def remove(session: Session, group: ScimGroup) -> None:
    """Delete a group; the database's cascades delete its membership rows and its own
    memberships in other groups. The members themselves stay (RFC 7644 §3.6 deletes the
    resource, not what it refers to)."""
    session.delete(group)
    session.flush()


def _containing(workspace_id: str, member_id: str) -> Any:
    """The ids of the workspace's groups that have ``member_id`` (a user or group) as a direct member."""
    return select(GroupMember.group_id).where(GroupMember.workspace_id == workspace_id,
                                              GroupMember.member_id == member_id)


def lock_containing(session: Session, workspace_id: str, member_id: str) -> list[str]:
    """Lock (FOR NO KEY UPDATE, in id order) the groups that contain ``member_id`` directly,
    before its own row is locked (the lock order of this module's docstring); their ids."""
    statement = (
        select(ScimGroup.id)
        .where(ScimGroup.workspace_id == workspace_id, ScimGroup.id.in_(_containing(workspace_id, member_id)))
        .order_by(ScimGroup.id)
        .with_for_update(key_share=True)
    )
    return list(session.scalars(statement))


def display_names(session: Session, workspace_id: str, group_ids: Sequence[str]) -> dict[str, str]:
    """The displayName of each of the workspace's groups ``group_ids`` (one IN query per batch)."""
    found: dict[str, str] = {}
    for batch in _batches(list(group_ids)):
        rows = session.execute(select(ScimGroup.id, ScimGroup.display_name)
                               .where(ScimGroup.workspace_id == workspace_id, ScimGroup.id.in_(batch)))
        found.update((str(group_id), str(name)) for group_id, name in rows)
    return found


_TOUCH_CONTAINING = (
    update(_GROUP)
    .where(_GROUP.c.workspace_id == bindparam("b_workspace_id"),
           _GROUP.c.id.in_(
               select(GroupMember.group_id).where(GroupMember.workspace_id == bindparam("b_workspace_id"),
                                                  GroupMember.member_id == bindparam("b_member_id"))))
    .values(version=_GROUP.c.version + 1, last_modified=bindparam("b_now", type_=UTCDateTime()))
)


def touch_containing(session: Session, workspace_id: str, member_id: str) -> int:
    """A new version (version + 1, lastModified now) of every group that contains ``member_id``
    directly: their ``members`` changed (a member deleted, or its ``display`` renamed). One
    UPDATE, a Core statement built once on the session's connection (the ORM's bulk UPDATE
    compiles its ORM state on every call: a quarter of a member PATCH's CPU); returns how many
    groups. Groups already in the session are not refreshed."""
    result = prepared.execute(session, _TOUCH_CONTAINING, {"b_workspace_id": workspace_id,
                                                           "b_member_id": member_id, "b_now": utcnow()})
    return result.rowcount


def query(
    session: Session,
    workspace_id: str,
    where: ColumnElement[bool] | None,
    order_by: Sequence[Any],
    offset: int,
    limit: int,
) -> tuple[int, list[ScimGroup]]:
    """(total matches, one page of groups): count and page share one WHERE (RFC 7644 §3.4.2.4)."""
    conditions = [ScimGroup.workspace_id == workspace_id]
    if where is not None:
        conditions.append(where)
    total = session.scalar(select(func.count()).select_from(ScimGroup).where(*conditions)) or 0
    if limit <= 0 or offset >= total:
        return total, []
    page = select(ScimGroup).where(*conditions).order_by(*order_by).offset(offset).limit(limit)
    rows = session.scalars(page)
    return total, list(rows)


def kinds_of(session: Session, workspace_id: str, ids: Sequence[str]) -> dict[str, str]:
    """For each of ``ids`` that is a member or a group of the workspace: ``"User"`` or ``"Group"``.

    Every row found is locked ``FOR KEY SHARE`` until commit (PostgreSQL), in id order: it
    cannot be deleted before the membership rows naming it are committed, and a row whose
    delete committed while this waited is not returned (read committed re-reads a locked row).
    Two primary-key lookups per batch of ``ID_BATCH`` ids.

    The lookup names the ids only, and the workspace is checked on the rows found: given the
    workspace too, PostgreSQL's planner picks the workspace's index whenever its statistics
    are behind (a workspace just provisioned in bulk, as Entra's first cycle does) and compares
    every row of the workspace with every id: 500 x 20,000 comparisons per batch, 8 s for a
    10,000-member PATCH (docs/benchmarks.md, "Member lists"). A row of another workspace named
    by a request is key-share locked for that request's few milliseconds and never returned.
    """
    found: dict[str, str] = {}
    connection = session.connection()
    unique = list(dict.fromkeys(ids))
    if len(unique) == 1 and connection.dialect.name == "sqlite":  # the usual PATCH: one member
        for kind, statement in _KINDS_OF_ONE:
            one = prepared.execute(session, statement, {"id": unique[0]}).rows
            found.update((row_id, kind) for row_id, owner in one if owner == workspace_id)
        return found
    statements = _KINDS_OF[connection.dialect.name == "postgresql"]
    for batch in _batches(unique):
        for kind, statement in statements:
            rows = connection.execute(statement, {"ids": batch})
            found.update((row_id, kind) for row_id, owner in rows if owner == workspace_id)
    return found


def _kinds_of(postgresql: bool | None) -> tuple[tuple[str, Any], ...]:
    """``kinds_of``'s two lookups, built once per database (``_among_ids``); for None, SQLite's
    lookups of one id (``id = :id``: no expanding IN, so on the driver's cursor)."""
    statements = []
    for kind, table in (("User", _MEMBER_TABLE), ("Group", _GROUP)):
        live = (LIVE_MEMBER,) if kind == "User" else ()  # Recently removed: not a User
        lookup = select(table.c.id, table.c.workspace_id)
        if postgresql is None:
            statements.append((kind, lookup.where(table.c.id == bindparam("id"), *live)))
        else:
            statements.append((kind, lookup.where(_among_ids(table.c.id, postgresql), *live)
                               .order_by(table.c.id).with_for_update(read=True, key_share=True)))
    return tuple(statements)


_MEMBER_TABLE: Table = Member.__table__  # type: ignore[assignment]
_KINDS_OF = {postgresql: _kinds_of(postgresql) for postgresql in (False, True)}
_KINDS_OF_ONE = _kinds_of(None)


def groups_containing(session: Session, workspace_id: str, member_id: str) -> list[str]:
    """The ids of the groups that have ``member_id`` as a direct member, in id order."""
    return list(session.scalars(_containing(workspace_id, member_id).order_by(GroupMember.group_id)))


def delete_memberships_of(session: Session, workspace_id: str, member_id: str) -> int:
    """Delete every membership row of ``member_id`` (a user leaving all its groups); how many."""
    result = session.execute(delete(GroupMember).where(GroupMember.workspace_id == workspace_id,
                                                       GroupMember.member_id == member_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


def existing_groups(session: Session, workspace_id: str, group_ids: Sequence[str]) -> list[str]:
    """Those of ``group_ids`` that are groups of the workspace, each locked (FOR NO KEY UPDATE,
    in id order) as a membership change locks its group."""
    found: list[str] = []
    for batch in _batches(sorted(set(group_ids))):
        found.extend(session.scalars(select(ScimGroup.id).where(
            ScimGroup.workspace_id == workspace_id, ScimGroup.id.in_(batch))
            .order_by(ScimGroup.id).with_for_update(key_share=True)))
    return found


def touch_groups(session: Session, group_ids: Sequence[str]) -> None:
    """A new version (version + 1, lastModified now) of each of ``group_ids``."""
    for batch in _batches(list(group_ids)):
        session.execute(update(ScimGroup).where(ScimGroup.id.in_(batch))
                        .values(version=ScimGroup.version + 1, last_modified=utcnow())
                        .execution_options(synchronize_session=False))


def lock_nesting(session: Session, workspace_id: str) -> None:
    """Serialise changes of nested-group membership within a workspace until commit.

    Two concurrent requests "A gets member B" and "B gets member A" would each pass the cycle
    check against the other's uncommitted state. On PostgreSQL a transaction-scoped advisory lock
    per workspace (class ``NESTING_LOCK``) orders them, so the second one's check sees the first
    one's row; SQLite already runs one writer at a time (``BEGIN IMMEDIATE``).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:lock_class AS integer), hashtext(:workspace_id))"),
            {"lock_class": NESTING_LOCK, "workspace_id": workspace_id},
        )


def reaches(session: Session, workspace_id: str, start_ids: Sequence[str], target_id: str) -> bool:
    """Whether ``target_id`` is one of the groups ``start_ids`` or nested anywhere inside them.

    One recursive CTE walks ``group_member`` rows of type Group downward (UNION, so it stops
    even on data that already has a cycle); used to reject a membership that would close a
    cycle. Runs the same on SQLite and PostgreSQL.
    """
    nested = (
        select(ScimGroup.id.label("id"))
        .where(ScimGroup.workspace_id == workspace_id, ScimGroup.id.in_(list(start_ids)))
        .cte("nested", recursive=True)
    )
    nested = nested.union(
        select(GroupMember.member_id).where(
            GroupMember.group_id == nested.c.id,
            GroupMember.member_type == "Group",
            GroupMember.workspace_id == workspace_id,
        )
    )
    return session.scalar(select(nested.c.id).where(nested.c.id == target_id).limit(1)) is not None


Removed = list[tuple[str, str]]  # (member id, "User" | "Group") of deleted membership rows


def delete_members(session: Session, group: ScimGroup, member_ids: Sequence[str]) -> Removed:
    """Delete the membership rows of ``member_ids`` (ids that are not members are no-ops);
    returns the (member id, type) of the rows that went (``DELETE ... RETURNING``)."""
    removed: Removed = []
    connection = session.connection()
    statement = _DELETE_MEMBERS[connection.dialect.name == "postgresql"]
    for batch in _batches(list(member_ids)):
        result = connection.execute(statement, {"group_id": group.id, "ids": batch})
        removed.extend((str(member_id), str(kind)) for member_id, kind in result)
    return removed


_DELETE_MEMBERS = {
    postgresql: delete(_MEMBERSHIP_TABLE)
    .where(_MEMBERSHIP_TABLE.c.group_id == bindparam("group_id"),
           _among_ids(_MEMBERSHIP_TABLE.c.member_id, postgresql))
    .returning(_MEMBERSHIP_TABLE.c.member_id, _MEMBERSHIP_TABLE.c.member_type)
    for postgresql in (False, True)
}


def delete_members_except(session: Session, group: ScimGroup, keep_ids: Sequence[str]) -> Removed:
    """Delete every membership row except those of ``keep_ids`` (empty: clear the group), in one
    statement (the diff of a full-list replace, RFC 7644 §3.5.2.3, done in SQL); returns the
    (member id, type) of the rows that went. ``keep_ids`` is bounded by the request body size."""
    condition = GroupMember.group_id == group.id
    if keep_ids:
        condition = and_(condition, GroupMember.member_id.not_in(list(keep_ids)))
    result = session.execute(delete(GroupMember).where(condition)
                             .returning(GroupMember.member_id, GroupMember.member_type))
    return [(str(member_id), str(kind)) for member_id, kind in result]


def insert_missing(session: Session, group: ScimGroup, members: Mapping[str, str]) -> dict[str, str]:
    """Add ``members`` (member id -> ``"User"``/``"Group"``) that are not members yet; adding an
    existing member is a no-op (RFC 7644 §3.5.2.1); returns the members inserted (id -> type).

    One bulk ``INSERT ... ON CONFLICT DO NOTHING RETURNING member_id, member_type``: the primary
    key decides which rows exist, so no lookup of the current members runs (PostgreSQL planned one, with the
    group's statistics behind after a bulk add, as a scan of the whole group per batch of ids)."""
    if not members:
        return {}
    connection = session.connection()
    rows = _rows(group.workspace_id, group.id, members)
    if len(rows) == 1 and connection.dialect.name == "sqlite":  # one member, on the driver's cursor
        inserted: Any = prepared.execute(session, _INSERT_ONE_MISSING, rows[0]).rows
    else:
        inserted = connection.execute(_INSERT_MISSING[connection.dialect.name], rows).all()
    return {str(member_id): str(kind) for member_id, kind in inserted}


_INSERT_MISSING = {
    name: dialect_insert(_MEMBERSHIP_TABLE).on_conflict_do_nothing(index_elements=["group_id", "member_id"])
    .returning(_MEMBERSHIP_TABLE.c.member_id, _MEMBERSHIP_TABLE.c.member_type)
    for name, dialect_insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}


_INSERT_ONE_MISSING = (
    sqlite_insert(_MEMBERSHIP_TABLE)
    .values({name: bindparam(name, type_=column.type) for name, column in _MEMBERSHIP_TABLE.c.items()})
    .on_conflict_do_nothing(index_elements=["group_id", "member_id"])
    .returning(_MEMBERSHIP_TABLE.c.member_id, _MEMBERSHIP_TABLE.c.member_type)
)


def _rows(workspace_id: str, group_id: str, members: Mapping[str, str]) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {"group_id": group_id, "member_id": member_id, "workspace_id": workspace_id,
         "member_type": kind, "created": now,
         "user_id": member_id if kind == "User" else None,
         "nested_group_id": member_id if kind == "Group" else None}
        for member_id, kind in members.items()
    ]


def insert_rows(session: Session, workspace_id: str, group_id: str, members: Mapping[str, str]) -> None:
    """Bulk INSERT of membership rows known not to exist yet (member id -> type)."""
    if not members:
        return
    table = GroupMember.metadata.tables[GroupMember.__tablename__]
    session.execute(insert(table), _rows(workspace_id, group_id, members))  # Core: no ORM per-row work


MemberRow = tuple[Any, ...]  # (group id, member id, "User" | "Group", display)


def members_of(session: Session, workspace_id: str, group_ids: Sequence[str]) -> Iterator[MemberRow]:
    """Every (group id, member id, ``"User"``/``"Group"``, display) of ``group_ids``, ordered by
    group then member id, streamed ``STREAM_BATCH`` rows at a time (a server-side cursor on
    PostgreSQL), so memory holds one batch of rows, not the whole membership.

    ``display`` is the user's displayName, else its userName; a nested group's displayName.
    """
    if not group_ids:
        return
    nested = aliased(ScimGroup)
    statement = (
        select(
            GroupMember.group_id,
            GroupMember.member_id,
            GroupMember.member_type,
            func.coalesce(Member.display_name, Member.user_name, nested.display_name),
        )
        .outerjoin(Member, and_(GroupMember.member_type == "User", Member.id == GroupMember.member_id))
        .outerjoin(nested, and_(GroupMember.member_type == "Group", nested.id == GroupMember.member_id))
        .where(GroupMember.workspace_id == workspace_id, GroupMember.group_id.in_(list(group_ids)))
        .order_by(GroupMember.group_id, GroupMember.member_id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    for row in session.execute(statement):
        yield tuple(row)

