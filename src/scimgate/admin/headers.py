"""Security headers on every response under ``/admin`` (pages, redirects, errors, static files).

- ``Content-Security-Policy``: scripts, styles, images and requests only from this origin (the
  pages load ``/admin/static/*`` and htmx fetches same-origin fragments; no inline script or
  style, and htmx's own indicator style is switched off in base.html), forms post only here, no
  plugins, no ``<base>``; ``frame-ancestors 'none'`` forbids framing (CSP Level 3, W3C).
- ``X-Frame-Options: DENY`` for browsers without ``frame-ancestors`` (RFC 7034).
- ``X-Content-Type-Options: nosniff`` (WHATWG Fetch, "X-Content-Type-Options" header).
- ``Referrer-Policy: same-origin``: admin URLs (member ids, filters) never leave in a Referer
  (W3C Referrer Policy).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
          "object-src 'none'")
HEADERS = [
    (b"content-security-policy", POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class AdminSecurityHeaders:
    """ASGI middleware adding ``HEADERS`` to responses whose path is ``/admin`` or below it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != "/admin" and not path.startswith("/admin/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)
