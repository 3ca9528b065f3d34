"""Core statements run on the driver's cursor: SQLAlchemy compiles each once per database, and a
run binds the values through the types' own bind processors, runs the SQL as the driver runs it
and converts the columns back through the types' result processors, so values go in and come
back exactly as through SQLAlchemy's execution.

SQLAlchemy's execution of an already compiled statement (its execution context, cursor
result, events) costs about 20 µs of Python against 2 µs for the driver's own call
(docs/decisions.md, "A lean request path"): more than most of the statements of a SCIM
request take in SQLite. :func:`execute` is the statement run in a session's transaction: on
SQLite on the driver's cursor, with a driver error raised as SQLAlchemy raises it
(``DBAPIError.instance``: an ``IntegrityError``, an ``OperationalError``); on PostgreSQL, whose
statements each wait for a round trip, through SQLAlchemy as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Delete, Dialect, Insert, Select, Update, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached

Statement = Select[*tuple[Any, ...]] | Insert | Update | Delete
"""What :func:`prepare` takes."""


class NotPrepared(Exception):
    """A statement whose SQL text is rendered at execution (an expanding ``IN``)."""


@dataclass(frozen=True)
class Prepared:
    """One statement compiled for one database, ready for the driver."""

    sql: str
    names: tuple[str, ...]  # the binds, in the order of the SQL's ``?`` where positional
    defaults: dict[str, Any]  # values of the binds the statement holds itself (a LIMIT)
    binders: tuple[Callable[[Any], Any] | None, ...]
    readers: tuple[Callable[[Any], Any] | None, ...]  # of the columns it returns
    positional: bool

    def bind(self, parameters: dict[str, Any]) -> list[Any] | dict[str, Any]:
        """The driver's parameters for ``parameters`` (a value per bind name)."""
        values = []
        for name, binder in zip(self.names, self.binders, strict=True):
            value = parameters[name] if name in parameters else self.defaults[name]
            values.append(binder(value) if binder is not None else value)
        return values if self.positional else dict(zip(self.names, values, strict=True))

    def convert(self, rows: Sequence[Any]) -> list[tuple[Any, ...]]:
        """``rows`` as the driver returned them, each column as its type reads it."""
        readers = self.readers
        if not any(readers):
            return [tuple(row) for row in rows]
        return [tuple(read(value) if read is not None else value
                      for read, value in zip(readers, row, strict=True)) for row in rows]


_PREPARED: dict[tuple[Statement, str], Prepared] = {}


def prepare(statement: Statement, dialect: Dialect) -> Prepared:
    """``statement`` (a module-level statement: it is compiled once and kept) for ``dialect``;
    NotPrepared for one whose SQL depends on its values."""
    key = (statement, dialect.name)
    found = _PREPARED.get(key)
    if found is not None:
        return found
    compiled = statement.compile(dialect=dialect)
    # positional (SQLite's ``?``): the binds in the SQL's order, a name once per use
    names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(compiled.binds)
    if compiled.post_compile_params or any(compiled.binds[name].expanding for name in names):
        raise NotPrepared()
    binds = [compiled.binds[name] for name in names]
    columns = getattr(statement, "exported_columns", ())
    found = Prepared(
        sql=compiled.string, names=names,
        defaults={name: bind.value for name, bind in zip(names, binds, strict=True)
                  if bind.value is not None},
        binders=tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds),
        readers=tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                      for column in columns),
        positional=dialect.positional,
    )
    _PREPARED[key] = found
    return found


@dataclass(frozen=True)
class Outcome:
    """What a statement gave back: its rows (none for an UPDATE without RETURNING) and the
    driver's count of rows it changed."""

    rows: list[tuple[Any, ...]]
    rowcount: int


def execute(session: Session, statement: Statement, parameters: dict[str, Any]) -> Outcome:
    """``statement`` (see :func:`prepare`) with ``parameters`` in ``session``'s transaction:
    on SQLite on the driver's cursor of the session's connection, elsewhere through SQLAlchemy.
    Errors are SQLAlchemy's (``sqlalchemy.exc.DBAPIError`` and its kinds) either way."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        result = connection.execute(statement, parameters)
        return Outcome([tuple(row) for row in result] if result.returns_rows else [], result.rowcount)
    return run(connection.connection.driver_connection, dialect, prepare(statement, dialect), parameters)


def run(driver: Any, dialect: Dialect, prepared: Prepared, parameters: dict[str, Any]) -> Outcome:
    """``prepared`` with ``parameters`` on the DBAPI connection ``driver`` (of ``dialect``),
    a driver error raised as SQLAlchemy raises it (``DBAPIError.instance``: an
    ``IntegrityError``, an ``OperationalError``; the driver's own error is its ``orig``)."""
    error_base = dialect.loaded_dbapi.Error
    try:
        cursor = driver.execute(prepared.sql, prepared.bind(parameters))
        rows = cursor.fetchall() if cursor.description is not None else []
    except error_base as error:
        raise DBAPIError.instance(prepared.sql, None, error, error_base, hide_parameters=True,
                                  dialect=dialect) from error
    return Outcome(prepared.convert(rows), cursor.rowcount)


M = TypeVar("M")


def load_one(session: Session, model: type[M], statement: Statement, parameters: dict[str, Any],
             primary_key: tuple[Any, ...], *, elsewhere: Select[Any]) -> M | None:
    """The row of ``statement`` (a SELECT of every column of ``model``'s table, in the table's
    order, which finds at most the row of ``primary_key``) as the session's persistent
    ``model``: the session's own object of that key when it holds one, as the ORM's query gives
    it, else one made from the row, with nothing to flush. On SQLite the row is read on the
    driver's cursor (:func:`execute`), the ORM's query costing several times the statement; a
    SQLite write transaction holds the whole database, so there is no row lock to take.
    Elsewhere the ORM's query ``elsewhere`` answers (with the row lock it takes)."""
    if session.get_bind().dialect.name != "sqlite":
        found: M | None = session.scalar(elsewhere, parameters)
        return found
    rows = execute(session, statement, parameters).rows
    if not rows:
        return None
    mapper = inspect(model)
    held = session.identity_map.get(mapper.identity_key_from_primary_key(primary_key))
    if isinstance(held, model):
        return held
    made = model(**dict(zip(mapper.local_table.columns.keys(), rows[0], strict=True)))
    make_transient_to_detached(made)  # the row exists: the session takes it as loaded, not new
    session.add(made)
    return made
