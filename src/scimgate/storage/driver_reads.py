"""One-statement reads run by the driver's cursor: on the event loop's own SQLite connection, or
on PostgreSQL's autocommit connections in worker threads.

A GET by id or a ``userName eq`` lookup is one indexed SELECT. Run through a read-only
session (storage.db.snapshot) it cost about four times the statement: the session, the pool's
check-out and return, the ``BEGIN`` and ``COMMIT`` (each a SQLAlchemy execution of its own) and
the execution context of the SELECT (docs/decisions.md, "Reads by the driver's cursor").
:class:`DriverReads` runs such a statement as the driver runs it: SQLAlchemy compiles it once for
SQLite, and each read binds the values through the types' own bind processors, runs the SQL
on one ``sqlite3`` connection in autocommit mode and converts the columns through the types'
result processors, so a value reads back exactly as through a session.

Without ``BEGIN`` each statement is its own read transaction, which in WAL mode sees one
committed state of the database (sqlite.org/isolation.html): a read of one statement is as
consistent as in a snapshot. A read that needs more (a second statement, an expanding ``IN``)
asks for a session with :class:`Unsupported`, and the caller runs it again in a snapshot.
The SQLite connection belongs to the event loop's thread. On PostgreSQL the same reads run in
worker threads on autocommit connections of their own (a statement's snapshot is as consistent
there, PostgreSQL manual §13.2.1), skipping the session and the BEGIN and COMMIT round trips.
Neither ever writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import SingletonThreadPool
from sqlalchemy.sql import Select

from scimgate.storage.db import make_engine
from scimgate.storage.prepared import NotPrepared, Prepared, execute, prepare, run


class Unsupported(Exception):
    """The read needs a session (storage.db.snapshot): more than one statement, or a
    statement :class:`DriverReads` does not run. Nothing was read that the caller keeps."""


class DriverReads:
    """Prebuilt SELECTs run on the driver's cursor (module docstring): on SQLite on one
    connection of its own, for the event loop's thread (``on_loop``); on PostgreSQL on a pool of
    autocommit connections of its own, for worker threads."""

    def __init__(self, engine: Engine, *, on_loop: bool):
        """``engine``: an engine of this object's own (:func:`driver_reads_for` makes it), used
        for its dialect and its connection set-up (SQLite's pragmas and ``UNICODE_LOWER``,
        psycopg's JSON loaders). ``on_loop``: one connection, opened on first use, for the event
        loop's thread (SQLite); else a connection of the engine's pool per read."""
        self.on_loop = on_loop
        self._engine = engine
        self._dialect = engine.dialect
        self._connection: Any = None  # the loop's one connection

    def rows(self, statement: Select[Any], parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of ``statement`` (a module-level SELECT, compiled once: storage.prepared)
        with ``parameters`` for its named binds, each column as its type reads it. Unsupported
        for a statement with an expanding bind; a database error as SQLAlchemy raises it."""
        try:
            ready = prepare(statement, self._dialect)
        except NotPrepared as refused:
            raise Unsupported() from refused
        if not self.on_loop:
            return self._pooled(ready, parameters)
        if self._connection is None:
            self._connection = self._engine.raw_connection()
        return run(self._connection.driver_connection, self._dialect, ready, parameters).rows

    def _pooled(self, ready: Prepared, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of ``ready`` on a connection of the pool. When the server closed it (a
        restart, a failover: ``Dialect.is_disconnect``), every connection of the pool is as
        dead, so the pool is replaced (``Engine.dispose(close=False)``, what SQLAlchemy's own
        disconnect handling does) and the read runs once more on a new connection."""
        for attempt in (1, 2):
            connection = self._engine.raw_connection()
            driver: Any = connection.driver_connection
            try:
                return run(driver, self._dialect, ready, parameters).rows
            except DBAPIError as error:
                if attempt == 2 or not self._dialect.is_disconnect(cast(Any, error.orig), driver, None):
                    raise
                connection.invalidate()
                self._engine.dispose(close=False)
            finally:
                connection.close()
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connections (the app's shutdown); a later read opens another."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()


READ_POOL_SIZE, READ_POOL_OVERFLOW = 4, 6
"""PostgreSQL connections a worker's DriverReads keeps, and may open beyond (docs/deploy.md)."""


def driver_reads_for(engine: Engine) -> DriverReads | None:
    """The app's DriverReads beside ``engine`` (the app's own), on an engine of its own: on a
    SQLite file one connection for the event loop's thread; on PostgreSQL a pool of
    ``AUTOCOMMIT`` connections without a ping at check-out (each read is one round trip instead
    of four: ping, BEGIN, the SELECT, COMMIT), for worker threads; None for an in-memory SQLite
    database (another engine would open another, empty, database)."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "postgresql":
        pooled = make_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=False,
                             pool_size=READ_POOL_SIZE, max_overflow=READ_POOL_OVERFLOW)
        return DriverReads(pooled, on_loop=False)
    if engine.url.database in (None, "", ":memory:"):
        return None
    return DriverReads(make_engine(url, poolclass=SingletonThreadPool, pool_size=1), on_loop=True)


Reads = Session | DriverReads
"""What a read-only storage function reads through: a session (any statement) or the loop's
DriverReads (one prebuilt SELECT at a time)."""


def fetch(reads: Reads, statement: Select[Any], parameters: dict[str, Any]) -> Sequence[Any]:
    """The rows of ``statement`` through ``reads`` (in a session: storage.prepared.execute)."""
    if isinstance(reads, DriverReads):
        return reads.rows(statement, parameters)
    return execute(reads, statement, parameters).rows


def session_of(reads: Reads) -> Session:
    """``reads`` when it is a session; Unsupported for DriverReads (the read runs again in a
    session)."""
    if isinstance(reads, DriverReads):
        raise Unsupported()
    return reads
