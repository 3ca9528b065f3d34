"""The one place errors become HTTP responses: RFC 7644 §3.12 JSON for every failure.

SCIM errors keep their status and ``scimType``; framework errors (404 route, 405 method, 422
validation) are rewritten in the same form; anything unexpected is a 500 whose detail is the
request id, never a traceback (the traceback goes to the log, keyed by that id).
"""

from __future__ import annotations

import logging
import time
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import PlainTextResponse, Response

from scimgate.config import SCIM_PREFIX
from scimgate.http.allow import allowed_methods
from scimgate.http.execute import record_failure
from scimgate.http.metrics import count_failure
from scimgate.http.responses import scim_response
from scimgate.scim.errors import (
    InternalErrorException,
    InvalidValueException,
    MethodNotAllowedException,
    NotFoundException,
    ScimError,
    TooManyRequestsException,
    UnauthorizedException,
    error_document,
)

log = logging.getLogger("scimgate.http")


def error_response(exc: ScimError) -> Response:
    """The SCIM error response for ``exc`` with the headers its status requires."""
    headers: dict[str, str] = {}
    if isinstance(exc, UnauthorizedException):
        headers["WWW-Authenticate"] = 'Bearer realm="scimgate"'
    if isinstance(exc, TooManyRequestsException):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, MethodNotAllowedException) and exc.allow:
        headers["Allow"] = ", ".join(exc.allow)
    return scim_response(error_document(exc), exc.status, headers)


def _plain_http_error(status: int, allow: tuple[str, ...]) -> Response:
    """A routing failure outside the SCIM endpoints: 405 with ``Allow`` when the path answers
    other methods, else 404 (for a 404 or a 405 of a path that answers nothing)."""
    if allow:
        return PlainTextResponse("Method Not Allowed", 405, headers={"Allow": ", ".join(allow)})
    if status in (404, 405):
        return PlainTextResponse("Not Found", 404)
    return PlainTextResponse(HTTPStatus(status).phrase, status)


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


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``. A 405 lists in ``Allow`` what the path answers
    (http.allow); a path that answers no method at all is 404 instead."""

    @app.exception_handler(ScimError)
    async def _scim(request: Request, exc: ScimError) -> Response:
        if isinstance(exc, MethodNotAllowedException) and not exc.allow:
            exc.allow = allowed_methods(request)  # one source for every 405's Allow
        await audit_failure(request, exc)
        count_failure(request.url.path, exc)
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        allow = allowed_methods(request) if exc.status_code == 405 else ()
        if not request.url.path.startswith(SCIM_PREFIX):  # admin pages, ops: plain text, not SCIM JSON
            return _plain_http_error(exc.status_code, allow)
        if allow:
            return error_response(MethodNotAllowedException(
                allow=allow, detail=f"{request.method} is not supported on this endpoint; it answers "
                f"{', '.join(allow)}."))
        if exc.status_code in (404, 405):
            return error_response(NotFoundException(detail=f"No SCIM endpoint at {request.url.path}."))
        generic = ScimError(detail=str(exc.detail))
        generic.status = exc.status_code
        return error_response(generic)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(InvalidValueException(detail="The request parameters are not valid."))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", "unknown")
        log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
        internal = InternalErrorException(detail=f"Internal server error; request id {request_id}.")
        await audit_failure(request, internal)
        count_failure(request.url.path, internal)
        return error_response(internal)
