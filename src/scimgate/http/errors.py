"""The one place errors become HTTP responses, each in its surface's format (``http.surfaces``):
RFC 7644 §3.12 JSON under the SCIM prefix, the admin API's JSON, HTML admin pages, plain text.

SCIM errors keep their status and ``scimType``; framework errors (404 route, 405 method, 422
validation) are rewritten as SCIM errors first; anything unexpected is a 500 whose detail is the
request id, never a traceback (the traceback goes to the log, once, keyed by that id). The
unexpected-error path is :func:`unexpected_error_response`, called by the edge middleware, so the
exception never reaches the server: uvicorn would log it a second time and drop the connection
after a complete response without ``Connection: close``.
"""

from __future__ import annotations

import logging
import time
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from scimgate.config import SCIM_PREFIX
from scimgate.http.allow import allowed_methods
from scimgate.http.execute import record_failure
from scimgate.http.metrics import count_failure
from scimgate.http.responses import scim_response
from scimgate.http.surfaces import error_headers, register_surface, render_error
from scimgate.scim.errors import (
    InternalErrorException,
    InvalidValueException,
    MethodNotAllowedException,
    NotFoundException,
    ScimError,
    UnauthorizedException,
    error_document,
)

log = logging.getLogger("scimgate.http")


def error_response(exc: ScimError) -> Response:
    """The SCIM error response for ``exc`` with the headers its status requires."""
    headers = error_headers(exc)
    if isinstance(exc, UnauthorizedException):
        headers["WWW-Authenticate"] = 'Bearer realm="scimgate"'
    return scim_response(error_document(exc), exc.status, headers)


def _routing_error(request: Request, status: int) -> ScimError:
    """A framework routing failure as a SCIM error: 405 with ``Allow`` when the path answers
    other methods, else 404 (for a 404, or a 405 of a path that answers nothing)."""
    allow = allowed_methods(request) if status == 405 else ()
    if allow:
        return MethodNotAllowedException(allow=allow, detail=f"{request.method} is not supported "
                                         f"on this endpoint; it answers {', '.join(allow)}.")
    if status in (404, 405):
        where = "SCIM endpoint" if request.url.path.startswith(SCIM_PREFIX) else "page or endpoint"
        return NotFoundException(detail=f"No {where} at {request.url.path}.")
    generic = ScimError(detail=HTTPStatus(status).phrase)
    generic.status = status
    return generic


async def unexpected_error_response(request: Request, exc: Exception) -> Response:
    """The 500 for an exception nothing handled: logged once with its traceback and the request
    id, audited and counted, answered in the surface's format with the request id as detail."""
    request_id = getattr(request.state, "request_id", "unknown")
    log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
    internal = InternalErrorException(detail=f"Internal server error; request id {request_id}.")
    await audit_failure(request, internal)
    count_failure(request.url.path, internal)
    return render_error(request, internal)


async def audit_failure(request: Request, exc: ScimError) -> None:
    """Record a failure raised outside ``execute`` (bad body, 403, 429, 500) for an
    authenticated request, so that every such request has its one audit_event (issue 2 §9)."""
    record = getattr(request.state, "audit", None)
    if record is None or record.recorded:
        return
    started = getattr(request.state, "audit_started", time.perf_counter())
    try:
        await run_in_threadpool(record_failure, request.app.state.scimgate, record, exc, started)
    except Exception:  # the answer matters more than its audit row; the log keeps the fault
        log.exception("could not write the audit event", extra={"request_id": record.request_id})


async def scim_error_response(request: Request, exc: ScimError) -> Response:
    """The answer to a SCIM error raised by a route (the handler of every ``ScimError``, also
    for the routes of http.scim_lane): audited once when the request was authenticated,
    counted, and rendered in the request's surface's format; a 405 lists what the path answers
    in ``Allow``."""
    if isinstance(exc, MethodNotAllowedException) and not exc.allow:
        exc.allow = allowed_methods(request)  # one source for every 405's Allow
    await audit_failure(request, exc)
    count_failure(request.url.path, exc)
    return render_error(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app`` and the SCIM surface's renderer. A 405 lists in ``Allow``
    what the path answers (http.allow); a path that answers no method at all is 404 instead."""
    register_surface(app, SCIM_PREFIX, lambda request, exc: error_response(exc))

    app.add_exception_handler(ScimError, scim_error_response)  # type: ignore[arg-type]

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return render_error(request, _routing_error(request, exc.status_code))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return render_error(request, InvalidValueException(detail="The request parameters are not valid."))
