"""The one-time display of a new SCIM token across a post/redirect/get.

``POST /admin/security/tokens`` mints the token and answers 303 with the secret in a short-lived
cookie (``scimgate_new_token``: signed with itsdangerous, HttpOnly, SameSite=Strict, Path
``/admin/security``, ``MAX_AGE`` seconds). The next ``GET /admin/security`` shows it and deletes
the cookie in the same response, so a reload shows it no more and re-POSTs nothing: the browser
holds the secret for one redirect, scimgate only its hash (OWASP Session Management Cheat Sheet,
"Cookies"; the Post/Redirect/Get pattern).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

COOKIE = "scimgate_new_token"
PATH = "/admin/security"
MAX_AGE = 120
SALT = "scimgate.admin.new-token"


@dataclass(frozen=True)
class NewToken:
    """A token just minted: its row id, display prefix and the secret (shown once)."""

    id: str
    prefix: str
    secret: str


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def hand_over(response: Response, request: Request, secret_key: str, workspace_id: str,
              token: NewToken, path: str = PATH, cookie: str = COOKIE) -> None:
    """Put ``token`` on the redirect ``response`` for the next page under ``path`` (the security
    page; the guided setup's pages) of ``workspace_id``, in the cookie named ``cookie``."""
    payload = {"w": workspace_id, "i": token.id, "p": token.prefix, "s": token.secret}
    response.set_cookie(cookie, _serializer(secret_key).dumps(payload), max_age=MAX_AGE, path=path,
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")


def take(request: Request, secret_key: str, workspace_id: str, cookie: str = COOKIE) -> NewToken | None:
    """The token handed over to this page (None when absent, forged, older than ``MAX_AGE`` or of
    another workspace). The caller deletes the cookie (``forget``) on its response."""
    raw = request.cookies.get(cookie)
    if not raw:
        return None
    try:
        data = _serializer(secret_key).loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("w") != workspace_id:
        return None
    return NewToken(str(data["i"]), str(data["p"]), str(data["s"]))


def forget(request: Request, response: Response, path: str = PATH, cookie: str = COOKIE) -> None:
    """Delete the hand-over cookie ``cookie`` (set for ``path``) on ``response`` when the request
    carried one."""
    if request.cookies.get(cookie):
        response.delete_cookie(cookie, path=path)
