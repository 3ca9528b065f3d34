"""A logged database error holds no stored value (scimgate.logging): PostgreSQL's message quotes
the refused row ("Key (name_lower)=(...) already exists"), SQLite's names the column; both log
formatters keep the error's class, SQLSTATE and constraint and withhold the message. A real
refused INSERT on each database, formatted as the server formats it."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from sqlalchemy.exc import IntegrityError

from scimgate.logging import JsonFormatter, SafeFormatter
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, session_factory, transaction
from scimgate.storage.models import Workspace

PERSONAL = "ada.lovelace.private@example.com"


def refused_insert(database_url: str) -> IntegrityError:
    """The IntegrityError of a second workspace named ``PERSONAL`` (name_lower is unique)."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    try:
        for _ in range(2):
            with transaction(sessions) as session:
                session.add(Workspace(id=str(uuid.uuid4()), name=PERSONAL, name_lower=PERSONAL))
    except IntegrityError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("the second INSERT was accepted")


@pytest.mark.parametrize("formatter", [SafeFormatter(), JsonFormatter()], ids=["text", "json"])
def test_a_database_error_is_logged_without_the_values_it_quotes(
    database_url: str, backend: str, formatter: logging.Formatter
) -> None:
    exc = refused_insert(database_url)
    if backend == "postgres":
        assert PERSONAL in str(exc)  # what would reach the log without the formatter
    record = logging.LogRecord("scimgate.http", logging.ERROR, __file__, 1, "unhandled error", None,
                               (type(exc), exc, exc.__traceback__))
    line = formatter.format(record)
    if isinstance(formatter, JsonFormatter):
        line = json.loads(line)["error"]
    assert PERSONAL not in line and "ada.lovelace" not in line
    assert "IntegrityError" in line and "message withheld" in line
    if backend == "postgres":
        assert "SQLSTATE 23505" in line and "constraint" in line
