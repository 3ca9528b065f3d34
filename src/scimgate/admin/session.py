"""The admin pages' session cookie and CSRF token.

The cookie ``scimgate_admin`` holds a JSON payload signed and time-stamped with itsdangerous
(``URLSafeTimedSerializer`` keyed by ``settings.secret_key``): ``{"c": csrf_token}`` before
sign-in, plus ``"t"`` (the token of a server-side session, services.sessions) after it. The
session row decides who is signed in and whether that still holds: sign-out, a new password and
the account's removal revoke it, and the cookie then opens nothing, on every worker. It is
HttpOnly, SameSite=Lax, Path=/admin, and Secure when the request came over https (directly, or
through a trusted proxy's ``X-Forwarded-Proto``: ``scimgate serve``). Sessions last ``MAX_AGE``
seconds from sign-in.

CSRF: the synchronizer-token pattern (OWASP CSRF Prevention Cheat Sheet). Every state-changing
form carries the session's token in a hidden ``csrf_token`` field (htmx requests may send it as
the ``X-CSRF-Token`` header instead); a POST whose token is missing or differs gets 403. The
token is replaced at sign-in, so a token seen before sign-in is useless after it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from scimgate.services import admins

COOKIE = "scimgate_admin"
MAX_AGE = int(admins.SESSION_LIFETIME.total_seconds())
SALT = "scimgate.admin.session"


@dataclass
class AdminSession:
    """The decoded cookie: ``csrf`` always set; ``token`` (a services.sessions token, not yet
    checked against the session table) once signed in."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    token: str | None = None


class CsrfError(Exception):
    """A state-changing request without the session's CSRF token (answered 403)."""


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def read_session(request: Request, secret_key: str) -> AdminSession:
    """The request's session, or a fresh anonymous one when the cookie is missing, forged or expired."""
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(secret_key).loads(raw, max_age=MAX_AGE)
        except BadSignature:
            data = None
        if isinstance(data, dict) and isinstance(data.get("c"), str):
            token = data.get("t")
            return AdminSession(csrf=data["c"], token=token if isinstance(token, str) else None)
    return AdminSession()


def write_session(response: Response, request: Request, secret_key: str, session: AdminSession) -> None:
    """Set the signed cookie for ``session`` on ``response``."""
    payload: dict[str, str] = {"c": session.csrf}
    if session.token:
        payload["t"] = session.token
    response.set_cookie(
        COOKIE, _serializer(secret_key).dumps(payload), max_age=MAX_AGE, path="/admin",
        httponly=True, samesite="lax", secure=request.url.scheme == "https",
    )


async def check_csrf(request: Request, session: AdminSession) -> None:
    """Raise CsrfError unless the form field ``csrf_token`` or the ``X-CSRF-Token`` header
    equals the session's token (constant-time comparison)."""
    form = await request.form()
    sent = request.headers.get("x-csrf-token") or form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise CsrfError
