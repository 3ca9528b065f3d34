"""One writer at a time on a SQLite database, queued without polling.

SQLite admits one write transaction at a time. When several threads or worker processes want it,
the losers of ``BEGIN IMMEDIATE`` wait in SQLite's busy handler, which polls with sleeps of up to
100 ms and serves no one in order: at 16 requests in flight the unlucky ones waited a second
(docs/benchmarks.md, "Provisioning mix" before this lock). :class:`WriterLock` puts the writers
in a queue before they reach SQLite: a thread lock inside a process, and an exclusive ``flock``
on a file beside the database between processes (Linux, macOS). A released lock wakes a waiter at
once. Programs that do not take the lock (a ``scimgate`` CLI command run beside the server,
``sqlite3``) still meet the writers in SQLite's busy handler, as before.

A writer that waits for the lock holds a shared ``flock`` on a second file (``<lock>.wait``) while
it waits. :meth:`WriterLock.acquire_now` (the event loop's writes: storage.db.run_now) gives up
when anyone holds that one: without it, a process whose loop writes one after another would take
the lock again each time it is released, before the woken waiter of another process runs, and
that process's writes would wait until the first had nothing left to write.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # Windows: the thread lock alone, and SQLite's busy handler between processes
    fcntl = None  # type: ignore[assignment]


class WriterLock:
    """Reentrant writer lock of one SQLite database file (``path``: the lock file beside it, or
    None for an in-memory database). Use it as a context manager around a write transaction."""

    def __init__(self, path: Path | None):
        self._path = path if fcntl is not None else None
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._waiting_fd: int | None = None
        self._pid = 0

    def __enter__(self) -> WriterLock:
        self._acquire(wait=True)
        return self

    def acquire_now(self) -> bool:
        """Take the lock if nobody holds it or waits for it, without waiting: True when taken
        (give it back with :meth:`release`), False when another thread or process holds it or
        waits for it (module docstring)."""
        return self._acquire(wait=False)

    def _acquire(self, *, wait: bool) -> bool:
        """The thread lock, then (outermost only) the file lock: waited for, saying so on the
        waiting file, or with ``wait`` False taken only if free and nobody waits for it."""
        if not self._thread_lock.acquire(blocking=wait):
            return False
        if self._depth == 0 and self._path is not None:
            try:
                if wait:
                    self._take_file_waiting()
                elif not self._take_file_now():
                    self._thread_lock.release()
                    return False
            except BaseException:
                self._thread_lock.release()
                raise
        self._depth += 1
        return True

    def _take_file_now(self) -> bool:
        """The file lock if it is free and no writer waits for it (the waiting file is free)."""
        try:
            waiting = self._waiting_file()
            fcntl.flock(waiting, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while anyone waits
            fcntl.flock(waiting, fcntl.LOCK_UN)
            fcntl.flock(self._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _take_file_waiting(self) -> None:
        """The file lock, waited for if need be, with the shared lock on the waiting file held
        while waiting."""
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waiting = self._waiting_file()
        fcntl.flock(waiting, fcntl.LOCK_SH)
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX)
        finally:
            fcntl.flock(waiting, fcntl.LOCK_UN)

    def release(self) -> None:
        """Give back a lock taken by :meth:`acquire_now`."""
        self.__exit__(None, None, None)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _file(self) -> int:
        """The lock file's descriptor, opened once per process (a descriptor inherited through
        fork shares its lock with the parent, so a child opens its own)."""
        if self._fd is None or self._pid != os.getpid():
            assert self._path is not None
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._waiting_fd = None
            self._pid = os.getpid()
        return self._fd

    def _waiting_file(self) -> int:
        """The waiting file's descriptor (see :meth:`_file`)."""
        self._file()
        if self._waiting_fd is None:
            assert self._path is not None
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
            self._waiting_fd = os.open(str(self._path) + ".wait", flags, 0o600)
        return self._waiting_fd
