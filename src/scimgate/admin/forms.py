"""What the admin pages read from query strings and forms, turned into service arguments.

Pure functions, no HTTP and no database: a search box becomes a SCIM filter for the one filter
engine (RFC 7644 §3.4.2.2), a time-range field becomes a UTC datetime.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from scimgate.scim.params import parse_integer

SEARCHED_ATTRIBUTES = ("userName", "displayName", "emails.value", "name.givenName", "name.familyName")
MAX_SEARCH_CHARS = 200
STATUSES = {"active": "active eq true", "deactivated": "active eq false"}


def scim_string(text: str) -> str:
    """``text`` as a SCIM filter string literal (RFC 7644 §3.4.2.2: compValue is a JSON string,
    RFC 8259 §7): backslash and double quote escaped, control characters dropped."""
    cleaned = "".join(ch for ch in text if ch >= " " and ch != "\x7f")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def member_search_filter(text: str, status: str = "") -> str | None:
    """The SCIM filter of the members page: ``text`` contained (``co``) in the name, userName or
    an email, and the status (``active``/``deactivated``; anything else means both). None when
    neither narrows the list. Only the first ``MAX_SEARCH_CHARS`` characters are searched."""
    parts: list[str] = []
    text = text.strip()[:MAX_SEARCH_CHARS]
    if text:
        literal = scim_string(text)
        either = " or ".join(f"{attribute} co {literal}" for attribute in SEARCHED_ATTRIBUTES)
        parts.append(f"({either})")
    if status in STATUSES:
        parts.append(STATUSES[status])
    return " and ".join(parts) or None


def group_members_filter(group_id: str) -> str:
    """The filter of a group's direct User members: ``groups.value eq "<id>"`` (RFC 7643 §4.1.2)."""
    return f"groups.value eq {scim_string(group_id)}"


def utc_datetime(value: str | None) -> datetime | None:
    """An HTML ``datetime-local`` value (``2026-11-29T08:30``), read as UTC; None when empty.
    Raises ValueError for anything else."""
    if not value or not value.strip():
        return None
    parsed = datetime.fromisoformat(value.strip())
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError as exc:  # an offset that moves the instant past year 1 or 9999
        raise ValueError(f"{value!r} is outside the years 1 to 9999 in UTC") from exc


MAX_PAGE = 1_000_000
"""Highest page number served: beyond every list, and its row offset fits every database's
OFFSET (a larger one is read as this one, an empty page)."""


def page_number(value: str | None) -> int:
    """A 1-based page number from a query string; anything that is not a positive integer is 1,
    and a number above ``MAX_PAGE`` is ``MAX_PAGE``."""
    try:
        return min(max(parse_integer(value or "1"), 1), MAX_PAGE)
    except ValueError:
        return 1


def domain_from_input(text: str) -> str:
    """The domain an admin meant by what they typed or pasted: ``https://www.example.org/path``
    and ``www.example.org/`` give ``example.org`` (the host of the address, without a leading
    ``www.``, which is a web server and never an email domain); a bare name is returned as typed
    (stripped), for the domain service to check."""
    cleaned = text.strip()
    if "://" in cleaned:
        host = urlsplit(cleaned).hostname or ""
    elif "/" in cleaned and "@" not in cleaned:
        host = cleaned.split("/", 1)[0]
    else:
        return cleaned
    host = host.split(":", 1)[0].rstrip(".")
    return host[4:] if host.lower().startswith("www.") and host.count(".") >= 2 else host
