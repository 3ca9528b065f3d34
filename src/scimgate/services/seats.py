"""Seats: member states, their counts, and a workspace's optional seat limit (issue 16).

A member is *pending* (provisioned, never signed in: no single sign-on binding), *active*
(signed in at least once), *deactivated* (SCIM ``active`` false) or *removed* (in Recently
removed). A seat is held by every member that is neither deactivated nor removed. With a seat
limit, a SCIM create, reactivation or restore that would hold one seat more than the limit is
refused: 400 without a ``scimType`` (docs/decisions.md, "Seat limit": no RFC 7644 §3.12
keyword fits, and a 403 would read to Entra as a credential failure and quarantine the job).
The count and the write that takes the seat are serialised per workspace (an advisory lock on
PostgreSQL, SQLite's single writer), so racing creates cannot pass the limit together.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, exists, func, select, text
from sqlalchemy.orm import Session

from scimgate.scim.errors import ScimError
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.models import LIVE_MEMBER, Member, SsoBinding, Workspace

ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(CAST(:lock_class AS integer), hashtext(:workspace_id))")
SEATS_LOCK = 11
"""Advisory lock class of seat-taking changes (PostgreSQL)."""
MAX_SEAT_LIMIT = 1_000_000


class SeatLimitReached(ScimError):
    """400: the workspace's seat limit is reached (RFC 7644 §3.12 status 400, no scimType)."""

    status = 400
    _default_detail = "The workspace's seat limit is reached."


@dataclass(frozen=True)
class SeatCounts:
    """How many members are in each state, and the seat limit (None: no limit)."""

    pending: int
    active: int
    deactivated: int
    removed: int
    limit: int | None

    @property
    def seats(self) -> int:
        """Seats held: pending and active members."""
        return self.pending + self.active


STATES = ("pending", "active", "deactivated", "removed")
"""The member states, in the words every admin page uses (the seat counts, the members table,
a member's page, a group's members)."""


def _state() -> ColumnElement[str]:
    """The SQL expression of a member's state (one definition for the counts and each row)."""
    signed_in = exists().where(SsoBinding.member_id == Member.id)
    return case(
        (Member.removed_at.is_not(None), "removed"),
        (Member.active.is_(False), "deactivated"),
        (signed_in, "active"),
        else_="pending",
    )


def counts(session: Session, workspace: Workspace) -> SeatCounts:
    """The four state counts of the workspace's members, in one aggregate query."""
    state = _state()
    statement = select(state, func.count()).where(Member.workspace_id == workspace.id).group_by(state)
    found = session.execute(statement)
    rows: dict[str, int] = {str(name): int(count) for name, count in found}
    return SeatCounts(rows.get("pending", 0), rows.get("active", 0), rows.get("deactivated", 0),
                      rows.get("removed", 0), workspace.seat_limit)


def states_of(session: Session, workspace: Workspace, member_ids: list[str]) -> dict[str, str]:
    """member id -> its state (one of ``STATES``) for the given members of the workspace, in one
    query by primary key; ids of other workspaces are absent."""
    if not member_ids:
        return {}
    rows = session.execute(select(Member.id, _state())
                           .where(Member.workspace_id == workspace.id, Member.id.in_(member_ids)))
    return {str(member_id): str(state) for member_id, state in rows}


def take_seat(session: Session, workspace: Workspace) -> None:
    """Before a write that makes one more member hold a seat (create, reactivate, restore):
    with a seat limit, lock the workspace's seats until commit and raise SeatLimitReached when
    every seat is held. Without a limit: nothing (no statement)."""
    if workspace.seat_limit is None:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(ADVISORY_LOCK, {"lock_class": SEATS_LOCK, "workspace_id": workspace.id})
    held = session.scalar(select(func.count()).select_from(Member).where(
        Member.workspace_id == workspace.id, Member.active.is_(True), LIVE_MEMBER)) or 0
    if held >= workspace.seat_limit:
        raise SeatLimitReached(
            detail=f"Seat limit reached: this workspace allows {workspace.seat_limit} members and all seats "
            "are taken. Deactivate or remove a member, or ask the workspace admin to raise the seat limit."
        )


def set_seat_limit(session: Session, workspace: Workspace, limit: int | None) -> None:
    """Set (or with None remove) the workspace's seat limit; WorkspaceError outside 1..1,000,000.
    Members above a lowered limit keep their seats; only new ones are refused."""
    if limit is not None and not 1 <= limit <= MAX_SEAT_LIMIT:
        raise WorkspaceError(f"The seat limit must be a whole number from 1 to {MAX_SEAT_LIMIT}.")
    workspace.seat_limit = limit
