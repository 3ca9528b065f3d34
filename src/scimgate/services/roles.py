"""Workspace roles from the identity provider: group mapping, the ``roles`` attribute, the guard.

A member's role (``member.role``) is never set by hand; it follows from (issue 16):

- the admin's mapping of SCIM groups to roles (``scim_group.role``): a member of several mapped
  groups gets the highest (admin > editor > member); direct memberships count, nested ones not;
- the User's SCIM ``roles`` attribute (``member.idp_role``): the highest element ``value``
  naming a workspace role (Entra app roles in any of their shapes, decoded by scim.quirks; an
  Okta ``roles`` attribute);
- the workspace's ``role_source`` (which of the two wins when both name a role; the other is
  used when the winner names none) and ``default_role`` (when neither does).

Roles change only when one of those inputs does: a User write whose ``roles`` name another role,
a membership change of a *mapped* group, a mapped group deleted, a mapping saved. A membership
change of an unmapped group costs nothing more (the group row, already read, says it is not
mapped). Every change goes through :func:`role_changed`, the one place that will emit
``member.role_changed``.

The last-admin guard: a change that leaves a workspace which had an active admin without one
(a demotion, a deactivation, a removal) raises :class:`LastAdminRefused` before commit, after
taking the workspace's roles lock (storage.roles.lock_roles), so that two concurrent changes
each removing one of the last two admins cannot both commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from scimgate.events import catalogue, outbox
from scimgate.roles import RANK, ROLES, SOURCES, role_named, role_of_attribute
from scimgate.scim.errors import MutabilityException
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage import roles as store
from scimgate.storage.models import Member, Workspace

log = logging.getLogger("scimgate.roles")

MANAGED_BY_IDP = "Managed by your identity provider"


class LastAdminRefused(WorkspaceError):
    """The change would leave the workspace without an active admin (nothing was changed)."""


@dataclass(frozen=True)
class RoleChange:
    """One member's role change: ``old`` -> ``new``; ``active`` is the member's state."""

    member_id: str
    old: str
    new: str
    active: bool = True


@contextmanager
def as_scim_error() -> Iterator[None]:
    """Inside a SCIM request: LastAdminRefused becomes 400 ``mutability`` (RFC 7644 §3.12: "not
    compatible with the target attribute's ... current state"; docs/decisions.md, "Last admin")."""
    try:
        yield
    except LastAdminRefused as exc:
        raise MutabilityException(detail=str(exc)) from exc


def role_changed(session: Session, workspace_id: str, change: RoleChange) -> None:
    """The single place where a member's role change is announced: the ``member.role_changed``
    event in the same transaction (events.outbox), and a log line (ids and role names only)."""
    outbox.emit(session, workspace_id, catalogue.MEMBER_ROLE_CHANGED, "User", change.member_id,
                {"member": {"id": change.member_id}, "before": change.old, "after": change.new,
                 "active": change.active})
    log.info("member role changed", extra={"workspace_id": workspace_id, "member_id": change.member_id,
                                           "old_role": change.old, "new_role": change.new})


def is_admin(member: Member) -> bool:
    """Whether ``member`` counts as an admin for the guard: role admin, active, not removed."""
    return member.role == "admin" and member.active and member.removed_at is None


def guard_last_admin(session: Session, workspace_id: str, lost_admin: bool) -> None:
    """When the change in progress took an active admin away (``lost_admin``): lock the
    workspace's roles and raise LastAdminRefused if no active admin is left. Call it last in
    the unit of work (the lock is held until commit)."""
    if not lost_admin:
        return
    store.lock_roles(session, workspace_id)
    if store.count_admins(session, workspace_id) == 0:
        log.warning("last admin change refused", extra={"workspace_id": workspace_id})
        raise LastAdminRefused(
            "This change would leave the workspace without an admin: at least one active member must "
            "keep the admin role. Give another member the admin role in your identity provider first "
            "(app role, or a group mapped to admin)."
        )


def _apply(session: Session, workspace_id: str, changes: list[RoleChange]) -> bool:
    """Store ``changes``, announce each; whether an active admin was demoted."""
    store.set_roles(session, workspace_id, [(c.member_id, c.new) for c in changes])
    for change in changes:
        role_changed(session, workspace_id, change)
    return any(c.old == "admin" and c.active for c in changes)


def recompute(session: Session, workspace: Workspace,
              member_ids: Sequence[str] | None = None) -> list[RoleChange]:
    """Bring the roles of ``member_ids`` (None: every member of the workspace) up to date, in
    SQL, and run the last-admin guard. Returns the changes. Raises LastAdminRefused."""
    rows = store.pending_changes(session, workspace.id, workspace.default_role, workspace.role_source,
                                 member_ids)
    changes = [RoleChange(member_id, old, new, active) for member_id, old, new, active in rows]
    guard_last_admin(session, workspace.id, _apply(session, workspace.id, changes))
    return changes


def after_member_write(session: Session, workspace: Workspace, member: Member, *, was_admin: bool,
                       created: bool = False) -> None:
    """Update the role of a member just written by SCIM (its document stored, flushed or not)
    and run the guard. The role is read again only when the ``roles`` attribute now names
    another role than before (a new member: always, without reading its groups: it has none)."""
    idp_role = role_of_attribute(member.document.get("roles"))
    if created or idp_role != member.idp_role:
        if idp_role != member.idp_role:  # the same value set again would still leave a flush to do
            member.idp_role = idp_role
        if created:
            new = idp_role or workspace.default_role  # no group yet: the roles attribute or the default
        else:
            session.flush()
            new = store.due_role(session, member.id, workspace.default_role, workspace.role_source)
        if new != member.role:
            change = RoleChange(member.id, member.role, new, member.active)
            member.role = new
            if not created:
                role_changed(session, workspace.id, change)
    guard_last_admin(session, workspace.id, was_admin and not is_admin(member))


@dataclass(frozen=True)
class RoleSettings:
    """A workspace's role settings: default role, winning source, group id -> role."""

    default_role: str
    source: str
    mappings: dict[str, str]


def read_settings(session: Session, workspace: Workspace) -> tuple[RoleSettings, list[tuple[str, str, str]]]:
    """The workspace's settings and its mapped groups as (id, displayName, role)."""
    mapped = store.mapped_groups(session, workspace.id)
    return RoleSettings(workspace.default_role, workspace.role_source, {g: r for g, _, r in mapped}), mapped


def check_settings(default_role: str, source: str, mappings: dict[str, str]) -> RoleSettings:
    """Validated settings (roles and sources by their names, any case); WorkspaceError otherwise."""
    default = role_named(default_role)
    if default is None:
        raise WorkspaceError(f"default_role must be one of {', '.join(ROLES)}.")
    if source not in SOURCES:
        raise WorkspaceError(f"source must be one of {', '.join(SOURCES)}.")
    checked = {}
    for group_id, role in mappings.items():
        named = role_named(role)
        if named is None:
            raise WorkspaceError(f"The role of group {group_id} must be one of {', '.join(ROLES)}.")
        checked[group_id] = named
    return RoleSettings(default, source, checked)


def save_settings(session: Session, workspace: Workspace, settings: RoleSettings) -> list[RoleChange]:
    """Make ``settings`` the workspace's and recompute every member's role in SQL; returns the
    changes. Raises WorkspaceError for a group that is not the workspace's, LastAdminRefused."""
    found = store.set_group_roles(session, workspace.id, settings.mappings)
    missing = sorted(set(settings.mappings) - found)
    if missing:
        raise WorkspaceError(f"No group {missing[0]} in this workspace.")
    workspace.default_role, workspace.role_source = settings.default_role, settings.source
    session.flush()
    return recompute(session, workspace)


@dataclass(frozen=True)
class Preview:
    """What saving settings would do: the changes (at most ``limit`` listed), their count, and
    the refusal the last-admin guard would give (None when it would pass)."""

    changes: list[RoleChange]
    total: int
    refused: str | None


def preview(session: Session, workspace: Workspace, settings: RoleSettings, limit: int = 200) -> Preview:
    """Who would change role if ``settings`` were saved, and whether the last-admin guard would
    refuse it: the mapping is written in a savepoint, the changes read by the same SQL that
    saving runs, and the savepoint rolled back."""
    admins_now = store.count_admins(session, workspace.id)
    savepoint = session.begin_nested()
    try:
        missing = set(settings.mappings) - store.set_group_roles(session, workspace.id, settings.mappings)
        if missing:
            raise WorkspaceError(f"No group {sorted(missing)[0]} in this workspace.")
        rows = store.pending_changes(session, workspace.id, settings.default_role, settings.source)
    finally:
        savepoint.rollback()
    changes = [RoleChange(member_id, old, new, active) for member_id, old, new, active in rows]
    admins_after = (admins_now - sum(c.old == "admin" and c.active for c in changes)
                    + sum(c.new == "admin" and c.active for c in changes))
    refused = None
    if admins_now > 0 and admins_after == 0:
        refused = "Saving would leave the workspace without an active admin; it would be refused."
    ordered = sorted(changes, key=lambda c: (-RANK[c.new], c.member_id))
    return Preview(ordered[:limit], len(changes), refused)


def member_role(session: Session, workspace: Workspace, member_id: str) -> dict[str, object]:
    """A live member's ``role``, ``idp_role`` (what its SCIM ``roles`` name), the roles of its
    mapped groups and the workspace's ``source``; UnknownMember (a WorkspaceError) otherwise."""
    member = store.live_member(session, workspace.id, member_id)
    if member is None:
        raise UnknownMemberRole(f"No member {member_id} in this workspace.")
    return {"member_id": member.id, "userName": member.user_name, "role": member.role,
            "idp_role": member.idp_role, "group_roles": store.group_roles_of(session, member.id),
            "source": workspace.role_source, "default_role": workspace.default_role,
            "managed_by": MANAGED_BY_IDP}


class UnknownMemberRole(WorkspaceError):
    """No live member with this id in the workspace."""


def roles_of(session: Session, workspace: Workspace, member_ids: Sequence[str]) -> dict[str, str]:
    """The role of each of ``member_ids`` (one page of the members list)."""
    return store.roles_of(session, workspace.id, member_ids)


MAPPING_PAGE = 500
"""Groups offered on the role mapping page (by displayName; mapped ones are always listed)."""


def mapping_choices(session: Session, workspace: Workspace) -> tuple[list[tuple[str, str, str | None]], bool]:
    """The groups the mapping page lists (its first ``MAPPING_PAGE`` by name plus every mapped
    one) as (id, displayName, role), and whether the workspace has more groups than listed."""
    listed = store.groups_page(session, workspace.id, MAPPING_PAGE + 1)
    more = len(listed) > MAPPING_PAGE
    shown = {group_id: (group_id, name, role) for group_id, name, role in listed[:MAPPING_PAGE]}
    for group_id, name, role in store.mapped_groups(session, workspace.id):
        shown.setdefault(group_id, (group_id, name, role))
    return sorted(shown.values(), key=lambda g: (g[1].lower(), g[0])), more
