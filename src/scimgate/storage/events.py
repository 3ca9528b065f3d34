"""Event storage: the outbox rows, their per-workspace sequence, paging and the retention purge.

:func:`append` writes a transaction's events of one workspace and numbers them in the same
statement, so the outbox costs a SCIM write one round trip (docs/decisions.md, "Outbox cost"):

- PostgreSQL: ``WITH c AS (INSERT INTO event_counter ... ON CONFLICT DO UPDATE SET last_seq =
  last_seq + n RETURNING last_seq) INSERT INTO event ... SELECT ... FROM c, unnest(arrays)``,
  one statement for any number of events (a bulk group PATCH emits one per member). The
  counter row stays locked until the transaction ends, so a second transaction of the same
  workspace waits there and takes the numbers after the first one's: numbers are gap-free and
  follow commit order, which is what lets a reader page by ``seq > cursor`` without ever
  skipping an event committed late, with any number of workers.
- SQLite runs one writer at a time (``BEGIN IMMEDIATE`` and the writer lock, storage.db), so
  each row takes ``MAX(seq) + 1`` over the ``(workspace_id, seq)`` index inside its INSERT
  (one executemany). When the purge has deleted every event of a workspace, the numbering goes
  on from ``event_counter.last_seq``, which the purge raises to the last seq it deletes.

Both run on the DBAPI cursor with SQL text built once: SQLAlchemy's per-execute work (compiled
cache lookup, parameter processing, result set-up) cost more than the statements themselves.
The caller writes as late as it can (events.outbox writes at commit), so the PostgreSQL counter
lock is held for the last moments of the transaction only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, union_all
from sqlalchemy.orm import Session

from scimgate.storage import json_text
from scimgate.storage.models import SQLITE_DATETIME, Event, EventCounter, naive_utc

PURGE_BATCH = 5000
COLUMNS = ("id", "occurred_at", "type", "actor", "actor_id", "resource_type", "resource_id", "data")
_POSTGRES_APPEND = (
    "WITH c AS (INSERT INTO event_counter (workspace_id, last_seq) VALUES (%(ws)s, %(n)s) "
    "ON CONFLICT (workspace_id) DO UPDATE SET last_seq = event_counter.last_seq + EXCLUDED.last_seq "
    "RETURNING last_seq) "
    "INSERT INTO event (workspace_id, seq, id, occurred_at, type, actor, actor_id, resource_type, "
    "resource_id, data) "
    "SELECT %(ws)s, c.last_seq - %(n)s + v.k, v.id, v.occurred_at, v.type, v.actor, v.actor_id, "
    "v.resource_type, v.resource_id, CAST(v.data AS jsonb) FROM c, "
    "unnest(%(id)s::text[], %(occurred_at)s::timestamp[], %(type)s::text[], %(actor)s::text[], "
    "%(actor_id)s::text[], %(resource_type)s::text[], %(resource_id)s::text[], %(data)s::text[]) "
    "WITH ORDINALITY AS v(id, occurred_at, type, actor, actor_id, resource_type, resource_id, data, k)"
)
_POSTGRES_APPEND_ONE = (  # the common case, one event: no arrays to build and escape
    "WITH c AS (INSERT INTO event_counter (workspace_id, last_seq) VALUES (%(ws)s, 1) "
    "ON CONFLICT (workspace_id) DO UPDATE SET last_seq = event_counter.last_seq + 1 RETURNING last_seq) "
    "INSERT INTO event (workspace_id, seq, id, occurred_at, type, actor, actor_id, resource_type, "
    "resource_id, data) "
    "SELECT %(ws)s, c.last_seq, %(id)s, %(occurred_at)s, %(type)s, %(actor)s, %(actor_id)s, "
    "%(resource_type)s, %(resource_id)s, CAST(%(data)s AS jsonb) FROM c"
)
_SQLITE_APPEND = (
    "INSERT INTO event (workspace_id, seq, id, occurred_at, type, actor, actor_id, resource_type, "
    "resource_id, data) VALUES (:ws, (SELECT COALESCE(MAX(seq), (SELECT last_seq FROM event_counter "
    "WHERE workspace_id = :ws), 0) + 1 FROM event WHERE workspace_id = :ws), :id, :occurred_at, :type, "
    ":actor, :actor_id, :resource_type, :resource_id, :data)"
)
_SQLITE_KEEP_LAST = text(
    "INSERT INTO event_counter (workspace_id, last_seq) SELECT workspace_id, MAX(seq) FROM event "
    "WHERE id IN :ids GROUP BY workspace_id "
    "ON CONFLICT (workspace_id) DO UPDATE SET last_seq = MAX(event_counter.last_seq, excluded.last_seq)"
).bindparams(bindparam("ids", expanding=True))


def append(session: Session, workspace_id: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the workspace's event rows (``COLUMNS``; ``occurred_at`` aware, ``data`` a
    JSON-serialisable dict, each serialised once here) in the session's transaction, numbered
    ``seq`` in their order after the workspace's last; see the module docstring for how each
    database keeps the numbers gap-free and in commit order. Nothing for no rows."""
    if not rows:
        return
    cursor = session.connection().connection.cursor()
    try:
        if session.get_bind().dialect.name == "postgresql" and len(rows) == 1:
            row = rows[0]
            cursor.execute(_POSTGRES_APPEND_ONE, {
                **{column: row[column] for column in COLUMNS}, "ws": workspace_id,
                "occurred_at": naive_utc(row["occurred_at"]), "data": json_text.dumps(row["data"])})
        elif session.get_bind().dialect.name == "postgresql":
            params: dict[str, Any] = {column: [row[column] for row in rows] for column in COLUMNS}
            params["occurred_at"] = [naive_utc(moment) for moment in params["occurred_at"]]
            params["data"] = [json_text.dumps(data) for data in params["data"]]
            cursor.execute(_POSTGRES_APPEND, {**params, "ws": workspace_id, "n": len(rows)})
        else:
            cursor.executemany(_SQLITE_APPEND, [
                {**{column: row[column] for column in COLUMNS}, "ws": workspace_id,
                 "occurred_at": naive_utc(row["occurred_at"]).strftime(SQLITE_DATETIME),
                 "data": json_text.dumps(row["data"])} for row in rows])
    finally:
        cursor.close()


def page(session: Session, workspace_id: str, after_seq: int, limit: int,
         types: Sequence[str] = ()) -> list[Any]:
    """Up to ``limit`` events of the workspace with ``seq > after_seq``, in seq order, of
    ``types`` when given (the (workspace_id, seq) or (workspace_id, type, seq) index). Rows
    with the columns of models.Event as attributes (Core rows: no ORM identity work per row)."""
    table = Event.__table__
    statement = select(table).where(table.c.workspace_id == workspace_id, table.c.seq > after_seq)
    if types:
        statement = statement.where(table.c.type.in_(list(types)))
    return list(session.execute(statement.order_by(table.c.seq).limit(limit)))


def last_seq(session: Session, workspace_id: str) -> int:
    """The workspace's newest seq (0 before its first event): the counter's, or on SQLite the
    newest stored event's when it is higher (see the module docstring)."""
    counter = select(EventCounter.last_seq.label("seq")).where(EventCounter.workspace_id == workspace_id)
    newest = select(func.max(Event.seq).label("seq")).where(Event.workspace_id == workspace_id)
    both = union_all(counter, newest).subquery()
    return int(session.scalar(select(func.max(both.c.seq))) or 0)


def oldest_seq(session: Session, workspace_id: str) -> int | None:
    """The lowest seq still stored for the workspace (older ones were purged), or None."""
    found = session.scalar(select(Event.seq).where(Event.workspace_id == workspace_id)
                           .order_by(Event.seq).limit(1))
    return None if found is None else int(found)


def purge_batch(session: Session, before: datetime) -> int:
    """Delete up to ``PURGE_BATCH`` events that occurred before ``before`` (their deliveries go
    with them, ON DELETE CASCADE); returns how many. Run it until it returns less than a batch.
    On SQLite the counter keeps the last seq deleted, so numbering never goes back (module
    docstring); on PostgreSQL the counter is always ahead."""
    ids = list(session.scalars(select(Event.id).where(Event.occurred_at < before).limit(PURGE_BATCH)))
    if ids:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(_SQLITE_KEEP_LAST, {"ids": ids})
        session.execute(delete(Event).where(Event.id.in_(ids)))
    return len(ids)
