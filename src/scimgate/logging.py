"""Structured logs: one JSON object per line on stderr, with the request's context fields.

No log line holds personal data: a database error's message is never written, because
PostgreSQL's text quotes the row it refused ("Failing row contains (...)", "JSON data, line 1:
{...") and so the stored document. A logged database error keeps its class, its SQLSTATE, the
constraint it names and the traceback's frames (``safe_exception_text``).
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

DATABASE_MODULES = ("sqlalchemy", "psycopg", "sqlite3", "_sqlite3")


def _is_database_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in DATABASE_MODULES


def _describe(exc: BaseException) -> str:
    """``exc``'s last traceback line; for a database error its class, SQLSTATE and constraint only."""
    if not _is_database_error(exc):
        return "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    driver: Any = getattr(exc, "orig", None) or exc
    facts = [f"SQLSTATE {driver.sqlstate}"] if getattr(driver, "sqlstate", None) else []
    if getattr(driver, "sqlite_errorname", None):
        facts.append(str(driver.sqlite_errorname))
    constraint = getattr(getattr(driver, "diag", None), "constraint_name", None)
    if constraint:
        facts.append(f"constraint {constraint}")
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    return f"{name} ({', '.join(facts) or 'no SQLSTATE'}): message withheld, it may quote stored values"


def safe_exception_text(exc: BaseException) -> str:
    """The traceback of ``exc`` and the exceptions it was raised from or during, oldest first, with
    every database error described by ``_describe`` instead of its message."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{frames}{_describe(current)}")
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\n\nwhich led to:\n".join(reversed(parts))


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class SafeFormatter(logging.Formatter):
    """A plain-text formatter whose tracebacks hold no database error message."""

    def formatException(self, ei: ExcInfo) -> str:  # noqa: N802 (logging's name)
        return safe_exception_text(ei[1]) if ei[1] is not None else ""

CONTEXT_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "workspace_id", "client")


class JsonFormatter(SafeFormatter):
    """``{"time", "level", "logger", "message", <context fields>, "error"?}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


SERVER_LOGGERS = ("uvicorn", "uvicorn.error")


def configure_logging(json_lines: bool = True, level: int = logging.INFO) -> None:
    """Send scimgate's logs to stderr, as JSON lines or plain text.

    uvicorn's own messages (startup, shutdown, worker errors) get the same handler, so with JSON
    on every line of a worker's stderr is one JSON object. uvicorn's access log stays off: the
    edge middleware writes the one access line per request, without the query string.
    """
    handler = logging.StreamHandler(sys.stderr)
    plain = SafeFormatter("%(levelname)s %(name)s %(message)s")
    handler.setFormatter(JsonFormatter() if json_lines else plain)
    root = logging.getLogger("scimgate")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers[:] = [handler]
        server_logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
