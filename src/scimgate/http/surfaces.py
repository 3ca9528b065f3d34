"""Every surface answers its errors in its own format: which surface a URL belongs to, and the
renderer that turns a failure there into a response.

Surfaces (ARCHITECTURE.md, "Errors"):

- ``/api/scim/v2``: RFC 7644 §3.12 Error JSON, ``application/scim+json`` (``http.errors``);
- ``/api/admin/v1``: the admin API's ``{"error": {"status", "code", "detail"}}`` JSON
  (``http.admin_api``);
- ``/admin``: an HTML error page (``admin.routes``);
- anything else (``/healthz``, ``/metrics``, unknown paths): plain text.

A failure is always described as a :class:`~scimgate.scim.errors.ScimError` (status, detail,
headers such as ``Allow`` or ``Retry-After``); the surface only decides its shape. Each surface
registers its renderer on the app (:func:`register_surface`); the edge middleware, the
framework's routing errors and unexpected exceptions all render through :func:`render_error`,
so no path of one surface can answer in another's format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Scope

from scimgate.scim.errors import (
    MethodNotAllowedException,
    ScimError,
    TooManyRequestsException,
    UnauthorizedException,
)

log = logging.getLogger("scimgate.http")

Renderer = Callable[[Request, ScimError], Response]


def error_headers(exc: ScimError) -> dict[str, str]:
    """The headers ``exc``'s status requires in any format: ``Allow`` on 405 (RFC 9110 §15.5.6),
    ``Retry-After`` on 429 (RFC 6585 §4). ``WWW-Authenticate`` is the surface's own (its realm)."""
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyRequestsException):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, MethodNotAllowedException) and exc.allow:
        headers["Allow"] = ", ".join(exc.allow)
    return headers


def plain_error(request: Request, exc: ScimError) -> Response:
    """The format of URLs outside every registered surface: ``<detail>\\n`` as plain text."""
    headers = error_headers(exc)
    if isinstance(exc, UnauthorizedException):
        headers["WWW-Authenticate"] = 'Bearer realm="scimgate"'
    return PlainTextResponse(f"{exc.detail}\n", exc.status, headers=headers)


def register_surface(app: object, prefix: str, renderer: Renderer) -> None:
    """Render errors of URLs at or under ``prefix`` (a path, no trailing slash) with ``renderer``."""
    state = app.state  # type: ignore[attr-defined]
    if not hasattr(state, "error_surfaces"):
        state.error_surfaces = {}
    state.error_surfaces[prefix] = renderer


def renderer_for(scope: Scope) -> Renderer:
    """The renderer of the surface ``scope``'s path belongs to (longest registered prefix that
    is the path or a parent of it; prefix matching is case-insensitive, as SCIM paths are)."""
    app = scope.get("app")
    surfaces: dict[str, Renderer] = getattr(getattr(app, "state", None), "error_surfaces", {})
    path = scope.get("path", "").lower()
    for prefix in sorted(surfaces, key=len, reverse=True):
        lowered = prefix.lower()
        if path == lowered or path.startswith(lowered + "/"):
            return surfaces[prefix]
    return plain_error


def render_error(request: Request, exc: ScimError) -> Response:
    """``exc`` as the response of ``request``'s surface. A renderer that itself fails (an HTML
    page that cannot render) falls back to plain text: an error answer never becomes a 500."""
    try:
        return renderer_for(request.scope)(request, exc)
    except Exception:
        log.exception("could not render an error in its surface's format",
                      extra={"request_id": request.scope.get("state", {}).get("request_id")})
        return plain_error(request, exc)
