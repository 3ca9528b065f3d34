"""What members own in the workspace (chats and agents), keyed by the member's SCIM ``id``.

Ownership hangs on ``member.id`` only, never on a userName or an email, so renames, email and
domain changes, deactivation and reactivation keep every row attached. Deleting the member
(SCIM DELETE, RFC 7644 §3.6) deletes what it owns through ``ON DELETE CASCADE`` on
``chat.member_id`` and ``agent.member_id`` (docs/decisions.md, "Domains and owned data").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.models import Agent, Chat, Member, Workspace


class UnknownMember(WorkspaceError):
    """No member with this id in the workspace (also for another workspace's member)."""


@dataclass(frozen=True)
class OwnedCounts:
    """How many chats and agents a member owns."""

    chats: int = 0
    agents: int = 0


def _member(session: Session, workspace: Workspace, member_id: str) -> Member:
    member = session.scalar(select(Member).where(Member.workspace_id == workspace.id, Member.id == member_id))
    if member is None:
        raise UnknownMember(f"No member {member_id} in this workspace.")
    return member


def create_chat(session: Session, workspace: Workspace, member_id: str, title: str) -> Chat:
    """A chat owned by the member. Raises UnknownMember."""
    member = _member(session, workspace, member_id)
    chat = Chat(id=str(uuid.uuid4()), workspace_id=workspace.id, member_id=member.id, title=title)
    session.add(chat)
    session.flush()
    return chat


def create_agent(session: Session, workspace: Workspace, member_id: str, name: str) -> Agent:
    """An agent owned by the member. Raises UnknownMember."""
    member = _member(session, workspace, member_id)
    agent = Agent(id=str(uuid.uuid4()), workspace_id=workspace.id, member_id=member.id, name=name)
    session.add(agent)
    session.flush()
    return agent


def create_sample_data(session: Session, workspace: Workspace, member_id: str,
                       chats: int = 2, agents: int = 1) -> OwnedCounts:
    """``chats`` sample chats and ``agents`` sample agents for the member; returns what it
    owns afterwards. Raises UnknownMember, WorkspaceError for a negative count."""
    if chats < 0 or agents < 0:
        raise WorkspaceError("Counts of sample chats and agents cannot be negative.")
    _member(session, workspace, member_id)
    for n in range(1, chats + 1):
        create_chat(session, workspace, member_id, f"Sample chat {n}")
    for n in range(1, agents + 1):
        create_agent(session, workspace, member_id, f"Sample agent {n}")
    return owned_counts(session, workspace, [member_id])[member_id]


def owned_counts(session: Session, workspace: Workspace, member_ids: Sequence[str]) -> dict[str, OwnedCounts]:
    """Chats and agents per member id, for the given ids of the workspace (two grouped
    queries on the (workspace_id, member_id) indexes); ids owning nothing count zero."""
    chats = _counts(session, Chat, workspace, member_ids)
    agents = _counts(session, Agent, workspace, member_ids)
    return {mid: OwnedCounts(chats.get(mid, 0), agents.get(mid, 0)) for mid in member_ids}


def member_owned_counts(session: Session, workspace: Workspace, member_id: str) -> OwnedCounts:
    """What one member owns. Raises UnknownMember."""
    _member(session, workspace, member_id)
    return owned_counts(session, workspace, [member_id])[member_id]


def _counts(session: Session, table: type[Chat] | type[Agent], workspace: Workspace,
            member_ids: Sequence[str]) -> dict[str, int]:
    if not member_ids:
        return {}
    rows = session.execute(
        select(table.member_id, func.count())
        .where(table.workspace_id == workspace.id, table.member_id.in_(list(member_ids)))
        .group_by(table.member_id)
    )
    return {member_id: count for member_id, count in rows.tuples()}
