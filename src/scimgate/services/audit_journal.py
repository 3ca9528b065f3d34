"""The audit journal: the provisioning-log rows of reads, written in batches by one writer.

A read (GET, ``POST .../.search``) changes nothing, so its ``audit_event`` row need not commit
with anything: inserting it in the request would turn every read into a write transaction (on
SQLite, the database-wide writer lock). Instead the request appends the row here and one writer
thread per process inserts what is pending as one multi-row INSERT every
``FLUSH_INTERVAL_SECONDS`` (storage.audit.insert_rows). Writes keep their row in their own
transaction (http.execute).

Guarantees:

- every appended row is inserted exactly once: a batch is taken off the journal only after its
  transaction committed; a failed flush keeps the rows for the next one;
- memory is bounded: at most ``capacity`` rows wait; a request that finds the journal full
  flushes it itself before appending (back-pressure, never a dropped row);
- :meth:`AuditJournal.close` (the app's shutdown) stops the writer and flushes the rest, and
  :meth:`AuditJournal.flush` lets a reader of the log (the admin pages) see this process's rows.

Loss window: a process killed without shutdown (SIGKILL, power loss) loses the rows not yet
flushed: at most ``FLUSH_INTERVAL_SECONDS`` of reads of that process, and never more than
``capacity`` rows. Write requests lose nothing (their row commits with the change).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from scimgate.storage.audit import insert_rows

log = logging.getLogger("scimgate.audit")

FLUSH_INTERVAL_SECONDS = 0.2
JOURNAL_CAPACITY = 10_000
JOURNAL_BATCH = 500

Transaction = Callable[[], Any]
"""A callable returning a context manager that yields a Session in a write transaction."""


class AuditJournal:
    """Pending ``audit_event`` rows of one process and the thread that writes them.

    ``transaction()`` opens a write transaction (storage.db.transaction over the app's
    sessions); ``capacity`` bounds the rows waiting; ``batch`` bounds one INSERT's rows."""

    def __init__(self, transaction: Transaction, capacity: int = JOURNAL_CAPACITY,
                 batch: int = JOURNAL_BATCH, interval: float = FLUSH_INTERVAL_SECONDS):
        self._transaction = transaction
        self._capacity = capacity
        self._batch = batch
        self._interval = interval
        self._pending: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()  # guards _pending
        self._flushing = threading.Lock()  # one flush at a time, so rows go in order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        """Start the writer thread (once; in the serving process, after any fork)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="scimgate-audit-journal", daemon=True)
            self._thread.start()

    def append(self, row: dict[str, Any]) -> None:
        """Queue one row (services.audit.row); flushes first, in the caller's thread, when
        ``capacity`` rows are already waiting."""
        if len(self._pending) >= self._capacity:
            self.flush()
        with self._lock:
            self._pending.append(row)
        if len(self._pending) >= self._batch:
            self._wake.set()

    def flush(self) -> int:
        """Insert every pending row (in batches of ``batch``, each one transaction); returns
        how many were inserted. Raises the database's error, keeping the rows of the failed batch."""
        written = 0
        with self._flushing:
            while self._pending:
                with self._lock:
                    rows = [self._pending[i] for i in range(min(self._batch, len(self._pending)))]
                with self._transaction() as session:
                    insert_rows(session, rows)
                with self._lock:
                    for _ in rows:
                        self._pending.popleft()
                written += len(rows)
        return written

    def close(self) -> None:
        """Stop the writer and flush what is left (the app's shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the database may be briefly away; the rows wait for the next flush
                log.exception("could not flush the audit journal (%d rows wait)", len(self._pending))
