"""The provisioning log's sentences: one plain-English line per audit event.

Built only from what the row stores: the client kind (services.audit.guess_client, from the
User-Agent), the method and path, the status and scimType, and what a write changed
(``audit_event.change``, services.changes). Examples::

    Entra deactivated Ada Lovelace
    Okta changed the email of Ada Lovelace from ada@old.example to ada@new.example
    Entra added 3 members to Engineering
    Entra could not update Ada Lovelace: 400 noTarget
    grace@example.com (admin) restored Ada Lovelace and their memberships of 2 groups
    grace@example.com (admin) handed over 3 chats and 2 agents from Ada Lovelace to Alan Turing
    Retention purged Ada Lovelace after their time in Recently removed

The last three are no SCIM request (services.leaving.admin_record): the row has no method or
path, and its change names who acted (``by``).

A read or a failure has no change; its resource is named by ``name`` when the caller found the
resource's current name (services.audit_log.resource_names), else by a short id.
"""

from __future__ import annotations

from typing import Any, Protocol

CLIENT_NAMES = {"entra": "Entra", "okta": "Okta"}
OTHER_CLIENT = "A SCIM client"
LABELS = {
    "userName": "user name", "displayName": "display name", "emails": "email", "name": "name",
    "externalId": "external id", "nickName": "nickname", "phoneNumbers": "phone number",
    "preferredLanguage": "preferred language", "employeeNumber": "employee number",
    "costCenter": "cost center", "userType": "user type", "profileUrl": "profile URL",
}
DISCOVERY = {"ServiceProviderConfig", "ResourceType", "Schema"}


class Event(Protocol):
    """What a sentence needs of an audit event (storage.models.AuditEvent has it)."""

    method: str
    path: str
    resource_type: str | None
    resource_id: str | None
    status: int
    scim_type: str | None
    client: str
    change: dict[str, Any] | None


def client_name(client: str) -> str:
    """``Entra``, ``Okta`` or ``A SCIM client``."""
    return CLIENT_NAMES.get(client, OTHER_CLIENT)


def label(attribute: str) -> str:
    """An attribute's name as a sentence says it (``emails`` -> ``email``)."""
    return LABELS.get(attribute, attribute)


def _shown(value: Any) -> str:
    if value is True:
        return "active"
    if value is False:
        return "inactive"
    return "nothing" if value in (None, "") else str(value)


def _members(count: int) -> str:
    return f"{count} member{'' if count == 1 else 's'}"


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _attribute_phrase(changed: list[dict[str, Any]], whose: str | None) -> str | None:
    """``changed the email of X from a to b`` for one attribute, ``changed the email and the
    title of X`` for several (``their email`` when ``whose`` is None: the sentence already named
    the resource); None when there is none."""
    if not changed:
        return None

    def of(name: str) -> str:
        return f"their {name}" if whose is None else f"the {name} of {whose}"

    if len(changed) == 1:
        one = changed[0]
        name = label(one["name"])
        if one["before"] in (None, ""):
            return f"set {of(name)} to {_shown(one['after'])}"
        if one["after"] in (None, ""):
            return f"removed {of(name)} (was {_shown(one['before'])})"
        return f"changed {of(name)} from {_shown(one['before'])} to {_shown(one['after'])}"
    names = _and([label(c["name"]) for c in changed])
    return f"changed {of(names)}"


def _user_update(change: dict[str, Any]) -> str:
    whose = change.get("display") or "a user"
    changed = list(change.get("attributes") or [])
    active = next((c for c in changed if c["name"] == "active"), None)
    others = [c for c in changed if c["name"] != "active"]
    parts = []
    if active is not None and active["after"] is False:
        parts.append(f"deactivated {whose}")
    elif active is not None and active["after"] is True and active["before"] is False:
        parts.append(f"reactivated {whose}")
    phrase = _attribute_phrase(others, None if parts else whose)
    if phrase:
        parts.append(phrase)
    return " and ".join(parts) or f"sent an update of {whose} that changed nothing"


def _group_update(change: dict[str, Any]) -> str:
    group = change.get("display") or "a group"
    added, removed = change.get("members_added") or 0, change.get("members_removed") or 0
    renamed = [c for c in change.get("attributes") or [] if c["name"] == "displayName"]
    others = [c for c in change.get("attributes") or [] if c["name"] != "displayName"]
    parts = []
    if renamed:
        parts.append(f"renamed the group {_shown(renamed[0]['before'])} to {group}")
    if added and removed:
        parts.append(f"added {_members(added)} to and removed {_members(removed)} from {group}")
    elif added:
        parts.append(f"added {_members(added)} to {group}")
    elif removed:
        parts.append(f"removed {_members(removed)} from {group}")
    phrase = _attribute_phrase(others, None if parts else f"the group {group}")
    if phrase:
        parts.append(phrase)
    return " and ".join(parts) or f"sent an update of the group {group} that changed nothing"


def _change_phrase(resource_type: str | None, change: dict[str, Any]) -> str:
    kind = change.get("kind")
    group = resource_type == "Group"
    display = change.get("display") or ("a group" if group else "a user")
    if kind == "created":
        if group:
            added = change.get("members_added") or 0
            return f"created the group {display}" + (f" with {_members(added)}" if added else "")
        return f"created {display}"
    if kind == "deleted":
        return f"deleted the group {display}" if group else f"deleted {display}"
    return _group_update(change) if group else _user_update(change)


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _not_scim(change: dict[str, Any]) -> str | None:
    """The sentence of an action no SCIM request made (an admin's restore or transfer, the
    retention purge), or None for a SCIM change."""
    kind, display = change.get("kind"), change.get("display") or "a user"
    by = str(change.get("by") or "an admin")
    if kind == "restored":
        groups = int(change.get("groups") or 0)
        rejoined = f" and their memberships of {_count(groups, 'group')}" if groups else ""
        phrase = f"restored {display}{rejoined}"
    elif kind == "transferred":
        chats, agents = int(change.get("chats") or 0), int(change.get("agents") or 0)
        owned = f"{_count(chats, 'chat')} and {_count(agents, 'agent')}"
        phrase = f"handed over {owned} from {display} to {change.get('to') or 'another member'}"
    elif kind == "purged":
        by, phrase = "Retention", f"purged {display} after their time in Recently removed"
    else:
        return None
    return f"{by} {phrase}"


def _target(event: Event, name: str | None) -> str:
    if event.resource_type in ("User", "Group") and event.resource_id:
        if name:
            return name if event.resource_type == "User" else f"the group {name}"
        return f"{event.resource_type.lower()} {event.resource_id[:8]}…"
    return ""


def _request_phrase(event: Event, name: str | None) -> str:
    """What the request asked for, as a verb phrase (``update Ada Lovelace``)."""
    kind = (event.resource_type or "").lower()
    plural = {"user": "users", "group": "groups"}.get(kind, "resources")
    target = _target(event, name)
    if event.resource_type in DISCOVERY:
        return f"read the server's {event.resource_type} description"
    if event.path.rstrip("/").endswith("/.search"):
        return f"search {plural}"
    if event.method == "GET":
        return f"read {target}" if target else f"list {plural}"
    if event.method == "POST":
        return f"create a {kind}" if kind in ("user", "group") else "send a request"
    if event.method in ("PUT", "PATCH"):
        return f"update {target or 'a ' + (kind or 'resource')}"
    if event.method == "DELETE":
        return f"delete {target or 'a ' + (kind or 'resource')}"
    return f"send {event.method}"


_PAST = {"read": "read", "list": "listed", "search": "searched", "create": "created", "update": "updated",
         "delete": "deleted", "send": "sent"}


def sentence(event: Event, name: str | None = None) -> str:
    """The event as one sentence (no final period). ``name`` is the current name of the event's
    resource, used when the row holds no change (reads, failures)."""
    if event.change and (done := _not_scim(event.change)):
        return done
    who = client_name(event.client)
    if event.status < 400 and event.change:
        return f"{who} {_change_phrase(event.resource_type, event.change)}"
    wanted = _request_phrase(event, name)
    if event.status >= 400:
        reason = f"{event.status} {event.scim_type}" if event.scim_type else str(event.status)
        return f"{who} could not {wanted}: {reason}"
    verb, _, rest = wanted.partition(" ")
    return f"{who} {_PAST.get(verb, verb)} {rest}".rstrip()
