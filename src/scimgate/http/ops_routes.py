"""Operations endpoints, outside the SCIM prefix and without authentication.

- ``GET /healthz``: 200 ``{"status": "ok"}`` while the process can answer (liveness).
- ``GET /readyz``: 200 when the database answers and its schema is not behind this code
  (``storage.migrate.is_behind``: at this code's newest migration, or at a newer one that a
  newer release applied during a rolling upgrade), else 503 with the reason (readiness: a load
  balancer stops sending traffic).
- ``GET /metrics``: Prometheus text exposition (``scimgate.http.metrics``).

They reveal no tenant data; still, expose ``/metrics`` only to the monitoring network
(docs/deploy.md).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from scimgate.http.deps import State
from scimgate.http.metrics import render_metrics
from scimgate.storage.migrate import is_behind

router = APIRouter()
log = logging.getLogger("scimgate.ops")


HEALTHY = b'{"status":"ok"}'


@router.get("/healthz")
async def healthz() -> Response:
    """Liveness: the process is up and its event loop answers (``async def``, a constant body:
    no threadpool hop, no JSON encoding per request)."""
    return Response(HEALTHY, media_type="application/json")


@router.get("/readyz")
def readyz(state: State) -> JSONResponse:
    """Readiness: ``SELECT 1`` succeeds and the schema is not behind (see the module docstring)."""
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        behind = is_behind(state.engine)
    except SQLAlchemyError as exc:
        log.warning("readiness check: database unreachable (%s)", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "reason": "database unreachable"}, status_code=503)
    if behind:
        reason = "database schema is not at the newest migration"
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics of every worker."""
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
