"""Event storage: the outbox rows, their per-workspace sequence, paging and the retention purge.

Sequence numbers come from one ``event_counter`` row per workspace, raised by the number of
events a transaction writes in a single upsert (``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING``, on both databases). On PostgreSQL the row stays locked until the transaction ends,
so a second transaction of the same workspace waits there and takes the numbers after the first
one's: numbers are gap-free and follow commit order, which is what lets a reader page by
``seq > cursor`` without ever skipping an event committed late. SQLite runs one writer at a time.
The caller takes the counter as late as it can (events.outbox writes at commit), so the lock is
held for the last moments of the transaction only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from scimgate.storage.models import Event, EventCounter

PURGE_BATCH = 5000
_INSERT = insert(Event.metadata.tables[Event.__tablename__])


def _upsert(dialect_insert: Any) -> Any:
    """``INSERT (workspace, n) ... ON CONFLICT DO UPDATE SET last_seq = last_seq + n RETURNING
    last_seq``, built once per dialect (a statement built per call costs more than running it)."""
    table = EventCounter.__table__
    statement = dialect_insert(table).values(workspace_id=bindparam("workspace_id"),
                                             last_seq=bindparam("count"))
    return statement.on_conflict_do_update(
        index_elements=[table.c.workspace_id],
        set_={"last_seq": table.c.last_seq + statement.excluded.last_seq},
    ).returning(table.c.last_seq)


_UPSERTS = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}


def allocate(session: Session, workspace_id: str, count: int) -> int:
    """Reserve ``count`` (>= 1) sequence numbers for the workspace; returns the first. Locks the
    workspace's counter row until commit on PostgreSQL (see the module docstring)."""
    statement = _UPSERTS[session.get_bind().dialect.name]
    last = int(session.connection().execute(statement, {"workspace_id": workspace_id, "count": count})
               .scalar_one())
    return last - count + 1


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert event rows (columns of models.Event): one row with a prepared INSERT, more as an
    executemany, which SQLAlchemy sends to PostgreSQL as multi-row INSERTs of up to 1,000 rows
    ("insertmanyvalues") and SQLite runs natively; a statement built with ``.values(rows)``
    instead would be compiled anew for every batch, which costs more than the rows."""
    if rows:
        session.connection().execute(_INSERT, list(rows))


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
    """The workspace's newest allocated seq (0 before its first event)."""
    found = session.scalar(select(EventCounter.last_seq).where(EventCounter.workspace_id == workspace_id))
    return int(found or 0)


def oldest_seq(session: Session, workspace_id: str) -> int | None:
    """The lowest seq still stored for the workspace (older ones were purged), or None."""
    found = session.scalar(select(Event.seq).where(Event.workspace_id == workspace_id)
                           .order_by(Event.seq).limit(1))
    return None if found is None else int(found)


def purge_batch(session: Session, before: datetime) -> int:
    """Delete up to ``PURGE_BATCH`` events that occurred before ``before`` (their deliveries go
    with them, ON DELETE CASCADE); returns how many. Run it until it returns less than a batch."""
    ids = list(session.scalars(select(Event.id).where(Event.occurred_at < before).limit(PURGE_BATCH)))
    if ids:
        session.execute(delete(Event).where(Event.id.in_(ids)))
    return len(ids)
