"""ASGI middleware at the edge: request ids, SCIM path normalisation, body size limit, access log.

- Every request gets an id (``X-Request-Id`` if the client sent a sane one, else a new UUID),
  echoed in the response and used in logs, audit rows and 500 details.
- Under the SCIM prefix, a trailing slash and doubled slashes are removed and endpoint names
  are matched case-insensitively, so ``https://host/api/scim/v2/`` + ``/Users`` and
  ``.../users/`` reach the same route (Entra builds URLs from what the admin pasted).
- A body larger than ``max_body_bytes`` is refused with 413 before it is read whole.
- A path or query string holding NUL (``%00``) is refused with 400 ``invalidValue``: no SCIM
  value holds it, and PostgreSQL would fail on it (a 500 otherwise). A SCIM path holding an
  encoded slash (``%2F``) is 404: no id holds one, and decoded it would be read as an empty
  segment (``/Users/%2F`` as ``/Users``).
- Refusals here are answered in the surface's format (``http.surfaces``), like every error.
- An exception nothing handled is answered here as a 500 (``errors.unexpected_error_response``)
  and goes no further: the server neither logs it twice nor drops the kept-alive connection. An
  exception after the response started (nothing left to answer with) still reaches uvicorn,
  which closes the connection, the only way left to tell the client the answer is cut short.
- ``HEAD`` is answered as the ``GET`` of the same URL without its body, headers included
  (RFC 9110 §9.3.2), wherever GET is answered.
- Every request is counted and timed for Prometheus (``http.metrics``), refusals included, and
  every response under ``/admin`` gets the admin pages' security headers (``admin.headers``).
- The busiest SCIM routes are called directly, past FastAPI's routing (``http.scim_lane``).
- One structured log line per request: request id, method, path (no query string: filters
  may hold personal data; a path segment that may be an email or a token is redacted), status,
  duration. Never a header, a token or a body.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scimgate.admin.headers import HEADERS as ADMIN_HEADERS
from scimgate.config import SCIM_PREFIX
from scimgate.http.errors import scim_error_response, unexpected_error_response
from scimgate.http.metrics import observe
from scimgate.http.scim_lane import Route, lane_for
from scimgate.http.surfaces import render_error
from scimgate.scim.errors import InvalidValueException, NotFoundException, PayloadTooLargeException, ScimError

log = logging.getLogger("scimgate.access")

ENDPOINTS = {name.lower(): name for name in (
    "Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas", ".search", "Bulk", "Me",
)}
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9._:-]{1,64}")
PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9._:-]{0,64})*")
REDACTED = "<redacted>"


class _RequestIds:
    """Request ids unique to this process: a random tag drawn at start (and again in a forked
    child) followed by a serial number, 32 hex digits like a UUID's. Not secret (a client may
    send its own), only unique; drawing 16 random bytes from the kernel per request cost more
    than counting."""

    def __init__(self) -> None:
        self._renew()
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self._tag = secrets.token_hex(8)
        self._serial = itertools.count(1)

    def next(self) -> str:
        return f"{self._tag}{next(self._serial):016x}"


_REQUEST_IDS = _RequestIds()


def loggable_path(path: str) -> str:
    """``path`` with every segment that might be personal data or a secret replaced by
    ``<redacted>``: one with characters other than letters, digits and ``._:-`` (an email's
    ``@``, a decoded ``?`` or space), longer than 64, or shaped like a token (``sg_``). Ids,
    endpoint names, schema URNs and domain names stay readable."""
    if PLAIN_PATH.fullmatch(path) and "/sg_" not in path:
        return path  # every segment plain: one match instead of one per segment
    return "/".join(
        segment if not segment or (PLAIN_SEGMENT.fullmatch(segment) and not segment.startswith("sg_"))
        else REDACTED
        for segment in path.split("/")
    )


def normalise_scim_path(path: str) -> str:
    """``/api/scim/v2//users/`` -> ``/api/scim/v2/Users`` (see the module docstring)."""
    if not path.lower().startswith(SCIM_PREFIX.lower()):
        return path
    rest = path[len(SCIM_PREFIX):]
    parts = [part for part in rest.split("/") if part]
    if parts:
        parts[0] = ENDPOINTS.get(parts[0].lower(), parts[0])
    if len(parts) == 2 and parts[1].lower() == ".search":
        parts[1] = ".search"
    return SCIM_PREFIX + ("/" + "/".join(parts) if parts else "")


def _declares_more(declared: bytes, limit: int) -> bool:
    """Whether a Content-Length header's digits say more than ``limit`` bytes; leading zeros are
    allowed (RFC 9110 §8.6: ``1*DIGIT``), so ``000...02`` is 2, however many zeros (Python's
    ``int`` refuses more than 4,300 digits)."""
    if not declared.isdigit():
        return False
    digits = declared.lstrip(b"0")
    return len(digits) > len(str(limit)) or int(digits or b"0") > limit


class EdgeMiddleware:
    """The middleware described in the module docstring. It also counts and times every request
    for Prometheus (``http.metrics.observe``) and adds the admin pages' security headers
    (``admin.headers``) to every response under ``/admin``: these were two middlewares of their
    own, and each layer cost a call and a wrapped ``send`` per request (docs/decisions.md,
    "A lean request path"). ``engine``: the pool the metrics sample after each request."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, engine: Engine | None = None):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        sent_id, declared = "", b""
        for name, value in scope.get("headers", ()):
            name = name.lower()
            if name == b"x-request-id":
                sent_id = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
        request_id = sent_id if REQUEST_ID.match(sent_id) else _REQUEST_IDS.next()
        path = scope["path"] = normalise_scim_path(scope["path"])
        scope.setdefault("state", {})["request_id"] = request_id
        added = [(b"x-request-id", request_id.encode())]
        if path == "/admin" or path.startswith("/admin/"):
            added += ADMIN_HEADERS
        status, started_response = 500, False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                message["headers"] = [*message.get("headers", ()), *added]
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            try:
                if _declares_more(declared, self.max_body_bytes):
                    await self._refuse(scope, send_with_id, PayloadTooLargeException(
                        detail=f"The request body is larger than {self.max_body_bytes} bytes."))
                elif "\x00" in path or b"%00" in scope.get("query_string", b"").lower():
                    await self._refuse(scope, send_with_id, InvalidValueException(
                        detail="The URL must not contain NUL (%00): no SCIM id, filter or parameter "
                        "holds it."))
                elif path.startswith(SCIM_PREFIX) and b"%2f" in (scope.get("raw_path") or b"").lower():
                    await self._refuse(scope, send_with_id, NotFoundException(
                        detail="No SCIM resource is at this URL: an encoded '/' (%2F) is in no SCIM id."))
                else:
                    lane = lane_for(scope["method"], path)
                    if lane is None:
                        await self.app(scope, self._limited(receive), send_with_id)
                    else:
                        await self._answer(lane, scope, self._limited(receive), send_with_id)
            except Exception as exc:
                if started_response:
                    raise
                response = await unexpected_error_response(Request(scope, receive), exc)
                await response(scope, receive, send_with_id)
        finally:
            observe(path, scope["method"], status, time.perf_counter() - started, self.engine)
            self._log(scope, request_id, status, started)

    @staticmethod
    async def _answer(lane: tuple[Route, tuple[str, ...]], scope: Scope, receive: Receive,
                      send: Send) -> None:
        """Answer a request of the SCIM lane (http.scim_lane) with its route function."""
        request = Request(scope, receive)
        route, arguments = lane
        try:
            response = await route(*arguments, request)
        except ScimError as exc:
            response = await scim_error_response(request, exc)
        await response(scope, receive, send)

    @staticmethod
    def _log(scope: Scope, request_id: str, status: int, started: float) -> None:
        log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": scope["method"],
                "path": loggable_path(scope["path"]),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "workspace_id": scope["state"].get("workspace_id"),
                "client": scope["state"].get("client"),
            },
        )

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise PayloadTooLargeException(
                        detail=f"The request body is larger than {self.max_body_bytes} bytes."
                    )
            return message

        return limited_receive

    @staticmethod
    async def _refuse(scope: Scope, send: Send, exc: ScimError) -> None:
        """Answer ``exc`` before the application sees the request, in the surface's format."""
        async def no_body() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        await render_error(Request(scope, no_body), exc)(scope, no_body, send)
