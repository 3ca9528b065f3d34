"""Reading the provisioning log (``audit_event``) for the admin pages, and its retention.

Events are written by services.audit, one per SCIM request. Here they are read newest first
with the admin's filters, and pruned after the workspace's ``audit_retention_days``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, func, or_, select
from sqlalchemy.orm import Session

from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.models import AuditEvent, Member, ScimGroup, Workspace, utcnow

CLIENTS = ("entra", "okta", "other")
RESOURCES = ("User", "Group")
MAX_RETENTION_DAYS = 3650
DEFAULT_RETENTION_DAYS = 30


@dataclass(frozen=True)
class LogFilter:
    """The provisioning log's filters: ``failures_only`` means status >= 400; ``since`` and
    ``until`` are aware UTC datetimes (``until`` exclusive); None/empty means no filter."""

    failures_only: bool = False
    resource_type: str | None = None
    client: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class LogPage:
    """One page of events, newest first, and the number of events matching the filter."""

    events: list[AuditEvent]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _conditions(workspace: Workspace, wanted: LogFilter) -> list[ColumnElement[bool]]:
    return _conditions_of(workspace.id, wanted)


def _conditions_of(workspace_id: str, wanted: LogFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [AuditEvent.workspace_id == workspace_id]
    if wanted.failures_only:
        conditions.append(AuditEvent.status >= 400)
    if wanted.resource_type:
        conditions.append(AuditEvent.resource_type == wanted.resource_type)
    if wanted.client:
        conditions.append(AuditEvent.client == wanted.client)
    if wanted.resource_id:
        conditions.append(AuditEvent.resource_id == wanted.resource_id)
    if wanted.since:
        conditions.append(AuditEvent.at >= wanted.since)
    if wanted.until:
        conditions.append(AuditEvent.at < wanted.until)
    return conditions


def list_events(session: Session, workspace: Workspace, wanted: LogFilter, page: int = 1,
                per_page: int = 50) -> LogPage:
    """Page ``page`` (1-based; below 1 is 1) of the workspace's events matching ``wanted``,
    newest first (ties by id, so paging is stable). Uses ix_audit_event_workspace_at."""
    page = max(page, 1)
    conditions = _conditions(workspace, wanted)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    events = session.scalars(
        select(AuditEvent).where(*conditions)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    )
    return LogPage(list(events), total, page, per_page)


def events_after(session: Session, workspace_id: str, wanted: LogFilter, after: tuple[datetime, int] | None,
                 limit: int) -> list[AuditEvent]:
    """Up to ``limit`` of the workspace's events matching ``wanted``, oldest first, that come
    after the keyset position ``after`` (``(at, id)`` of the last event already read; None from
    the start). Paging by keyset reads each page from ix_audit_event_workspace_at at the same
    cost wherever it starts, unlike OFFSET."""
    conditions = _conditions_of(workspace_id, wanted)
    if after is not None:
        at, event_id = after
        # (at, id) > (last at, last id); the redundant ``at >=`` bounds the index range scan
        conditions += [AuditEvent.at >= at, or_(AuditEvent.at > at, AuditEvent.id > event_id)]
    return list(session.scalars(
        select(AuditEvent).where(*conditions).order_by(AuditEvent.at, AuditEvent.id).limit(limit)
    ))


def resource_names(session: Session, workspace_id: str, events: Iterable[AuditEvent]) -> dict[str, str]:
    """The current name of each User and Group the events name by id (displayName, else
    userName), for the sentences of events that hold no change (reads and failures): two
    primary-key lookups for a page of events. Ids no longer there are absent."""
    user_ids = {e.resource_id for e in events if e.resource_type == "User" and e.resource_id}
    group_ids = {e.resource_id for e in events if e.resource_type == "Group" and e.resource_id}
    names: dict[str, str] = {}
    if user_ids:
        for member_id, display, user_name in session.execute(
            select(Member.id, Member.display_name, Member.user_name)
            .where(Member.workspace_id == workspace_id, Member.id.in_(user_ids))
        ):
            names[member_id] = display or user_name
    if group_ids:
        for group_id, display in session.execute(
            select(ScimGroup.id, ScimGroup.display_name)
            .where(ScimGroup.workspace_id == workspace_id, ScimGroup.id.in_(group_ids))
        ):
            names[group_id] = display
    return names


def set_retention(session: Session, workspace: Workspace, days: int) -> None:
    """Keep the workspace's events ``days`` days (1 to ``MAX_RETENTION_DAYS``); WorkspaceError otherwise."""
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise WorkspaceError(f"Retention must be between 1 and {MAX_RETENTION_DAYS} days.")
    workspace.audit_retention_days = days


def prune(session: Session, workspace: Workspace | None = None, now: datetime | None = None) -> int:
    """Delete the events older than their workspace's retention (of ``workspace`` only, or of
    every workspace); returns how many were deleted. Events without a workspace (401s before a
    token was known) are kept the default 30 days."""
    now = now or utcnow()
    targets = [workspace] if workspace is not None else list(session.scalars(select(Workspace)))
    deleted = 0
    for target in targets:
        cutoff = now - timedelta(days=target.audit_retention_days or DEFAULT_RETENTION_DAYS)
        deleted += _delete(session, AuditEvent.workspace_id == target.id, AuditEvent.at < cutoff)
    if workspace is None:
        orphans_cutoff = now - timedelta(days=DEFAULT_RETENTION_DAYS)
        deleted += _delete(session, AuditEvent.workspace_id.is_(None), AuditEvent.at < orphans_cutoff)
    return deleted


def _delete(session: Session, *conditions: ColumnElement[bool]) -> int:
    result = cast(CursorResult[Any], session.execute(delete(AuditEvent).where(*conditions)))
    return result.rowcount or 0
