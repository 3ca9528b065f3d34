"""Export of the provisioning log: a filtered range as JSON Lines or CSV, produced page by page.

The events are read in pages of ``EXPORT_PAGE`` by keyset (services.audit_log.events_after),
each page in a short read-only unit of work of its own, and turned into lines as they come:
memory holds one page whatever the range, and no transaction stays open while the client
reads. Oldest first, so an export of a range and one of the range after it join up.

A record holds the row's columns, its sentence (services.audit_sentence) and its change
(services.changes); never a token or a password, as the row holds none. CSV cells that a
spreadsheet would run as a formula (starting ``=``, ``+``, ``-``, ``@``, tab or carriage
return: OWASP "CSV Injection") are prefixed with ``'``, since names and details come from the
identity provider.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy.orm import Session, sessionmaker

from scimgate.services.audit_log import LogFilter, events_after, resource_names
from scimgate.services.audit_sentence import sentence
from scimgate.storage.db import snapshot
from scimgate.storage.models import AuditEvent

EXPORT_PAGE = 500
FIELDS = ("at", "client", "sentence", "method", "path", "resource_type", "resource_id", "status", "scim_type",
          "detail", "request_id", "duration_ms", "change")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def record(event: AuditEvent, name: str | None = None) -> dict[str, Any]:
    """One event as an export record (``FIELDS``); ``at`` in ISO 8601 UTC."""
    return {
        "at": event.at.isoformat(), "client": event.client, "sentence": sentence(event, name),
        "method": event.method, "path": event.path, "resource_type": event.resource_type,
        "resource_id": event.resource_id, "status": event.status, "scim_type": event.scim_type,
        "detail": event.detail, "request_id": event.request_id, "duration_ms": event.duration_ms,
        "change": event.change,
    }


def records(readers: sessionmaker[Session], workspace_id: str, wanted: LogFilter,
            page_size: int = EXPORT_PAGE) -> Iterator[dict[str, Any]]:
    """The workspace's events matching ``wanted``, oldest first, as records, read ``page_size``
    at a time (one read-only unit of work per page)."""
    after = None
    while True:
        with snapshot(readers) as session:
            events = events_after(session, workspace_id, wanted, after, page_size)
            names = resource_names(session, workspace_id, events)
            page = [record(e, names.get(e.resource_id or "")) for e in events]
            if events:
                after = (events[-1].at, events[-1].id)
        yield from page
        if len(events) < page_size:
            return


def jsonl(found: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """Each record as one JSON line (JSON Lines, https://jsonlines.org)."""
    for item in found:
        yield orjson.dumps(item) + b"\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(found: Iterator[dict[str, Any]]) -> Iterator[str]:
    """A header line, then each record as one CSV line (RFC 4180; ``change`` as JSON text)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: list[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(list(FIELDS))
    for item in found:
        yield line([_cell(item[field]) for field in FIELDS])
