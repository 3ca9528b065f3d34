"""How many group members one request may name, checked before any work is done.

A POST or PUT of a Group carries its whole ``members`` list; a PATCH carries member values in
``add``/``replace`` operations and member ids in ``members[value eq "..."]`` filters (RFC 7644
§3.5.2). Each named member costs an indexed lookup, a lock and a row, so a request naming more
than ``MAX_MEMBERS_PER_REQUEST`` is refused with 400 ``invalidValue`` before a transaction
opens; larger groups are filled by several PATCH requests (docs/conformance.md, "Groups").
The count is lenient: a body too malformed to count counts 0 and meets its own error later.
"""

from __future__ import annotations

from typing import Any

from scimgate.scim.errors import InvalidValueException

MAX_MEMBERS_PER_REQUEST = 10_000


def _key(item: dict[str, Any], name: str) -> Any:
    """``item[name]`` with the key matched case-insensitively (RFC 7643 §2.1), or None."""
    return next((value for key, value in item.items() if isinstance(key, str) and key.lower() == name), None)


def _values(value: Any) -> int:
    if value is None:
        return 0
    return len(value) if isinstance(value, list) else 1


def _in_operation(operation: Any) -> int:
    if not isinstance(operation, dict):
        return 0
    path, value = _key(operation, "path"), _key(operation, "value")
    if path is None:
        return _values(_key(value, "members")) if isinstance(value, dict) else 0
    if not isinstance(path, str):
        return 0
    attribute = path.lower().rsplit(":", 1)[-1]
    if not attribute.startswith("members"):
        return 0
    return _values(value) + attribute.count(" eq ")


def member_count(body: Any, *, patch: bool) -> int:
    """How many member values (or ids in member filters) a Group POST/PUT body
    (``patch=False``) or PatchOp body (``patch=True``) names."""
    if not isinstance(body, dict):
        return 0
    if not patch:
        return _values(_key(body, "members"))
    operations = _key(body, "operations")
    if not isinstance(operations, list):
        return 0
    return sum(_in_operation(operation) for operation in operations)


def check_member_count(body: Any, *, patch: bool) -> None:
    """400 ``invalidValue`` when ``body`` names more than ``MAX_MEMBERS_PER_REQUEST`` members."""
    count = member_count(body, patch=patch)
    if count > MAX_MEMBERS_PER_REQUEST:
        raise InvalidValueException(
            detail=f"A request may name at most {MAX_MEMBERS_PER_REQUEST:,} group members; this one names "
            f"{count:,}. Send the members in several PATCH requests; nothing was changed."
        )
