"""SQL terms that must not choose SQLite's plan.

Without ANALYZE statistics SQLite's planner sometimes walks an index that serves one term of a
query and tests the others on every row it meets, where another term names one row through a
unique index: an ORDER BY key walked instead of a filter's index (an ``externalId eq`` became a
scan of the workspace), or ``removed_at IS NULL`` (an index of every live member of the
workspace) walked instead of the member's id. A term wrapped in :func:`not_an_index` is
rendered ``+term`` on SQLite, which keeps its value and takes it out of the planner's choice
(SQLite docs, "The SQLite Query Optimizer Overview", "Disqualifying WHERE Clause Terms using
Unary-'+'"); PostgreSQL, which plans from statistics, gets the term unchanged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class NotAnIndex(ColumnElement[Any]):
    """``term`` with its value and type, never an index's key on SQLite (module docstring).

    Cacheable (its SQL depends on ``term`` only): with ``inherit_cache = False`` every
    statement holding one was compiled again on every execution (SQLAlchemy docs, "Enabling
    Caching Support for Custom Constructs")."""

    inherit_cache = True
    _traverse_internals = [("term", InternalTraversal.dp_clauseelement)]

    def __init__(self, term: ColumnElement[Any]):
        self.term = term
        self.type = term.type


@compiles(NotAnIndex)
def _unchanged(element: NotAnIndex, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.term, **kw)


@compiles(NotAnIndex, "sqlite")
def _unary_plus(element: NotAnIndex, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.term, **kw)


def not_an_index(term: Any) -> ColumnElement[Any]:
    """``term`` (a column or expression) as a :class:`NotAnIndex`."""
    return NotAnIndex(term)
