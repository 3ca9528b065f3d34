"""The event types and the ``data`` each carries (docs/events.md has an example of each).

Member events carry the member's SCIM representation (RFC 7643 §4.1) as ``data.resource``;
``member.updated`` also ``changed`` (the attribute paths that changed, e.g. ``name.givenName``)
and ``before``/``after`` of those paths, except attributes that are never returned
(``password``, RFC 7643 §4.1.1 ``returned: never``): their names appear, their values do not.
``member.restored`` (an admin brought a member back from Recently removed) also carries the ids
of the groups it rejoined; ``member.data_transferred`` the two members (``id``, ``userName``)
and how many chats and agents moved. Group events carry the group without ``members`` (a group
may have 100,000); membership changes are ``group.member_added``/``group.member_removed``, one
event per member.
"""

from __future__ import annotations

from typing import Any

MEMBER_CREATED = "member.created"
MEMBER_UPDATED = "member.updated"
MEMBER_DEACTIVATED = "member.deactivated"
MEMBER_REACTIVATED = "member.reactivated"
MEMBER_DELETED = "member.deleted"
MEMBER_EMAIL_CHANGED = "member.email_changed"
MEMBER_ROLE_CHANGED = "member.role_changed"
MEMBER_RESTORED = "member.restored"
MEMBER_DATA_TRANSFERRED = "member.data_transferred"
GROUP_CREATED = "group.created"
GROUP_UPDATED = "group.updated"
GROUP_DELETED = "group.deleted"
GROUP_MEMBER_ADDED = "group.member_added"
GROUP_MEMBER_REMOVED = "group.member_removed"
WORKSPACE_SYNC_CHANGED = "workspace.sync_changed"
DOMAIN_VERIFIED = "domain.verified"
WORKSPACE_ALERT = "workspace.alert"

TYPES: list[str] = [
    MEMBER_CREATED, MEMBER_UPDATED, MEMBER_DEACTIVATED, MEMBER_REACTIVATED, MEMBER_DELETED,
    MEMBER_EMAIL_CHANGED, MEMBER_ROLE_CHANGED, MEMBER_RESTORED, MEMBER_DATA_TRANSFERRED, GROUP_CREATED,
    GROUP_UPDATED, GROUP_DELETED, GROUP_MEMBER_ADDED, GROUP_MEMBER_REMOVED, WORKSPACE_SYNC_CHANGED,
    DOMAIN_VERIFIED, WORKSPACE_ALERT,
]
"""Every type this release emits; features add theirs here."""

SECRET_ATTRIBUTES = frozenset({"password"})
"""Top-level attributes whose values never appear in an event (RFC 7643 §4.1.1: ``returned: never``)."""


def is_known(event_type: str) -> bool:
    """Whether ``event_type`` is in the catalogue (endpoint filters and the events API accept only these)."""
    return event_type in TYPES


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The attribute paths whose value differs between two stored documents: a top-level name,
    or ``parent.sub`` inside a complex single-valued attribute (``name``, an extension schema's
    object). Multi-valued attributes (``emails``) count as one path. Sorted."""
    paths: list[str] = []
    for key in sorted(set(before) | set(after)):
        if key in ("meta", "id", "schemas"):
            continue
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and key not in SECRET_ATTRIBUTES:
            subs = sorted(set(old) | set(new))
            paths.extend(f"{key}.{sub}" for sub in subs if old.get(sub) != new.get(sub))
        else:
            paths.append(key)
    return paths


def value_at(document: dict[str, Any], path: str) -> Any:
    """The value at a path of :func:`changed_paths` (None when unassigned)."""
    head, _, sub = path.partition(".")
    value = document.get(head)
    if sub and isinstance(value, dict):
        return value.get(sub)
    return value


def member_update(resource: dict[str, Any], before: dict[str, Any], after: dict[str, Any],
                  paths: list[str]) -> dict[str, Any]:
    """``data`` of ``member.updated``: the representation, the changed paths and their values
    before and after (secret attributes by name only)."""
    shown = [path for path in paths if path.partition(".")[0] not in SECRET_ATTRIBUTES]
    return {
        "resource": resource,
        "changed": paths,
        "before": {path: value_at(before, path) for path in shown},
        "after": {path: value_at(after, path) for path in shown},
    }


def emails(document: dict[str, Any]) -> list[str]:
    """The member's email values, lower-cased, in document order (RFC 7643 §4.1.2)."""
    found = document.get("emails") or []
    return [str(e.get("value", "")).lower() for e in found if isinstance(e, dict) and e.get("value")]


def member_events(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The types one change of a member's document produces, in the order they are emitted:
    ``member.updated`` for any change, then ``member.deactivated``/``member.reactivated`` when
    ``active`` flipped, then ``member.email_changed`` when the set of email values changed."""
    if before == after:
        return []
    types = [MEMBER_UPDATED]
    was, now = before.get("active", True) is not False, after.get("active", True) is not False
    if was and not now:
        types.append(MEMBER_DEACTIVATED)
    elif now and not was:
        types.append(MEMBER_REACTIVATED)
    if set(emails(before)) != set(emails(after)):
        types.append(MEMBER_EMAIL_CHANGED)
    return types


def group_summary(group_id: str, display_name: str) -> dict[str, str]:
    """How membership events name their group."""
    return {"id": group_id, "displayName": display_name}
