"""What a SCIM write changed, as the facts the provisioning log keeps (``audit_event.change``).

A service that writes a User or a Group notes its change on the unit of work's session
(:func:`note`); services.audit takes it (:func:`take`) when it writes the request's audit row in
the same transaction, so a rolled-back change leaves no fact behind. A change is a JSON object::

    {"kind": "created" | "updated" | "unchanged" | "deleted",
     "display": "Ada Lovelace",                      # the resource's name at the time
     "attributes": [{"name": "emails", "before": "ada@old.example", "after": "ada@new.example"}],
     "members_added": 3, "members_removed": 0}       # Groups only

Values are what an admin reads, not documents: a multi-valued attribute shows its primary (else
first) value, a complex one its ``formatted`` or its sub-attributes joined; each value is cut
to ``VALUE_LIMIT`` characters and at most ``ATTRIBUTE_LIMIT`` attributes are kept. A password
is never among them (RFC 7643 §4.1.1: ``password`` is writeOnly and never stored, and it is
left out here as well, whatever its case), nor is any attribute named in ``SECRET_NAMES``.
A value that holds something shaped like a scimgate secret (a SCIM token, admin key or setup
link: ``sg_`` and 20 or more URL-safe characters) shows it as ``sg_[redacted]``: a client that
pastes its token into an attribute must not get it into the log.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

INFO_KEY = "scimgate.change"
VALUE_LIMIT = 200
ATTRIBUTE_LIMIT = 12
SECRET_NAMES = frozenset({"password", "secret", "token"})
SECRET_SHAPE = re.compile(r"sg_[A-Za-z0-9_-]{20,}")
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def note(session: Session, change: dict[str, Any] | None) -> None:
    """Keep ``change`` as what the session's unit of work changed (the last note wins)."""
    session.info[INFO_KEY] = change


def take(session: Session) -> dict[str, Any] | None:
    """The change noted on ``session`` (removed from it), or None."""
    return session.info.pop(INFO_KEY, None)


def _cut(text: str) -> str:
    text = SECRET_SHAPE.sub("sg_[redacted]", text)
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


def shown_value(value: Any) -> str | bool | None:
    """``value`` as the log shows it: a boolean stays one, a list shows its primary (else first)
    element, a complex value its ``value``, ``formatted`` or its sub-attributes joined."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, list):
        if not value:
            return None
        primary = [v for v in value if isinstance(v, dict) and v.get("primary") is True]
        return shown_value((primary or value)[0])
    if isinstance(value, dict):
        for key in ("value", "formatted", "display"):
            if isinstance(value.get(key), str):
                return _cut(value[key])
        parts = [str(v) for k, v in sorted(value.items())
                 if k.lower() not in SECRET_NAMES and isinstance(v, str | int | float)
                 and not isinstance(v, bool)]
        return _cut(" ".join(parts)) if parts else None
    return _cut(str(value))


def _flatten(document: dict[str, Any]) -> dict[str, Any]:
    """Top-level attributes, the enterprise extension's as their own names (``department``);
    secret names, ``schemas``, ``id`` and ``meta`` left out."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if key.lower() in SECRET_NAMES or key in ("schemas", "id", "meta"):
            continue
        if key.startswith("urn:") and isinstance(value, dict):
            for sub, sub_value in value.items():
                if sub.lower() not in SECRET_NAMES:
                    flat[sub] = sub_value
        else:
            flat[key] = value
    return flat


def whole_value(value: Any) -> str | bool | None:
    """``value`` in full for the log, when its shown value hides the change (a second email
    added beside the primary one, ``name.givenName`` under an unchanged ``formatted``): every
    element of a list, every sub-attribute of a complex value (secret names left out)."""
    if isinstance(value, list):
        parts = [whole_value(element) for element in value]
        return _cut(", ".join(str(p) for p in parts if p is not None)) or None
    if isinstance(value, dict):
        named = [f"{key} {shown_value(sub)}" for key, sub in sorted(value.items())
                 if key.lower() not in SECRET_NAMES and sub is not None]
        return _cut(", ".join(named)) or None
    return shown_value(value)


def attribute_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Every attribute whose stored value differs between two documents, in a stable order
    (``active`` first, then by name), at most ``ATTRIBUTE_LIMIT``: shown values, or the whole
    values (:func:`whole_value`) where the shown ones are equal."""
    old, new = _flatten(before), _flatten(after)
    names = sorted(set(old) | set(new), key=lambda name: (name != "active", name.lower()))
    found = []
    for name in names:
        if old.get(name) == new.get(name):
            continue
        was, now = shown_value(old.get(name)), shown_value(new.get(name))
        if was == now and name != "active":
            was, now = whole_value(old.get(name)), whole_value(new.get(name))
        found.append({"name": name, "before": was, "after": now})
    return found[:ATTRIBUTE_LIMIT]


def user_display(document: dict[str, Any]) -> str:
    """A user's name for a sentence: displayName, the name's formatted or given + family name,
    else userName (RFC 7643 §4.1.1)."""
    name = document.get("name") if isinstance(document.get("name"), dict) else {}
    assert isinstance(name, dict)
    given_family = " ".join(str(name[k]) for k in ("givenName", "familyName") if name.get(k))
    shown = document.get("displayName") or name.get("formatted") or given_family or document.get("userName")
    return _cut(str(shown or "a user"))


def group_display(document: dict[str, Any]) -> str:
    """A group's name for a sentence: its displayName."""
    return _cut(str(document.get("displayName") or "a group"))


def user_change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """The change of a User from ``before`` (None: created) to ``after`` (None: deleted)."""
    if before is None:
        assert after is not None
        shown = [{"name": n, "before": None, "after": shown_value(after.get(n))}
                 for n in ("userName", "emails", "active") if after.get(n) is not None]
        return {"kind": "created", "display": user_display(after), "attributes": shown}
    if after is None:
        return {"kind": "deleted", "display": user_display(before), "attributes": []}
    changed = attribute_changes(before, after)
    return {"kind": "updated" if changed else "unchanged", "display": user_display(after),
            "attributes": changed}


def group_change(before: dict[str, Any] | None, after: dict[str, Any] | None, added: int = 0,
                 removed: int = 0) -> dict[str, Any]:
    """The change of a Group from ``before`` (None: created) to ``after`` (None: deleted), with
    the number of membership rows ``added`` and ``removed``."""
    counts = {"members_added": added, "members_removed": removed}
    if before is None:
        assert after is not None
        return {"kind": "created", "display": group_display(after), "attributes": [], **counts}
    if after is None:
        return {"kind": "deleted", "display": group_display(before), "attributes": [], **counts}
    changed = attribute_changes(before, after)
    kind = "updated" if changed or added or removed else "unchanged"
    return {"kind": kind, "display": group_display(after), "attributes": changed, **counts}
