"""Leaving and coming back: the deletion policy, Recently removed, restore, transfer, purge.

A workspace's ``deletion_policy`` decides what a SCIM DELETE (RFC 7644 §3.6) does:

- ``keep`` (the default): the member leaves the SCIM view at once (``GET /Users/{id}`` answers
  404, it is in no list, filter or group, its userName is free) but its row, what it owns
  (chats, agents) and the ids of the groups it was in are kept in Recently removed for the
  workspace's ``removal_keep_days`` (30 by default); ``scimgate retention run`` purges it after;
- ``purge``: the member and what it owns are deleted at once.

``active`` false never deletes anything (services.members). A removed member comes back:

- by an admin's restore (admin page or API): same SCIM id, everything it owned, and its
  memberships of the groups that still exist;
- by the identity provider posting the same person again within the window (same
  externalId, or same userName when the two do not carry different externalIds): restored
  automatically under its SCIM id with the posted document, answered 201; its old group
  memberships are not restored, the identity provider pushes the ones it means (docs/roles.md).

An admin may instead hand a leaver's chats and agents to another member (``transfer``).
An admin's restore and transfer, and the retention purge, are provisioning-log rows that name
who acted (:func:`admin_record`, services.audit_sentence); restore emits ``member.restored``
(services.members.restore_removed) and transfer ``member.data_transferred``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from scimgate.events import catalogue, outbox
from scimgate.roles import role_of_attribute
from scimgate.services import audit, changes, roles, seats, sessions
from scimgate.services.owned import UnknownMember, owned_counts
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage import groups as group_store
from scimgate.storage import members as store
from scimgate.storage.db import transaction
from scimgate.storage.models import LIVE_MEMBER, Agent, Chat, Member, Workspace, utcnow

log = logging.getLogger("scimgate.leaving")

POLICIES = ("keep", "purge")
MAX_KEEP_DAYS = 3650
PURGE_BATCH = 200


def remove(session: Session, workspace: Workspace, member: Member) -> None:
    """SCIM DELETE of a locked, live ``member`` under the workspace's policy (see the module
    docstring). Its sessions end either way; the groups it was in get a new version. Runs the
    last-admin guard (roles.LastAdminRefused)."""
    was_admin = roles.is_admin(member)
    group_store.touch_containing(session, workspace.id, member.id)
    sessions.revoke_subject_sessions(session, workspace_id=workspace.id, subject_kind="member",
                                     subject_id=member.id)
    if workspace.deletion_policy == "purge":
        store.remove(session, member)
    else:
        group_ids = group_store.groups_containing(session, workspace.id, member.id)
        group_store.delete_memberships_of(session, workspace.id, member.id)
        store.mark_removed(session, member, group_ids)
    roles.guard_last_admin(session, workspace.id, was_admin)


def restore_window_start(workspace: Workspace, now: datetime | None = None) -> datetime:
    """The earliest removal time still in the workspace's window."""
    return (now or utcnow()) - timedelta(days=workspace.removal_keep_days)


def find_returning(session: Session, workspace: Workspace, document: dict[str, Any]) -> Member | None:
    """The removed member a SCIM POST of ``document`` brings back (module docstring), locked."""
    external_id = document.get("externalId") if isinstance(document.get("externalId"), str) else None
    return store.find_removed(session, workspace.id, document["userName"], external_id,
                              restore_window_start(workspace))


def restore(session: Session, workspace: Workspace, member_id: str, *,
            with_groups: bool) -> tuple[Member, list[str]]:
    """Bring member ``member_id`` back from Recently removed under its SCIM id: it takes a seat
    (seats.SeatLimitReached) and its userName back (UniquenessException when another member
    holds it now); with ``with_groups`` it rejoins the groups of ``removed_groups`` that still
    exist (each gets a new version). Its role is brought up to date. Locks the groups before the
    member (the lock order of storage.groups). Returns the member and the rejoined group ids;
    UnknownMember for an id not in Recently removed."""
    group_ids = list(get_removed(session, workspace, member_id).removed_groups or []) if with_groups else []
    rejoined = group_store.existing_groups(session, workspace.id, group_ids) if group_ids else []
    member = get_removed(session, workspace, member_id, lock=True)
    if member.active:
        seats.take_seat(session, workspace)
    store.mark_restored(session, member)
    for group_id in rejoined:
        group_store.insert_rows(session, workspace.id, group_id, {member.id: "User"})
    group_store.touch_groups(session, rejoined)
    _fresh_role(session, workspace, member)
    return member, rejoined


def restore_by_post(session: Session, workspace: Workspace, member: Member, document: dict[str, Any]) -> None:
    """The identity provider posted the removed ``member`` again: it comes back under its SCIM
    id with ``document`` (seat and userName rules of :func:`restore`), without its old groups."""
    if document.get("active") is not False:
        seats.take_seat(session, workspace)
    store.mark_restored(session, member)
    store.save(session, member, document)
    _fresh_role(session, workspace, member)
    log.info("removed member restored by the identity provider",
             extra={"workspace_id": workspace.id, "member_id": member.id})


def _fresh_role(session: Session, workspace: Workspace, member: Member) -> None:
    """A restored member's role, from its sources now: it starts from the lowest role, so that
    a removed admin coming back is never counted as an admin lost."""
    member.idp_role = role_of_attribute(member.document.get("roles"))
    member.role = "member"
    session.flush()
    for change in roles.recompute(session, workspace, [member.id]):
        member.role = change.new  # stored by SQL already: keep the loaded row in step


@dataclass(frozen=True)
class Removed:
    """One member of Recently removed: the row, what it owns, when it will be purged."""

    member: Member
    chats: int
    agents: int
    purge_after: datetime


def list_removed(session: Session, workspace: Workspace, offset: int = 0,
                 limit: int = 25) -> tuple[int, list[Removed]]:
    """(how many, one page) of Recently removed, latest removal first, with owned counts."""
    total, rows = store.removed_page(session, workspace.id, offset, limit)
    owned = owned_counts(session, workspace, [m.id for m in rows])
    keep = timedelta(days=workspace.removal_keep_days)
    return total, [Removed(m, owned[m.id].chats, owned[m.id].agents, m.removed_at + keep)
                   for m in rows if m.removed_at]


def get_removed(session: Session, workspace: Workspace, member_id: str, *, lock: bool = False) -> Member:
    """A member of Recently removed; UnknownMember for any other id."""
    member = store.load_removed(session, workspace.id, member_id, lock=lock)
    if member is None:
        raise UnknownMember(f"No member {member_id} in Recently removed.")
    return member


def set_policy(session: Session, workspace: Workspace, policy: str, keep_days: int) -> None:
    """Set the deletion policy (``keep``/``purge``) and the days Recently removed keeps a
    member (1..3650); WorkspaceError otherwise."""
    if policy not in POLICIES:
        raise WorkspaceError("The deletion policy must be 'keep' or 'purge'.")
    if not 1 <= keep_days <= MAX_KEEP_DAYS:
        raise WorkspaceError(f"Recently removed keeps members from 1 to {MAX_KEEP_DAYS} days.")
    workspace.deletion_policy, workspace.removal_keep_days = policy, keep_days


def admin_record(session: Session, workspace_id: str, member: Member, change: dict[str, Any],
                 client: str = "admin") -> None:
    """A provisioning-log row for an action on ``member`` that no SCIM request made: an admin's
    restore or transfer, the retention purge. ``change`` is what services.audit_sentence reads
    (``kind`` ``restored``/``transferred``/``purged``, ``display`` the member's name, ``by`` who
    acted); the row has no HTTP method or path (none was sent) and ``client`` is ``admin`` or
    ``retention``."""
    record = audit.AuditRecord(request_id=uuid.uuid4().hex, method="", path="", client=client[:16],
                               workspace_id=workspace_id, resource_type="User", resource_id=member.id)
    changes.note(session, {**change, "display": changes.user_display(member.document)})
    audit.record(session, record, 200, 0.0)


def user_names(session: Session, workspace: Workspace, member_ids: list[str]) -> dict[str, str]:
    """userName of each of ``member_ids`` (a bounded page of ids)."""
    if not member_ids:
        return {}
    rows = session.execute(select(Member.id, Member.user_name).where(Member.workspace_id == workspace.id,
                                                                      Member.id.in_(member_ids)))
    return {member_id: name for member_id, name in rows}


def find_recipient(session: Session, workspace: Workspace, text_: str) -> str:
    """The SCIM id of the live member named by ``text_`` (its SCIM id or its userName, any
    case); UnknownMember otherwise."""
    wanted = text_.strip()
    found = session.scalar(select(Member.id).where(
        Member.workspace_id == workspace.id, LIVE_MEMBER,
        (Member.id == wanted) | (Member.user_name_lower == wanted.lower())).limit(1))
    if found is None:
        raise UnknownMember(f"No member {wanted!r} in this workspace to hand them to.")
    return str(found)


@dataclass(frozen=True)
class Transferred:
    """What a transfer moved."""

    from_id: str
    to_id: str
    chats: int
    agents: int


def transfer(session: Session, workspace: Workspace, from_id: str, to_id: str, by: str) -> Transferred:
    """Hand every chat and agent of member ``from_id`` (live or in Recently removed) to the
    live member ``to_id``, in two UPDATEs; recorded in the provisioning log as done by ``by``
    (the admin's email or key) and emitted as ``member.data_transferred``. UnknownMember for
    an id that is not the workspace's (``to_id`` also when removed), WorkspaceError when they are
    the same member."""
    if from_id == to_id:
        raise WorkspaceError("Choose another member to hand the chats and agents to.")
    source = session.scalar(select(Member).where(Member.workspace_id == workspace.id, Member.id == from_id)
                            .with_for_update())
    if source is None:
        raise UnknownMember(f"No member {from_id} in this workspace.")
    target = store.load(session, workspace.id, to_id, lock=store.LOCK_WRITE)
    if target is None:
        raise UnknownMember(f"No member {to_id} in this workspace to hand them to.")
    moved = []
    for table in (Chat, Agent):
        result = session.execute(update(table).where(table.workspace_id == workspace.id,
                                                     table.member_id == from_id).values(member_id=to_id))
        moved.append(int(result.rowcount))  # type: ignore[attr-defined]
    done = Transferred(from_id, to_id, moved[0], moved[1])
    admin_record(session, workspace.id, source, {
        "kind": "transferred", "by": by[:320], "to": changes.user_display(target.document),
        "to_id": to_id, "chats": done.chats, "agents": done.agents})
    outbox.emit(session, workspace.id, catalogue.MEMBER_DATA_TRANSFERRED, "User", from_id, {
        "from": {"id": from_id, "userName": source.user_name},
        "to": {"id": to_id, "userName": target.user_name},
        "chats": done.chats, "agents": done.agents})
    return done


@dataclass(frozen=True)
class Purged:
    """One purged member: its workspace and id, and when it had been removed."""

    workspace_id: str
    member_id: str
    removed_at: datetime


def purge_due(factory: sessionmaker[Session], now: datetime | None = None) -> list[Purged]:
    """Delete every member whose time in Recently removed is over (with what it owns), workspace
    by workspace, in batches of ``PURGE_BATCH`` per transaction, each purge recorded in its
    workspace's provisioning log (client ``retention``). Safe to run from several
    machines at once: on PostgreSQL rows are claimed ``FOR UPDATE SKIP LOCKED`` (a row another
    run holds is left to it), on SQLite writers take turns; a second run finds nothing left
    (idempotent)."""
    now = now or utcnow()
    with transaction(factory) as session:
        windows = [(w.id, restore_window_start(w, now)) for w in session.scalars(select(Workspace))]
    purged: list[Purged] = []
    for workspace_id, cutoff in windows:
        while True:
            with transaction(factory) as session:
                batch = _purge_batch(session, workspace_id, cutoff)
            purged.extend(batch)
            if len(batch) < PURGE_BATCH:
                break
    log.info("retention run purged members", extra={"purged": len(purged)})
    return purged


def _purge_batch(session: Session, workspace_id: str, cutoff: datetime) -> list[Purged]:
    """Purge at most ``PURGE_BATCH`` members of the workspace removed before ``cutoff``."""
    due = (
        select(Member)
        .where(Member.workspace_id == workspace_id, Member.removed_at.is_not(None),
               Member.removed_at <= cutoff)
        .order_by(Member.removed_at, Member.id)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    done = []
    for member in list(session.scalars(due)):
        done.append(Purged(workspace_id, member.id, member.removed_at or cutoff))
        admin_record(session, workspace_id, member, {"kind": "purged", "by": "retention"}, client="retention")
        store.remove(session, member)
    return done
