"""Workspaces: create, find, list, and their SCIM switches.

Raises ``WorkspaceError`` with a message meant for the admin (CLI and admin pages show it as is).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scimgate.events import catalogue, outbox
from scimgate.storage.models import Workspace


class WorkspaceError(Exception):
    """A workspace operation the admin must correct (unknown name, duplicate name)."""


def create_workspace(session: Session, name: str, *, allow_any_domain: bool = False) -> Workspace:
    """Create a workspace called ``name`` (unique, case-insensitive); SCIM sync starts off."""
    name = name.strip()
    if not name:
        raise WorkspaceError("A workspace needs a name.")
    workspace = Workspace(
        id=str(uuid.uuid4()),
        name=name,
        name_lower=name.lower(),
        scim_sync_active=False,
        group_sync_active=True,
        allow_any_domain=allow_any_domain,
    )
    session.add(workspace)
    try:
        session.flush()
    except IntegrityError as exc:
        raise WorkspaceError(f"A workspace called {name!r} already exists.") from exc
    return workspace


def find_workspace(session: Session, name_or_id: str) -> Workspace:
    """The workspace with this id or name (case-insensitive); WorkspaceError if none."""
    found = session.get(Workspace, name_or_id) or session.scalar(
        select(Workspace).where(Workspace.name_lower == name_or_id.strip().lower())
    )
    if found is None:
        raise WorkspaceError(f"No workspace called {name_or_id!r}; see `scimgate workspace list`.")
    return found


def list_workspaces(session: Session) -> list[Workspace]:
    """Every workspace, by name."""
    return list(session.scalars(select(Workspace).order_by(Workspace.name_lower)))


def _sync_changed(session: Session, workspace: Workspace, changed: str) -> None:
    """``workspace.sync_changed`` with both switches as they are now (events.catalogue)."""
    outbox.emit(session, workspace.id, catalogue.WORKSPACE_SYNC_CHANGED, "Workspace", workspace.id,
                {"changed": [changed], "scim_sync_active": bool(workspace.scim_sync_active),
                 "group_sync_active": bool(workspace.group_sync_active)})


def set_scim_sync(session: Session, workspace: Workspace, active: bool) -> None:
    """Turn "SCIM user sync active" on or off; off makes every SCIM request answer 403. A change
    emits ``workspace.sync_changed``."""
    if bool(workspace.scim_sync_active) != active:
        workspace.scim_sync_active = active
        _sync_changed(session, workspace, "scim_sync_active")


def set_group_sync(session: Session, workspace: Workspace, active: bool) -> None:
    """Turn "Group sync active" on or off; off makes /Groups answer 403 while /Users keeps working.
    A change emits ``workspace.sync_changed``."""
    if bool(workspace.group_sync_active) != active:
        workspace.group_sync_active = active
        _sync_changed(session, workspace, "group_sync_active")


def set_allow_any_domain(session: Session, workspace: Workspace, allow: bool) -> None:
    """Allow (trial workspaces) or refuse members whose email domain is not a verified domain."""
    workspace.allow_any_domain = allow


def set_entra_replace_creates(session: Session, workspace: Workspace, on: bool) -> None:
    """Entra compatibility mode: a PATCH ``replace`` through a value filter that matches nothing
    creates the element (Entra relies on it, docs/identity-providers.md §2.4 e) instead of the RFC's 400
    ``noTarget`` (RFC 7644 §3.5.2.3)."""
    workspace.entra_replace_creates = on
