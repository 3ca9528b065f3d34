"""Rows of the provisioning log (``audit_event``), inserted in the caller's transaction.

Every SCIM request writes one row: a write's in its own transaction, a read's through the audit
journal's batches (services.audit_journal). The INSERT is compiled once; on SQLite it runs as the
driver's own ``executemany``, with the values bound as SQLAlchemy binds them, because
SQLAlchemy's per-row parameter processing cost more than SQLite's insert (docs/decisions.md,
"A lean request path").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from scimgate.storage import json_text
from scimgate.storage.models import SQLITE_DATETIME, AuditEvent, naive_utc

_TABLE: Table = AuditEvent.__table__  # type: ignore[assignment]
COLUMNS = ("at", "workspace_id", "request_id", "method", "path", "resource_type", "resource_id", "status",
           "scim_type", "detail", "client", "duration_ms", "change")
"""The keys of a row (services.audit.row)."""
_INSERT = insert(_TABLE)
_SQLITE_INSERT = _INSERT.compile(dialect=sqlite.dialect(), column_keys=list(COLUMNS))
_SQLITE_ORDER = tuple(_SQLITE_INSERT.positiontup or ())


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (``COLUMNS``; ``at`` aware, ``change`` a JSON-serialisable dict or None)
    in ``session``'s transaction as one executemany of the INSERT compiled once: a multi-row
    ``INSERT ... VALUES (...), (...)`` is a new statement for every batch size and was compiled
    on every flush (half the flush's CPU)."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        connection.execute(_INSERT, rows)
        return
    cursor = connection.connection.cursor()
    try:
        values = [tuple(_sqlite_value(name, each[name]) for name in _SQLITE_ORDER) for each in rows]
        cursor.executemany(_SQLITE_INSERT.string, values)
    finally:
        cursor.close()


def _sqlite_value(name: str, value: Any) -> Any:
    """``value`` of column ``name`` as SQLAlchemy binds it on SQLite: ``at`` as naive UTC text
    (models.UTCDateTime over SQLite's DATETIME), ``change`` as JSON text."""
    if value is None:
        return None
    if name == "at":
        return naive_utc(value).strftime(SQLITE_DATETIME)
    if name == "change":
        return json_text.dumps(value)
    return value
