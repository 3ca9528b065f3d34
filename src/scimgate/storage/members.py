"""Member (SCIM User) storage: rows derived from the stored document, and indexed queries.

Contract: every function takes the workspace id and only ever touches that workspace's rows.
``insert``/``save`` raise ``UniquenessException`` when the userName (case-insensitive) is taken,
also under concurrent writers (the database's unique index decides), and
``InvalidValueException`` when an indexed value is longer than its column. ``load`` returns None for
an id that is not the workspace's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scimgate.scim.errors import InvalidValueException, UniquenessException
from scimgate.scim.serialize import StoredResource
from scimgate.storage.models import GroupMember, Member, MemberEmail, ScimGroup, utcnow


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _apply_document(member: Member, document: dict[str, Any]) -> None:
    name = document.get("name") or {}
    member.document = document
    member.user_name = document["userName"]
    member.user_name_lower = document["userName"].lower()
    member.external_id = _text(document.get("externalId"))
    member.display_name = _text(document.get("displayName"))
    member.display_name_lower = _lower(member.display_name)
    member.given_name = _text(name.get("givenName"))
    member.family_name = _text(name.get("familyName"))
    member.active = document.get("active", True) is not False
    _check_lengths(member, MEMBER_COLUMNS)


MEMBER_COLUMNS = {"user_name": "userName", "user_name_lower": "userName", "external_id": "externalId",
                  "display_name": "displayName", "display_name_lower": "displayName",
                  "given_name": "name.givenName", "family_name": "name.familyName"}
EMAIL_COLUMNS = {"value": "emails.value", "value_lower": "emails.value", "type": "emails.type"}


def _check_lengths(row: Member | MemberEmail, columns: dict[str, str]) -> None:
    """400 ``invalidValue`` for a value longer than its indexed column (RFC 7644 §3.12), before
    the database refuses it (PostgreSQL would fail the request with an error, not a SCIM answer)."""
    table = type(row).__table__
    for column, label in columns.items():
        value = getattr(row, column)
        limit = getattr(table.c[column].type, "length", None)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise InvalidValueException(detail=f"'{label}' is longer than {limit} characters.")


def _email_rows(member: Member, document: dict[str, Any]) -> list[MemberEmail]:
    rows = []
    for position, email in enumerate(document.get("emails") or []):
        value = email.get("value")
        if not isinstance(value, str):
            continue
        row = MemberEmail(
            workspace_id=member.workspace_id,
            member_id=member.id,
            position=position,
            value=value,
            value_lower=value.lower(),
            type=_text(email.get("type")),
            primary=email.get("primary") is True,
        )
        _check_lengths(row, EMAIL_COLUMNS)
        rows.append(row)
    return rows


def _flush_unique(session: Session, user_name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise UniquenessException(
            detail=f"A user with userName {user_name!r} already exists in this workspace "
            "(userName is unique, case-insensitive)."
        ) from exc


def stored(member: Member) -> StoredResource:
    """The protocol layer's view of a member row."""
    return StoredResource(member.id, member.document, member.version, member.created, member.last_modified)


def insert(session: Session, workspace_id: str, document: dict[str, Any]) -> Member:
    """Create a member from a canonical document; its id is a new random UUID."""
    now = utcnow()
    member = Member(id=str(uuid.uuid4()), workspace_id=workspace_id, version=1, created=now,
                    last_modified=now)
    _apply_document(member, document)
    session.add(member)
    _flush_unique(session, member.user_name)
    session.add_all(_email_rows(member, document))
    session.flush()
    return member


# Statements every SCIM request runs, built once with bound parameters (building one per call
# costs more than running it).
_LOAD = select(Member).where(Member.workspace_id == bindparam("workspace_id"),
                             Member.id == bindparam("member_id"), Member.removed_at.is_(None))
LOCK_WRITE = "write"
"""``load`` lock of a request that changes the member (FOR NO KEY UPDATE: it does not wait for
group changes adding the member, which hold FOR KEY SHARE; see storage.groups)."""
LOCK_DELETE = "delete"
"""``load`` lock of a request that deletes the member (FOR UPDATE)."""
_LOADS = {None: _LOAD, LOCK_WRITE: _LOAD.with_for_update(key_share=True),
          LOCK_DELETE: _LOAD.with_for_update()}
_GROUPS_OF = (
    select(GroupMember.member_id, ScimGroup.id, ScimGroup.display_name)
    .join(ScimGroup, ScimGroup.id == GroupMember.group_id)
    .where(GroupMember.workspace_id == bindparam("workspace_id"),
           GroupMember.member_id.in_(bindparam("member_ids", expanding=True)))
    .order_by(ScimGroup.display_name_lower, ScimGroup.id)
)


GROUPS_READ_WITH_MEMBER = 50
"""At most this many of a member's groups are read in its own statement by ``load_with_groups``."""
_LOAD_WITH_GROUPS = (
    select(Member.id, Member.document, Member.version, Member.created, Member.last_modified,
           ScimGroup.id, ScimGroup.display_name)
    .outerjoin(GroupMember, and_(GroupMember.workspace_id == Member.workspace_id,
                                 GroupMember.member_id == Member.id))
    .outerjoin(ScimGroup, ScimGroup.id == GroupMember.group_id)
    .where(Member.workspace_id == bindparam("workspace_id"), Member.id == bindparam("member_id"),
           Member.removed_at.is_(None))
    .order_by(ScimGroup.display_name_lower, ScimGroup.id)
    .limit(GROUPS_READ_WITH_MEMBER)
)


def load_with_groups(session: Session, workspace_id: str,
                     member_id: str) -> tuple[StoredResource, list[tuple[str, str]]] | None:
    """(the protocol layer's view of the workspace's member ``member_id``, its direct
    memberships as ``groups_of`` gives them), or None for an unknown member or one in Recently
    removed, for a read that changes nothing: one Core statement (no ORM object is built)
    instead of two for a member in fewer than ``GROUPS_READ_WITH_MEMBER`` groups. Each joined row
    repeats the member's columns, so the rows are bounded, and a member in more groups has them
    read by ``groups_of``."""
    rows = session.connection().execute(_LOAD_WITH_GROUPS, {"workspace_id": workspace_id,
                                                            "member_id": member_id}).all()
    if not rows:
        return None
    own = StoredResource(*rows[0][:5])
    if len(rows) >= GROUPS_READ_WITH_MEMBER:
        return own, groups_of(session, workspace_id, [member_id])[member_id]
    return own, [(group_id, display) for *_, group_id, display in rows if group_id is not None]


def load(session: Session, workspace_id: str, member_id: str, *, lock: str | None = None) -> Member | None:
    """The workspace's member ``member_id`` (None for one in Recently removed); ``lock``
    (``LOCK_WRITE``/``LOCK_DELETE``) locks the row until commit."""
    return session.scalar(_LOADS[lock], {"workspace_id": workspace_id, "member_id": member_id})


def save(session: Session, member: Member, document: dict[str, Any]) -> None:
    """Store a changed document: derived columns, email rows, version + 1, lastModified now.
    The uniqueness check (a savepoint around the flush) runs only when the userName changed, and
    the email rows are written again only when ``emails`` changed: the usual PATCH (a name,
    ``active``) is one UPDATE."""
    renamed = document["userName"].lower() != member.user_name_lower
    emails_changed = document.get("emails") != member.document.get("emails")
    _apply_document(member, document)
    member.version += 1
    member.last_modified = utcnow()
    if renamed:
        _flush_unique(session, member.user_name)
    if emails_changed:
        session.execute(delete(MemberEmail).where(MemberEmail.member_id == member.id))
        session.add_all(_email_rows(member, document))
    session.flush()


def remove(session: Session, member: Member) -> None:
    """Delete a member; the database's cascades delete its email rows, its memberships and
    what it owns."""
    session.delete(member)
    session.flush()


TOMBSTONE = "~removed~"
"""Prefix of ``user_name_lower`` while a member is in Recently removed: its userName is free for
a new member, and a restore takes it back (or answers 409 when it was taken meanwhile)."""


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


def find_removed(session: Session, workspace_id: str, user_name: str, external_id: str | None,
                 since: Any) -> Member | None:
    """The member in Recently removed (removed after ``since``) that a new SCIM POST of
    (``user_name``, ``external_id``) names: the same externalId; else the same userName (any
    case) when the two do not carry different externalIds. Latest removal first."""
    recent = [Member.workspace_id == workspace_id, Member.removed_at.is_not(None), Member.removed_at >= since]
    if external_id is not None:
        found = session.scalar(select(Member).where(*recent, Member.external_id == external_id)
                               .order_by(Member.removed_at.desc()).limit(1).with_for_update())
        if found is not None:
            return found
    same_name = func.lower(Member.user_name) == func.lower(bindparam("user_name", user_name))
    statement = select(Member).where(*recent, same_name)
    if external_id is not None:
        statement = statement.where(Member.external_id.is_(None))
    return session.scalar(statement.order_by(Member.removed_at.desc()).limit(1).with_for_update())


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
    conditions = [Member.workspace_id == workspace_id, Member.removed_at.is_(None)]
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
    """For each member id: the (group id, group displayName) of its direct memberships."""
    found: dict[str, list[tuple[str, str]]] = {member_id: [] for member_id in member_ids}
    if not member_ids:
        return found
    rows = session.execute(_GROUPS_OF, {"workspace_id": workspace_id, "member_ids": list(member_ids)})
    for member_id, group_id, display in rows:
        found[member_id].append((group_id, display))
    return found
