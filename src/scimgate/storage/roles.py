"""Role SQL: the role a member should have, as an expression the database evaluates; admin counts.

A member's role follows from its ``idp_role`` (what the SCIM ``roles`` attribute names), the
roles of the mapped groups it is a direct member of (``scim_group.role``), and the workspace's
``default_role`` and ``role_source`` (services.roles). ``role_expression`` evaluates that per
member row in SQL (a correlated subquery over ``group_member`` by its ``user_id`` index), the
same on SQLite and PostgreSQL, so a mapping change over a workspace never loads its members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select, text, update
from sqlalchemy.orm import Session

from scimgate.roles import RANK
from scimgate.storage.models import LIVE_MEMBER, GroupMember, Member, ScimGroup

ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(CAST(:lock_class AS integer), hashtext(:workspace_id))")
ROLES_LOCK = 10
"""Advisory lock class of changes that may remove a workspace's last admin (PostgreSQL)."""
ID_BATCH = 500


def _rank(column: Any) -> ColumnElement[int]:
    return case({role: rank for role, rank in RANK.items()}, value=column, else_=0)


def group_role() -> Any:
    """The highest role of the mapped groups the outer ``member`` row is a direct member of
    (NULL when none): a correlated scalar subquery."""
    return (
        select(ScimGroup.role)
        .join(GroupMember, GroupMember.group_id == ScimGroup.id)
        .where(GroupMember.user_id == Member.id, ScimGroup.role.is_not(None))
        .order_by(_rank(ScimGroup.role).desc())
        .limit(1)
        .correlate(Member)
        .scalar_subquery()
    )


def role_expression(default_role: str, source: str) -> ColumnElement[str]:
    """The role a member row should have: the winning source's role, else the other's, else
    ``default_role`` (``source`` is ``groups`` or ``roles``)."""
    by_group = group_role()
    first, second = (Member.idp_role, by_group) if source == "roles" else (by_group, Member.idp_role)
    return func.coalesce(first, second, literal(default_role))


def pending_changes(session: Session, workspace_id: str, default_role: str, source: str,
                    member_ids: Sequence[str] | None = None) -> list[tuple[str, str, str, bool]]:
    """(member id, current role, due role, active) of the workspace's members (not removed)
    whose role is not the one due; only ``member_ids`` when given."""
    due = role_expression(default_role, source)
    conditions = [Member.workspace_id == workspace_id, LIVE_MEMBER, Member.role != due]
    if member_ids is None:
        rows = session.execute(select(Member.id, Member.role, due, Member.active).where(*conditions))
        return [tuple(row) for row in rows]  # type: ignore[misc]
    found: list[tuple[str, str, str, bool]] = []
    ids = list(dict.fromkeys(member_ids))
    for start in range(0, len(ids), ID_BATCH):
        batch = ids[start:start + ID_BATCH]
        rows = session.execute(select(Member.id, Member.role, due, Member.active)
                               .where(*conditions, Member.id.in_(batch)))
        found.extend(tuple(row) for row in rows)  # type: ignore[misc]
    return found


def due_role(session: Session, member_id: str, default_role: str, source: str) -> str:
    """The role due to one member (one indexed statement)."""
    value = session.scalar(select(role_expression(default_role, source)).where(Member.id == member_id))
    return str(value or default_role)


def set_roles(session: Session, workspace_id: str, changes: Sequence[tuple[str, str]]) -> None:
    """Store (member id, role) pairs: one UPDATE per role and batch of ids."""
    by_role: dict[str, list[str]] = {}
    for member_id, role in changes:
        by_role.setdefault(role, []).append(member_id)
    for role, ids in by_role.items():
        for start in range(0, len(ids), ID_BATCH):
            session.execute(
                update(Member)
                .where(Member.workspace_id == workspace_id, Member.id.in_(ids[start:start + ID_BATCH]))
                .values(role=role)
                .execution_options(synchronize_session=False)
            )


def count_admins(session: Session, workspace_id: str) -> int:
    """Members with role ``admin`` that are active and not removed (index on workspace, role)."""
    return session.scalar(
        select(func.count()).select_from(Member).where(
            Member.workspace_id == workspace_id, Member.role == "admin", Member.active.is_(True),
            LIVE_MEMBER)
    ) or 0


def lock_roles(session: Session, workspace_id: str) -> None:
    """Serialise, until commit, the changes that may remove the workspace's last admin: a
    transaction-scoped advisory lock (class ``ROLES_LOCK``) on PostgreSQL, whose next statement
    then sees every such change committed before it (read committed); SQLite already runs one
    writer at a time."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(ADVISORY_LOCK, {"lock_class": ROLES_LOCK, "workspace_id": workspace_id})


def mapped_groups(session: Session, workspace_id: str) -> list[tuple[str, str, str]]:
    """(group id, displayName, role) of the workspace's mapped groups, by displayName."""
    rows = session.execute(
        select(ScimGroup.id, ScimGroup.display_name, ScimGroup.role)
        .where(ScimGroup.workspace_id == workspace_id, ScimGroup.role.is_not(None))
        .order_by(ScimGroup.display_name_lower)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def set_group_roles(session: Session, workspace_id: str, roles: dict[str, str]) -> set[str]:
    """Make ``roles`` (group id -> role) the workspace's whole mapping; returns the ids of the
    given groups that exist in the workspace."""
    session.execute(
        update(ScimGroup)
        .where(ScimGroup.workspace_id == workspace_id, ScimGroup.role.is_not(None))
        .values(role=None)
        .execution_options(synchronize_session=False)
    )
    found: set[str] = set()
    ids = list(roles)
    for start in range(0, len(ids), ID_BATCH):
        found.update(session.scalars(select(ScimGroup.id).where(
            ScimGroup.workspace_id == workspace_id, ScimGroup.id.in_(ids[start:start + ID_BATCH]))))
    by_role: dict[str, list[str]] = {}
    for group_id in found:
        by_role.setdefault(roles[group_id], []).append(group_id)
    for role, group_ids in by_role.items():
        session.execute(update(ScimGroup).where(ScimGroup.id.in_(group_ids)).values(role=role)
                        .execution_options(synchronize_session=False))
    return found


def live_member(session: Session, workspace_id: str, member_id: str) -> Member | None:
    """The workspace's member ``member_id`` unless it is in Recently removed."""
    return session.scalar(select(Member).where(Member.workspace_id == workspace_id, Member.id == member_id,
                                               LIVE_MEMBER))


def group_roles_of(session: Session, member_id: str) -> list[str]:
    """The roles of the mapped groups ``member_id`` is a direct member of, highest first."""
    rows = session.scalars(
        select(ScimGroup.role).join(GroupMember, GroupMember.group_id == ScimGroup.id)
        .where(GroupMember.user_id == member_id, ScimGroup.role.is_not(None))
    )
    return sorted({str(role) for role in rows}, key=lambda role: -RANK.get(role, 0))


def roles_of(session: Session, workspace_id: str, member_ids: Sequence[str]) -> dict[str, str]:
    """member id -> role, for one page of members."""
    if not member_ids:
        return {}
    rows = session.execute(select(Member.id, Member.role).where(Member.workspace_id == workspace_id,
                                                                 Member.id.in_(list(member_ids))))
    return {member_id: role for member_id, role in rows}


def groups_page(session: Session, workspace_id: str, limit: int) -> list[tuple[str, str, str | None]]:
    """(id, displayName, role) of the workspace's first ``limit`` groups by displayName."""
    rows = session.execute(select(ScimGroup.id, ScimGroup.display_name, ScimGroup.role)
                           .where(ScimGroup.workspace_id == workspace_id)
                           .order_by(ScimGroup.display_name_lower, ScimGroup.id).limit(limit))
    return [tuple(row) for row in rows]  # type: ignore[misc]
