"""One-statement reads on the event loop's own SQLite connection, run by the driver's cursor.

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
The connection belongs to the event loop's thread; it never writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import SingletonThreadPool
from sqlalchemy.sql import Select


class Unsupported(Exception):
    """The read needs a session (storage.db.snapshot): more than one statement, or a
    statement :class:`DriverReads` does not run. Nothing was read that the caller keeps."""


@dataclass(frozen=True)
class _Prepared:
    sql: str
    names: tuple[str, ...]  # the binds in the order of the SQL's ``?``
    defaults: dict[str, Any]  # values of the binds the statement holds itself (a LIMIT)
    binders: tuple[Callable[[Any], Any] | None, ...]
    readers: tuple[Callable[[Any], Any] | None, ...]


class DriverReads:
    """Prebuilt SELECTs run on one SQLite connection of its own (module docstring)."""

    def __init__(self, engine: Engine):
        """``engine``: an engine on the SQLite file, used for its dialect and its connection
        set-up (pragmas, the ``UNICODE_LOWER`` function); its one connection is opened on first
        use. Raises ValueError for another database."""
        if engine.dialect.name != "sqlite" or not isinstance(engine.pool, SingletonThreadPool):
            raise ValueError("DriverReads runs on an engine of its own on a SQLite file")
        self._engine = engine
        self._dialect = engine.dialect
        self._connection: Any = None
        self._prepared: dict[Select[Any], _Prepared] = {}

    def _prepare(self, statement: Select[Any]) -> _Prepared:
        compiled = statement.compile(dialect=self._dialect)
        if (compiled.positiontup is None or compiled.post_compile_params
                or any(compiled.binds[name].expanding for name in compiled.positiontup)):
            raise Unsupported()  # values the SQL text is rendered with at execution
        names = tuple(compiled.positiontup)
        binds = {name: compiled.binds[name] for name in names}
        prepared = _Prepared(
            sql=compiled.string, names=names,
            defaults={name: bind.value for name, bind in binds.items() if bind.value is not None},
            binders=tuple(bind.type.dialect_impl(self._dialect).bind_processor(self._dialect)
                          for bind in binds.values()),
            readers=tuple(column.type.dialect_impl(self._dialect).result_processor(self._dialect, None)
                          for column in statement.selected_columns),
        )
        self._prepared[statement] = prepared
        return prepared

    def rows(self, statement: Select[Any], parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of ``statement`` (a module-level SELECT, compiled once) with
        ``parameters`` for its named binds, each column as its type reads it. Unsupported for a
        statement with an expanding bind; a driver error (``sqlite3.Error``) as raised."""
        prepared = self._prepared.get(statement) or self._prepare(statement)
        values = []
        for name, binder in zip(prepared.names, prepared.binders, strict=True):
            value = parameters[name] if name in parameters else prepared.defaults[name]
            values.append(binder(value) if binder is not None else value)
        if self._connection is None:
            self._connection = self._engine.raw_connection()
        found = self._connection.driver_connection.execute(prepared.sql, values).fetchall()
        readers = prepared.readers
        if not any(readers):
            return found
        return [tuple(read(value) if read is not None else value
                      for read, value in zip(readers, row, strict=True)) for row in found]

    def close(self) -> None:
        """Close the connection (the app's shutdown); a later read opens another."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()


Reads = Session | DriverReads
"""What a read-only storage function reads through: a session (any statement) or the loop's
DriverReads (one prebuilt SELECT at a time)."""


def fetch(reads: Reads, statement: Select[Any], parameters: dict[str, Any]) -> Sequence[Any]:
    """The rows of ``statement`` through ``reads``."""
    if isinstance(reads, DriverReads):
        return reads.rows(statement, parameters)
    return reads.connection().execute(statement, parameters).all()


def session_of(reads: Reads) -> Session:
    """``reads`` when it is a session; Unsupported for DriverReads (the read runs again in a
    session)."""
    if isinstance(reads, DriverReads):
        raise Unsupported()
    return reads
