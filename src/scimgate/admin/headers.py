"""Security headers on every response under ``/admin`` (pages, redirects, errors, static files),
added by the edge middleware (``http.middleware``).

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

POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
          "object-src 'none'")
HEADERS = [
    (b"content-security-policy", POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]

