"""Structured logs: one JSON object per line on stderr, with the request's context fields."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

CONTEXT_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "workspace_id", "client")


class JsonFormatter(logging.Formatter):
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
    plain = logging.Formatter("%(levelname)s %(name)s %(message)s")
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
