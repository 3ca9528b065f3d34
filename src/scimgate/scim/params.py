"""Query parameters of list and read requests (RFC 7644 §3.4.2, §3.4.3, §3.9).

``startIndex``/``count`` paging, ``sortBy``/``sortOrder``, ``filter``, and the
``attributes``/``excludedAttributes`` projection, parsed into one ``ListQuery``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scimgate.scim.errors import InvalidValueException

MAX_FILTER_BYTES = 4096
"""Longest filter accepted, in UTF-8 bytes (longer ones are ``invalidFilter``)."""

# Beyond any result set, and inside every database's OFFSET range (a huge startIndex is an empty page).
MAX_START_INDEX = 2**31


@dataclass(frozen=True)
class ListQuery:
    """A list request: ``start_index`` is 1-based, ``count`` already clamped to the maximum."""

    filter: str | None = None
    start_index: int = 1
    count: int = 100
    sort_by: str | None = None
    descending: bool = False
    attributes: tuple[str, ...] = ()
    excluded_attributes: tuple[str, ...] = ()
    across_types: bool = False
    """A search from the server root (RFC 7644 §3.4.2.1, §3.4.3): an attribute one resource
    type lacks is treated as unassigned for that type instead of being an error."""


UNIQUE_USER_LOOKUP = re.compile(
    r'\s*(?:urn:ietf:params:scim:schemas:core:2\.0:User:)?(?:userName|id)\s+eq\s+"(?:[^"\\]|\\.)*"\s*',
    re.IGNORECASE,
)


def is_unique_user_lookup(query: ListQuery) -> bool:
    """True when ``query`` is one ``userName eq "..."`` or ``id eq "..."`` comparison: the two
    User attributes unique within a workspace (RFC 7643 §4.1.1 ``uniqueness: server``, §3.1),
    so at most one user matches, found through a unique index. This is how Entra ID and Okta look
    a user up before creating it. The text is only matched here; the filter is parsed and checked
    where it is compiled."""
    return query.filter is not None and UNIQUE_USER_LOOKUP.fullmatch(query.filter) is not None


DECIMAL_INTEGER = re.compile(r"[+-]?[0-9]+")


def parse_integer(text: str) -> int:
    """``text`` as a base-10 integer: ASCII digits with an optional sign. Raises
    ValueError otherwise: ``int()`` alone also reads other scripts' digits (``"٣"``), full-width
    ones, underscores (``"1_0"``) and surrounding white space, none of which a client means."""
    if not DECIMAL_INTEGER.fullmatch(text):
        raise ValueError(f"not a decimal integer: {text!r}")
    return int(text)


def _integer(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise InvalidValueException(detail=f"'{name}' must be an integer, got {value!r}.")
    try:
        return parse_integer(value) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidValueException(detail=f"'{name}' must be an integer, got {value!r}.") from exc


def split_attribute_list(value: Any) -> tuple[str, ...]:
    """``"userName, emails.value"`` or a JSON list -> ``("userName", "emails.value")``."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(item.strip() for item in items if isinstance(item, str) and item.strip())


def _get(params: Mapping[str, Any], name: str) -> Any:
    """Parameter names are matched case-insensitively (Entra and Okta spell them as the RFC does,
    other clients do not)."""
    for key, value in params.items():
        if key.lower() == name.lower():
            return value
    return None


def parse_list_query(params: Mapping[str, Any], *, default_count: int = 100,
                     max_results: int = 200) -> ListQuery:
    """A ListQuery from query-string or SearchRequest parameters (RFC 7644 §3.4.2.4, §3.4.3).

    ``startIndex`` < 1 is treated as 1; a negative ``count`` as 0; a ``count`` above
    ``max_results`` is clamped to it. Raises InvalidValueException for non-integers and for a
    ``sortOrder`` other than ascending/descending.
    """
    start = _integer(_get(params, "startIndex"), "startIndex") or 1
    count = _integer(_get(params, "count"), "count")
    count = default_count if count is None else count
    order = _get(params, "sortOrder")
    if order is not None and str(order).lower() not in ("ascending", "descending", ""):
        raise InvalidValueException(detail="'sortOrder' must be 'ascending' or 'descending'.")
    filter_value = _get(params, "filter")
    if filter_value is not None and not isinstance(filter_value, str):
        raise InvalidValueException(detail="'filter' must be a string.")
    sort_by = _get(params, "sortBy")
    return ListQuery(
        filter=filter_value if filter_value and filter_value.strip() else None,
        start_index=min(max(start, 1), MAX_START_INDEX),
        count=min(max(count, 0), max_results),
        sort_by=str(sort_by) if sort_by else None,
        descending=str(order or "").lower() == "descending",
        attributes=split_attribute_list(_get(params, "attributes")),
        excluded_attributes=split_attribute_list(_get(params, "excludedAttributes")),
    )
