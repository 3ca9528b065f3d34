"""The provisioning log: one ``audit_event`` per SCIM request, never a token or a body.

A write's row also holds what it changed (services.changes), taken from the unit of work's session.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from scimgate.services import changes
from scimgate.storage.models import AuditEvent, utcnow

DETAIL_LIMIT = 500
_INSERT = insert(AuditEvent.metadata.tables[AuditEvent.__tablename__])  # Core: see record()
_ROW_KEYS = ("at", "workspace_id", "request_id", "method", "path", "resource_type", "resource_id", "status",
             "scim_type", "detail", "client", "duration_ms", "change")
_SQLITE_INSERT = _INSERT.compile(dialect=sqlite.dialect(), column_keys=list(_ROW_KEYS))
_SQLITE_ORDER = tuple(_SQLITE_INSERT.positiontup or ())


@functools.lru_cache(maxsize=256)
def guess_client(user_agent: str | None) -> str:
    """``entra``, ``okta`` or ``other`` from the User-Agent header (the last 256 answers are
    kept: a provisioning cycle sends one User-Agent thousands of times).

    Entra's provisioning service identifies as ``Microsoft.Azure.ActiveDirectory...`` /
    ``Azure AD SCIM``; Okta's as ``Okta SCIM Client`` (docs/identity-providers.md §1, §7).
    """
    agent = (user_agent or "").lower()
    if "azure" in agent or "microsoft" in agent or "entra" in agent:
        return "entra"
    if "okta" in agent:
        return "okta"
    return "other"


@dataclass
class AuditRecord:
    """What the HTTP edge knows about a request by the time it is answered."""

    request_id: str
    method: str
    path: str
    client: str
    workspace_id: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    recorded: bool = False  # set once the request's audit_event is committed


def row(audit: AuditRecord, status: int, duration_ms: float,
        scim_type: str | None = None, detail: str | None = None,
        change: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``audit_event`` row of ``audit`` answered with ``status`` (columns cut to their
    lengths; ``at`` is now, the time the request was answered); ``change`` is what the
    request changed (services.changes), None for a read or a failure."""
    return dict(
        at=utcnow(),
        workspace_id=audit.workspace_id,
        request_id=audit.request_id,
        method=audit.method,
        path=audit.path[:512],
        resource_type=(audit.resource_type or "")[:32] or None,
        resource_id=(audit.resource_id or "")[:64] or None,
        status=status,
        scim_type=scim_type,
        detail=(detail or "")[:DETAIL_LIMIT] or None,
        client=audit.client,
        duration_ms=round(duration_ms, 3),
        change=change,
    )


def record(session: Session, audit: AuditRecord, status: int, duration_ms: float,
           scim_type: str | None = None, detail: str | None = None) -> None:
    """Insert one audit_event row in ``session``'s transaction (committed with the request's own
    change, which services noted on ``session``: services.changes), by :func:`insert_rows`: the
    ORM's unit of work, or a statement built per call, costs more than the row (every SCIM
    request writes one)."""
    change = changes.take(session)
    insert_rows(session, [row(audit, status, duration_ms, scim_type, detail, change)])


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (from :func:`row`) in ``session``'s transaction, as one executemany of the
    prepared INSERT (services.audit_journal's batches). The statement is compiled once; a
    multi-row ``INSERT ... VALUES (...), (...)`` is a new statement for every batch size and was
    compiled on every flush (half the flush's CPU). On SQLite the compiled statement runs as
    the driver's own ``executemany`` with the values bound as SQLAlchemy binds them: SQLAlchemy's
    per-row parameter processing cost more than SQLite's insert (as storage.events does)."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        connection.execute(_INSERT, rows)
        return
    cursor = connection.connection.cursor()  # the statement as SQLite's own executemany: see below
    try:
        values = [tuple(_sqlite_value(name, each[name]) for name in _SQLITE_ORDER) for each in rows]
        cursor.executemany(_SQLITE_INSERT.string, values)
    finally:
        cursor.close()


def _sqlite_value(name: str, value: Any) -> Any:
    """``value`` of column ``name`` as SQLAlchemy would bind it on SQLite: ``at`` as naive UTC
    text (models.UTCDateTime over SQLite's DATETIME), ``change`` as JSON text."""
    if value is None:
        return None
    if name == "at":
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if name == "change":
        return json.dumps(value)
    return value
