"""services.audit_journal against a real database (SQLite and PostgreSQL): bounded memory,
batches, every row once, a failed flush keeps its rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from scimgate.services import audit
from scimgate.services.audit import AuditRecord
from scimgate.services.audit_journal import AuditJournal
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, session_factory, transaction
from scimgate.storage.models import AuditEvent


@pytest.fixture(scope="module")
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def rows(count: int) -> tuple[str, list[dict[str, object]]]:
    """``count`` audit rows of one fresh path (so a test finds its own)."""
    path = f"/api/scim/v2/Users/{uuid.uuid4()}"
    record = AuditRecord(request_id="", method="GET", path=path, client="other")
    made = []
    for n in range(count):
        record.request_id = f"r{n}"
        made.append(audit.row(record, 200, 0.1))
    return path, made


def logged(sessions: sessionmaker[Session], path: str) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.request_id).where(AuditEvent.path == path)
                                    .order_by(AuditEvent.id)))


def test_memory_is_bounded_and_every_row_is_written_once(sessions: sessionmaker[Session]) -> None:
    """At most ``capacity`` rows wait: an append to a full journal flushes it first; nothing lost
    or doubled, in order."""
    journal = AuditJournal(lambda: transaction(sessions), capacity=10, batch=4, interval=3600)
    path, made = rows(25)
    for row in made:
        journal.append(row)
        assert len(journal) <= 10
    assert 0 < len(logged(sessions, path)) < 25  # the full journal flushed itself; the rest waits
    journal.close()
    assert len(journal) == 0
    assert logged(sessions, path) == [f"r{n}" for n in range(25)]


def test_writer_thread_flushes_without_shutdown(sessions: sessionmaker[Session]) -> None:
    """A started journal writes its rows on its own (no close); ``close`` then has nothing left."""
    journal = AuditJournal(lambda: transaction(sessions), interval=0.01)
    journal.start()
    path, made = rows(3)
    for row in made:
        journal.append(row)
    for _ in range(1500):  # up to 15 s
        if len(logged(sessions, path)) == 3:
            break
        time.sleep(0.01)
    assert logged(sessions, path) == ["r0", "r1", "r2"]
    journal.close()
    assert logged(sessions, path) == ["r0", "r1", "r2"]


def test_a_failed_flush_keeps_its_rows(sessions: sessionmaker[Session]) -> None:
    """A flush whose transaction fails raises and keeps the rows; the next flush writes them once."""
    failing = True

    @contextmanager
    def flaky() -> Iterator[Session]:
        with transaction(sessions) as session:
            yield session
            if failing:
                raise ConnectionError("database away")

    journal = AuditJournal(flaky, interval=3600)
    path, made = rows(3)
    for row in made:
        journal.append(row)
    with pytest.raises(ConnectionError):
        journal.flush()
    assert len(journal) == 3 and logged(sessions, path) == []
    failing = False
    assert journal.flush() == 3
    assert logged(sessions, path) == ["r0", "r1", "r2"]
