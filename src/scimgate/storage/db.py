"""Engine and session factory for SQLite and PostgreSQL, and the one-transaction-per-request unit.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so several readers and one
writer (and several worker processes) share the file safely. Two kinds of unit of work:

- :func:`transaction` takes SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``), after queueing
  for the database's :class:`~scimgate.storage.writer_lock.WriterLock` (threads and worker
  processes wait their turn there instead of polling in SQLite's busy handler);
- :func:`snapshot` is a read-only unit: a deferred ``BEGIN`` on SQLite (no write lock: WAL
  readers never wait for the writer), a plain transaction on PostgreSQL. Nothing may be written
  in it: SQLite cannot always upgrade a deferred transaction to a write one.

:func:`run` is :func:`transaction` for a unit of work that may simply be run again: when
PostgreSQL aborts it for a deadlock or a serialization failure, or a row it references was
deleted by a concurrent commit (a foreign key violation), it runs again, up to
``RUN_ATTEMPTS`` times, then gives up with :class:`RetriesExhausted` (the HTTP edge answers 409).

Engines are made with ``hide_parameters=True``: a database error's message (which reaches the
log with a 500) then never holds a bound value such as an email, a name or a token hash.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import SingletonThreadPool

from scimgate.storage import json_text
from scimgate.storage.models import UNICODE_LOWER
from scimgate.storage.writer_lock import WriterLock

T = TypeVar("T")


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 (``postgresql+psycopg://``)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; creates the SQLite file (owner-only, see :func:`create_private_file`)
    and its folder when needed."""
    url = normalise_url(url)
    parsed = make_url(url)
    kwargs.setdefault("hide_parameters", True)
    kwargs.setdefault("json_serializer", json_text.dumps)
    kwargs.setdefault("json_deserializer", json_text.loads)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            create_private_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an empty file is an empty SQLite
    database). SQLite gives the ``-wal``, ``-shm`` and journal files it creates the database
    file's mode (its unix VFS copies it), so the whole database stays owner-only, like the secret
    key beside it; an existing file keeps the mode its operator gave it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _unicode_lower(value: Any) -> Any:
    """``UNICODE_LOWER`` of every SQLite connection (storage.models.lower)."""
    return value.lower() if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
    dbapi_connection.create_function(UNICODE_LOWER, 1, _unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


READ_ONLY = "scimgate_read_only"
"""Execution option of :func:`snapshot` sessions: their SQLite BEGIN is deferred."""


def _sqlite_begin(connection: Any) -> None:
    """Take SQLite's write lock at BEGIN, so concurrent writers queue instead of failing late;
    a read-only unit (:func:`snapshot`) begins deferred and takes no lock."""
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


_WRITER_LOCKS: dict[str, WriterLock] = {}  # by database file: every engine on one file shares its lock
_WRITER_LOCK_OF_URL: dict[URL, WriterLock] = {}  # the same, found without touching the file system
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_turn(factory: sessionmaker[Session]) -> AbstractContextManager[Any]:
    """The writer lock of the SQLite database behind ``factory`` (storage.writer_lock; one per
    database file); no lock for PostgreSQL, whose writers run side by side."""
    bind = factory.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return nullcontext()
    return _writer_lock(bind)


def _writer_lock(bind: Engine) -> WriterLock:
    """The writer lock of the SQLite database file behind ``bind``."""
    found = _WRITER_LOCK_OF_URL.get(bind.url)
    if found is not None:
        return found
    database = bind.url.database
    file = Path(database) if database and database != ":memory:" else None
    key = str(file.resolve()) if file else str(bind.url)
    with _WRITER_LOCKS_GUARD:
        if key not in _WRITER_LOCKS:
            _WRITER_LOCKS[key] = WriterLock(Path(key + "-writer.lock") if file else None)
        _WRITER_LOCK_OF_URL[bind.url] = _WRITER_LOCKS[key]
        return _WRITER_LOCKS[key]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that do not expire objects on commit (responses are rendered after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


def read_only_factory(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions like ``factory``'s whose transactions are :func:`snapshot` ones."""
    return sessionmaker(factory.kw["bind"].execution_options(**{READ_ONLY: True}), expire_on_commit=False)


def loop_reader_factory(engine: Engine) -> sessionmaker[Session] | None:
    """Read-only (:func:`snapshot`) sessions for the event loop's own thread, or None.

    On a SQLite file: an engine of its own on the same file, holding one connection for the one
    thread that uses it (``SingletonThreadPool``), so a read answered on the event loop never
    waits for a connection that a worker thread holds. A WAL reader never waits for the writer,
    so such a read takes what its statements take (a primary-key lookup: tens of microseconds),
    less than the hop to a worker thread and back. None for PostgreSQL, whose every statement
    waits for a network round trip (its reads stay in worker threads), and for an in-memory
    SQLite database (a second engine would open another, empty, database)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    own = make_engine(engine.url.render_as_string(hide_password=False), poolclass=SingletonThreadPool,
                      pool_size=1)
    return sessionmaker(own.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


def loop_writer_factory(engine: Engine) -> sessionmaker[Session] | None:
    """Write sessions for the event loop's own thread on a SQLite file (:func:`run_now`), or
    None (PostgreSQL, in-memory SQLite: as :func:`loop_reader_factory`).

    An engine of its own on the same file, holding one connection for the one thread that uses
    it, which never waits for a lock: its busy timeout is 0, so a ``BEGIN IMMEDIATE`` that finds
    the database locked (by a program outside the writer lock) fails at once instead of holding
    up the loop; and it never checkpoints the WAL at commit (``wal_autocheckpoint=0``: a
    checkpoint syncs the files to disk), which :func:`checkpoint` does in a worker thread."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    own = make_engine(engine.url.render_as_string(hide_password=False), poolclass=SingletonThreadPool,
                      pool_size=1)
    event.listen(own, "connect", _never_wait)
    return sessionmaker(own, expire_on_commit=False)


def _never_wait(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def checkpoint(engine: Engine) -> None:
    """Copy what the WAL holds into the SQLite database file, without waiting for any reader or
    writer (``PRAGMA wal_checkpoint(PASSIVE)``, sqlite.org/pragma.html#pragma_wal_checkpoint),
    for the writes of :func:`loop_writer_factory`'s connection, which does not checkpoint
    itself. It holds the writer lock meanwhile: a checkpoint that writers keep adding to never
    completes, and SQLite starts the WAL again from its beginning only after a complete one
    (sqlite.org/wal.html, "Avoiding Excessively Large WAL Files"), as its automatic checkpoint,
    run by the committing writer itself, would. Blocks on disk I/O and on the lock: call it from
    a worker thread. It runs outside any transaction (on the pool's DBAPI connection: a
    checkpoint inside one is refused with SQLITE_LOCKED)."""
    with _writer_lock(engine):
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.fetchall()
            cursor.close()
        finally:
            connection.close()


class WriterBusy(Exception):
    """:func:`run_now` could not write without waiting: another writer holds the lock. Nothing
    was written; run the unit where it may wait (:func:`run`)."""


def _is_locked(error: OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED, extended codes included (sqlite.org/rescode.html; Python
    3.11's ``sqlite_errorcode``)."""
    code = getattr(error.orig, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED


def run_now(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """``work(session)`` in one write transaction of ``factory`` (a :func:`loop_writer_factory`),
    only if it can run without waiting for a lock: the database's writer lock is taken without
    waiting (storage.writer_lock ``acquire_now``) and SQLite's ``BEGIN IMMEDIATE`` runs with no
    busy timeout. Raises :class:`WriterBusy` when either is held elsewhere, or when SQLite
    answers "locked" later in the unit (rolled back, nothing committed); any other exception
    rolls back and propagates. In WAL mode a transaction that holds the write lock waits for
    nothing else (a commit does not wait for readers: sqlite.org/wal.html), so the unit costs
    only its own work."""
    lock = _writer_lock(factory.kw["bind"])
    if not lock.acquire_now():
        raise WriterBusy()
    try:
        with factory() as session:
            try:
                with session.begin():
                    return work(session)
            except OperationalError as error:
                if _is_locked(error):
                    raise WriterBusy() from error
                raise
    finally:
        lock.release()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work that may write: commit on success, roll back on any exception."""
    with _writer_turn(factory), factory() as session, session.begin():
        yield session


@contextmanager
def snapshot(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One read-only unit of work from a :func:`read_only_factory` (see the module docstring)."""
    with factory() as session, session.begin():
        yield session


RUN_ATTEMPTS = 4
RETRIED_SQLSTATES = {
    "40P01": "deadlock_detected",
    "40001": "serialization_failure",
    "23503": "foreign_key_violation",
}
"""PostgreSQL error codes (PostgreSQL manual, Appendix A "Error Codes") after which the whole
unit of work is run again: the first two are PostgreSQL's own advice ("the transaction should be
retried", §13.6 and §13.2.3), the third means a row the unit read was deleted by a transaction
that committed meanwhile, which the next run sees."""


def is_retried(error: BaseException) -> bool:
    """Whether ``error`` is a database error of ``RETRIED_SQLSTATES``."""
    if not isinstance(error, DBAPIError):
        return False
    return getattr(error.orig, "sqlstate", None) in RETRIED_SQLSTATES


class RetriesExhausted(RuntimeError):
    """Every run of a :func:`run` unit failed with a retried database error (its ``__cause__``)."""


def run(factory: sessionmaker[Session], work: Callable[[Session], T], attempts: int = RUN_ATTEMPTS) -> T:
    """``work(session)`` in a :func:`transaction`, run again (at most ``attempts`` runs in all)
    while it fails with a retried database error (see ``RETRIED_SQLSTATES``); each run starts
    from nothing, as the failed one was rolled back. Raises RetriesExhausted when the last run
    fails so, any other exception at once."""
    for attempt in range(1, attempts + 1):
        try:
            with transaction(factory) as session:
                return work(session)
        except DBAPIError as error:
            if not is_retried(error):
                raise
            if attempt == attempts:
                raise RetriesExhausted() from error
    raise AssertionError("unreachable: attempts must be at least 1")
