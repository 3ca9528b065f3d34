"""Member (SCIM User) storage: rows derived from the stored document, and indexed queries.

Contract: every function takes the workspace id and only ever touches that workspace's rows.
``insert``/``save`` raise ``UniquenessException`` when the userName (case-insensitive) is taken,
also under concurrent writers (the database's unique index decides), and
``InvalidValueException`` when an indexed value is longer than its column. ``load`` returns None for
an id that is not the workspace's.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy import insert as core_insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from scimgate.scim.errors import InvalidValueException, UniquenessException
from scimgate.scim.serialize import StoredResource
from scimgate.storage import prepared
from scimgate.storage.driver_reads import Reads, fetch, session_of
from scimgate.storage.models import LIVE_MEMBER, GroupMember, Member, MemberEmail, ScimGroup, utcnow


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


MEMBER_COLUMNS = {"user_name": "userName", "user_name_lower": "userName", "external_id": "externalId",
                  "display_name": "displayName", "display_name_lower": "displayName",
                  "given_name": "name.givenName", "family_name": "name.familyName"}
EMAIL_COLUMNS = {"value": "emails.value", "value_lower": "emails.value", "type": "emails.type"}


def _derived(document: dict[str, Any]) -> dict[str, Any]:
    """The member columns a stored document gives (the document itself, the indexed twins of its
    attributes, ``active``); 400 ``invalidValue`` for a value longer than its column."""
    name = document.get("name") or {}
    display_name = _text(document.get("displayName"))
    values = {
        "document": document,
        "user_name": document["userName"],
        "user_name_lower": document["userName"].lower(),
        "external_id": _text(document.get("externalId")),
        "display_name": display_name,
        "display_name_lower": _lower(display_name),
        "given_name": _text(name.get("givenName")),
        "family_name": _text(name.get("familyName")),
        "active": document.get("active", True) is not False,
    }
    _check_lengths(values, _MEMBER, MEMBER_COLUMNS)
    return values


def _check_lengths(values: dict[str, Any], table: Table, columns: dict[str, str]) -> None:
    """400 ``invalidValue`` for a value longer than its indexed column (RFC 7644 §3.12), before
    the database refuses it (PostgreSQL would fail the request with an error, not a SCIM answer)."""
    for column, label in columns.items():
        value = values.get(column)
        limit = getattr(table.c[column].type, "length", None)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise InvalidValueException(detail=f"'{label}' is longer than {limit} characters.")


def _email_rows(workspace_id: str, member_id: str, document: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``member_email`` rows of a document's ``emails``, in their order."""
    rows = []
    for position, email in enumerate(document.get("emails") or []):
        value = email.get("value")
        if not isinstance(value, str):
            continue
        row = {"workspace_id": workspace_id, "member_id": member_id, "position": position, "value": value,
               "value_lower": value.lower(), "type": _text(email.get("type")),
               "primary": email.get("primary") is True}
        _check_lengths(row, _EMAIL, EMAIL_COLUMNS)
        rows.append(row)
    return rows


def _taken(user_name: str) -> UniquenessException:
    return UniquenessException(
        detail=f"A user with userName {user_name!r} already exists in this workspace "
        "(userName is unique, case-insensitive)."
    )


def _flush_unique(session: Session, user_name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise _taken(user_name) from exc


def stored(member: Member) -> StoredResource:
    """The protocol layer's view of a member row."""
    return StoredResource(member.id, member.document, member.version, member.created, member.last_modified)


_MEMBER: Table = Member.__table__  # type: ignore[assignment]
_EMAIL: Table = MemberEmail.__table__  # type: ignore[assignment]
_UNIQUE_NAME = ["workspace_id", "user_name_lower"]
_INSERTED = {name: bindparam(name, type_=column.type) for name, column in _MEMBER.c.items()
             if name != "removed_groups"}  # every column ``insert`` sets (removed_groups: SQL NULL)
_INSERTS = {
    "postgresql": postgresql_insert(_MEMBER).values(_INSERTED)
    .on_conflict_do_nothing(index_elements=_UNIQUE_NAME).returning(_MEMBER.c.id),
    "sqlite": sqlite_insert(_MEMBER).values(_INSERTED)
    .on_conflict_do_nothing(index_elements=_UNIQUE_NAME).returning(_MEMBER.c.id),
}
_INSERT_EMAILS = core_insert(_EMAIL)
_DELETE_EMAILS = delete(_EMAIL).where(_EMAIL.c.member_id == bindparam("member_id"))
_ALWAYS_SAVED = ("document", "version", "last_modified")
_DERIVED = ("user_name", "user_name_lower", "external_id", "display_name", "display_name_lower", "given_name",
            "family_name", "active")


@functools.cache  # at most 2**8 sets, each compiled once (storage.prepared keeps it by statement)
def _save_statement(changed: tuple[str, ...]) -> Update:
    """The UPDATE of a member's document, version and lastModified and of the ``changed``
    derived columns only: SQLite rewrites the entry of every index on a column the SET names,
    changed or not, so naming all eight cost a displayName PATCH the pages of all nine member
    indexes in the WAL and its checkpoint (37-40 against 60-74 µs per UPDATE and commit).
    Built once per set of columns (a PATCH changes one or two): an evicted statement built again
    would be compiled and kept again by storage.prepared, whose cache is by statement."""
    return (update(_MEMBER)
            .where(_MEMBER.c.workspace_id == bindparam("b_workspace_id"), _MEMBER.c.id == bindparam("b_id"))
            .values({name: bindparam("v_" + name, type_=_MEMBER.c[name].type)
                     for name in (*_ALWAYS_SAVED, *changed)}))


def insert(session: Session, workspace_id: str, document: dict[str, Any]) -> Member:
    """Create a member from a canonical document; its id is a new random UUID. Core statements
    built once (the member row, ``INSERT ... ON CONFLICT DO NOTHING`` on the unique userName, so
    a taken one is a 409 without a savepoint; then its email rows); the returned Member is the
    session's persistent object of the new row, with nothing left to flush."""
    now = utcnow()
    values = _derived(document)
    values.update(id=str(uuid.uuid4()), workspace_id=workspace_id, version=1, created=now, last_modified=now,
                  role="member", idp_role=None, removed_at=None)
    if not prepared.execute(session, _INSERTS[session.get_bind().dialect.name], values).rows:
        raise _taken(values["user_name"])  # the row of the same userName (any case) was there first
    emails = _email_rows(workspace_id, values["id"], document)
    if emails:
        session.connection().execute(_INSERT_EMAILS, emails)
    member = Member(**values, removed_groups=None)  # SQL NULL in the row (not set), None here
    make_transient_to_detached(member)  # the row exists: the session takes it as loaded, not new
    session.add(member)
    return member


# Statements every SCIM request runs, built once with bound parameters (building one per call
# costs more than running it).
_LOAD = select(Member).where(Member.workspace_id == bindparam("workspace_id"),
                             Member.id == bindparam("member_id"), LIVE_MEMBER)
_LOAD_ROW = select(*_MEMBER.c).where(_MEMBER.c.workspace_id == bindparam("workspace_id"),
                                     _MEMBER.c.id == bindparam("member_id"), LIVE_MEMBER)
LOCK_WRITE = "write"
"""``load`` lock of a request that changes the member (FOR NO KEY UPDATE: it does not wait for
group changes adding the member, which hold FOR KEY SHARE; see storage.groups)."""
LOCK_DELETE = "delete"
"""``load`` lock of a request that deletes the member (FOR UPDATE)."""
_LOADS = {None: _LOAD, LOCK_WRITE: _LOAD.with_for_update(key_share=True),
          LOCK_DELETE: _LOAD.with_for_update()}
_MEMBERSHIPS = (
    select(GroupMember.member_id, ScimGroup.id, ScimGroup.display_name)
    .join(ScimGroup, ScimGroup.id == GroupMember.group_id)
    .where(GroupMember.workspace_id == bindparam("workspace_id"))
    .order_by(ScimGroup.display_name_lower, ScimGroup.id)
)
_GROUPS_OF = _MEMBERSHIPS.where(GroupMember.member_id.in_(bindparam("member_ids", expanding=True)))
_GROUPS_OF_ONE = _MEMBERSHIPS.where(GroupMember.member_id == bindparam("member_id"))  # no expanding IN


GROUPS_READ_WITH_MEMBER = 50
"""At most this many of a member's groups are read in its own statement by ``load_with_groups``."""
_WITH_GROUPS = (
    select(Member.id, Member.document, Member.version, Member.created, Member.last_modified,
           ScimGroup.id, ScimGroup.display_name)
    .outerjoin(GroupMember, and_(GroupMember.workspace_id == Member.workspace_id,
                                 GroupMember.member_id == Member.id))
    .outerjoin(ScimGroup, ScimGroup.id == GroupMember.group_id)
    # LIVE_MEMBER: with the join's ORDER BY and LIMIT, SQLite walked the index of the
    # workspace's live members (removed_at IS NULL) instead of the key's (storage.planner)
    .where(Member.workspace_id == bindparam("workspace_id"), LIVE_MEMBER)
    .order_by(ScimGroup.display_name_lower, ScimGroup.id)
    .limit(GROUPS_READ_WITH_MEMBER)
)
_LOAD_WITH_GROUPS = _WITH_GROUPS.where(Member.id == bindparam("key"))
_FIND_WITH_GROUPS = _WITH_GROUPS.where(Member.user_name_lower == bindparam("key"))


def load_with_groups(reads: Reads, workspace_id: str,
                     member_id: str) -> tuple[StoredResource, list[tuple[str, str]]] | None:
    """(the protocol layer's view of the workspace's member ``member_id``, its direct
    memberships as ``groups_of`` gives them), or None for an unknown member or one in Recently
    removed, for a read that changes nothing: one Core statement (no ORM object is built)
    instead of two for a member in fewer than ``GROUPS_READ_WITH_MEMBER`` groups. Each joined row
    repeats the member's columns, so the rows are bounded, and a member in more groups has them
    read by ``groups_of`` (which needs a session: through DriverReads, Unsupported)."""
    return _with_groups(reads, _LOAD_WITH_GROUPS, workspace_id, member_id)


def find_with_groups(reads: Reads, workspace_id: str,
                     user_name_lower: str) -> tuple[StoredResource, list[tuple[str, str]]] | None:
    """:func:`load_with_groups` of the member whose lower-cased userName is ``user_name_lower``
    (the unique index of ``filter userName eq``)."""
    return _with_groups(reads, _FIND_WITH_GROUPS, workspace_id, user_name_lower)


def _with_groups(reads: Reads, statement: Select[Any], workspace_id: str,
                 key: str) -> tuple[StoredResource, list[tuple[str, str]]] | None:
    rows = fetch(reads, statement, {"workspace_id": workspace_id, "key": key})
    if not rows:
        return None
    own = StoredResource(*rows[0][:5])
    if len(rows) >= GROUPS_READ_WITH_MEMBER:
        return own, groups_of(session_of(reads), workspace_id, [own.id])[own.id]
    return own, [(group_id, display) for *_, group_id, display in rows if group_id is not None]


def load(session: Session, workspace_id: str, member_id: str, *, lock: str | None = None) -> Member | None:
    """The workspace's member ``member_id`` (None for one in Recently removed); ``lock``
    (``LOCK_WRITE``/``LOCK_DELETE``) locks the row until commit. On SQLite the row is read on
    the driver's cursor (storage.prepared.load_one): the ORM's query cost a fifth of a PATCH."""
    parameters = {"workspace_id": workspace_id, "member_id": member_id}
    return prepared.load_one(session, Member, _LOAD_ROW, parameters, (member_id,), elsewhere=_LOADS[lock])


def save(session: Session, member: Member, document: dict[str, Any]) -> None:
    """Store a changed document: derived columns, email rows, version + 1, lastModified now.
    One Core UPDATE of the columns that changed (:func:`_save_statement`; the ORM's unit of work
    cost more than the statement); ``member`` holds the new values as committed state, so
    nothing is left to flush. The UPDATE runs in a
    savepoint (a taken userName is a 409, the transaction usable) only when the userName
    changed, and the email rows are written again only when ``emails`` changed: the usual PATCH
    (a name, ``active``) is one statement."""
    renamed = document["userName"].lower() != member.user_name_lower
    emails_changed = document.get("emails") != member.document.get("emails")
    derived = _derived(document)
    changed = tuple(name for name in _DERIVED if derived[name] != getattr(member, name))
    values = {"document": document, "version": member.version + 1, "last_modified": utcnow(),
              **{name: derived[name] for name in changed}}
    statement = _save_statement(changed)
    parameters = {"v_" + name: value for name, value in values.items()}
    parameters.update(b_workspace_id=member.workspace_id, b_id=member.id)
    if renamed:
        try:
            with session.begin_nested():
                session.connection().execute(statement, parameters)
        except IntegrityError as exc:
            raise _taken(values["user_name"]) from exc
    else:
        prepared.execute(session, statement, parameters)
    for name, value in values.items():
        set_committed_value(member, name, value)
    if emails_changed:
        connection = session.connection()
        connection.execute(_DELETE_EMAILS, {"member_id": member.id})
        emails = _email_rows(member.workspace_id, member.id, document)
        if emails:
            connection.execute(_INSERT_EMAILS, emails)


def remove(session: Session, member: Member) -> None:
    """Delete a member; the database's cascades delete its email rows, its memberships and
    what it owns."""
    session.delete(member)
    session.flush()


TOMBSTONE = "~REMOVED~"
"""Prefix of ``user_name_lower`` while a member is in Recently removed: its userName is free for
a new member, and a restore takes it back (or answers 409 when it was taken meanwhile). It holds
capitals, so no lower-cased userName can equal a tombstone (migration 0015)."""


def mark_removed(session: Session, member: Member, group_ids: list[str]) -> None:
    """Move a member to Recently removed: out of every SCIM read (``load``, ``query``), its
    userName freed, ``group_ids`` (the groups it was in) kept for a restore."""
    member.removed_at = utcnow()
    member.removed_groups = group_ids
    member.user_name_lower = TOMBSTONE + member.id
    session.flush()


def mark_restored(session: Session, member: Member) -> None:
    """Bring a removed member back under its own userName; UniquenessException when another
    member holds it now."""
    member.removed_at = None
    member.removed_groups = None
    member.user_name_lower = member.user_name.lower()
    member.version += 1
    member.last_modified = utcnow()
    _flush_unique(session, member.user_name)


def load_removed(session: Session, workspace_id: str, member_id: str, *, lock: bool = False) -> Member | None:
    """The workspace's member ``member_id`` if it is in Recently removed (locked FOR UPDATE
    with ``lock``), else None."""
    statement = select(Member).where(Member.workspace_id == workspace_id, Member.id == member_id,
                                     Member.removed_at.is_not(None))
    if lock:  # re-read under the lock, also when the row is already in the session
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return session.scalar(statement)


_RECENTLY_REMOVED = (_MEMBER.c.workspace_id == bindparam("workspace_id"), _MEMBER.c.removed_at.is_not(None),
                     _MEMBER.c.removed_at >= bindparam("since", type_=_MEMBER.c.removed_at.type))
_LATEST_REMOVED = (_MEMBER.c.removed_at.desc(),)
_REMOVED_BY_EXTERNAL_ID = (
    select(_MEMBER.c.id).where(*_RECENTLY_REMOVED, _MEMBER.c.external_id == bindparam("external_id"))
    .order_by(*_LATEST_REMOVED).limit(1).with_for_update()
)
_SAME_NAME = func.lower(_MEMBER.c.user_name) == bindparam("user_name_lower")  # storage.models.lower
_REMOVED_BY_NAME = {  # with an externalId posted, only a removed member without one matches by name
    False: select(_MEMBER.c.id).where(*_RECENTLY_REMOVED, _SAME_NAME)
    .order_by(*_LATEST_REMOVED).limit(1).with_for_update(),
    True: select(_MEMBER.c.id).where(*_RECENTLY_REMOVED, _SAME_NAME, _MEMBER.c.external_id.is_(None))
    .order_by(*_LATEST_REMOVED).limit(1).with_for_update(),
}


def find_removed(session: Session, workspace_id: str, user_name: str, external_id: str | None,
                 since: Any) -> Member | None:
    """The member in Recently removed (removed after ``since``) that a new SCIM POST of
    (``user_name``, ``external_id``) names: the same externalId; else the same userName (any
    case, folded as the userName's lower-cased twin is: storage.models.lower) when the two do not
    carry different externalIds. Latest removal first; the row is locked FOR UPDATE. Every POST
    asks, and almost always nothing is found: the lookups are Core statements built once, run on
    the driver's cursor (storage.prepared), and only a found row is read as a Member."""
    parameters = {"workspace_id": workspace_id, "since": since, "user_name_lower": user_name.lower(),
                  "external_id": external_id}
    rows: list[tuple[Any, ...]] = []
    if external_id is not None:
        rows = prepared.execute(session, _REMOVED_BY_EXTERNAL_ID, parameters).rows
    if not rows:
        rows = prepared.execute(session, _REMOVED_BY_NAME[external_id is not None], parameters).rows
    return load_removed(session, workspace_id, rows[0][0]) if rows else None


def removed_page(session: Session, workspace_id: str, offset: int, limit: int) -> tuple[int, list[Member]]:
    """(how many, one page) of the workspace's Recently removed, latest removal first."""
    conditions = [Member.workspace_id == workspace_id, Member.removed_at.is_not(None)]
    total = session.scalar(select(func.count()).select_from(Member).where(*conditions)) or 0
    rows = session.scalars(select(Member).where(*conditions).order_by(Member.removed_at.desc(), Member.id)
                           .offset(offset).limit(limit))
    return total, list(rows)


DEEP_OFFSET = 1000


def query(
    session: Session,
    workspace_id: str,
    where: ColumnElement[bool] | None,
    order_by: Sequence[Any],
    offset: int,
    limit: int,
) -> tuple[int, list[Member]]:
    """(total matches, one page of members): count and page share one WHERE (RFC 7644 §3.4.2.4).

    A deep page (offset >= ``DEEP_OFFSET``) selects its ids first (an index-only scan when an
    index gives the order) and only then reads those rows, instead of reading every skipped row;
    a shallow one is read directly, which leaves the database free to start from the filter's
    index (an ``eq`` lookup). A shallow page that holds fewer rows than ``limit`` (and at least
    one, or starts at the first match) is the last one, so the total is ``offset`` + its rows
    and the COUNT is not run (a ``userName eq`` lookup: one statement instead of two).
    """
    conditions = [Member.workspace_id == workspace_id, LIVE_MEMBER]
    if where is not None:
        conditions.append(where)
    if limit > 0 and offset < DEEP_OFFSET:
        shallow = select(Member).where(*conditions).order_by(*order_by).offset(offset).limit(limit)
        found = list(session.scalars(shallow))
        if 0 < len(found) < limit or (not found and offset == 0):
            return offset + len(found), found  # a page short of its limit ends the matches: no COUNT
        total = session.scalar(select(func.count()).select_from(Member).where(*conditions)) or 0
        return total, found if offset < total else []
    total = session.scalar(select(func.count()).select_from(Member).where(*conditions)) or 0
    if limit <= 0 or offset >= total:
        return total, []
    page = select(Member.id).where(*conditions).order_by(*order_by).offset(offset).limit(limit)
    page = page.correlate(None)  # the subquery stands alone: it must not bind to the outer "member"
    rows = session.scalars(select(Member).where(Member.id.in_(page.scalar_subquery())).order_by(*order_by))
    return total, list(rows)


def groups_of(session: Session, workspace_id: str,
              member_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """For each member id: the (group id, group displayName) of its direct memberships. A Core
    statement built once, on the session's connection (no autoflush: membership rows are only
    ever written by Core statements, and a member's own pending change does not touch them)."""
    found: dict[str, list[tuple[str, str]]] = {member_id: [] for member_id in member_ids}
    if not member_ids:
        return found
    if len(member_ids) == 1:  # a write's own member: a statement whose SQL never changes
        rows: Any = prepared.execute(session, _GROUPS_OF_ONE, {"workspace_id": workspace_id,
                                                               "member_id": member_ids[0]}).rows
    else:
        rows = session.connection().execute(_GROUPS_OF, {"workspace_id": workspace_id,
                                                         "member_ids": list(member_ids)})
    for member_id, group_id, display in rows:
        found[member_id].append((group_id, display))
    return found
