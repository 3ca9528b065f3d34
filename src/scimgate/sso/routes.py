"""Member sign-in over SAML 2.0 and OpenID Connect: the HTTP edge (thin routes over
services.sso and services.oidc).

- ``GET /sso/saml/{workspace_id}/metadata``: the SP metadata (its URL is the SP entity ID).
- ``POST /sso/saml/{workspace_id}/acs``: the AssertionConsumerService (HTTP-POST binding).
- ``GET /login`` (the form) and ``POST /login`` (field ``email``): home realm discovery, then
  303 to the IdP with a ``SAMLRequest`` (HTTP-Redirect binding), or for an OIDC connection to
  the authorization endpoint (code flow with PKCE, ``state`` and ``nonce``; the ``state`` is also
  kept in the cookie ``scimgate_oidc_state``, HttpOnly, SameSite=Lax, path of the workspace's
  callback, so only the browser that started a sign-in can finish it).
- ``GET /sso/oidc/{workspace_id}/callback``: the OIDC redirection endpoint (``code``,
  ``state``): token exchange, ID token checks, binding, session, 303 to /me.
- ``GET /me`` (HTML home), ``GET /api/me`` (JSON: ``id``, ``userName``, ``workspace``, ...),
  ``POST /logout``.

The member session cookie ``scimgate_member`` holds only the random token of a server-side
session (services.sessions): HttpOnly, SameSite=Lax, Secure when the public URL or the request is
https, replaced at every sign-in. Refusals are HTML pages with the reason for the member.
``POST /login``, the ACS and the OIDC callback spend the client address's member sign-in budget
first (services.sign_in_guard): over it, 429 with ``Retry-After`` and nothing else done.
"""

from __future__ import annotations

import secrets
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import JSONResponse, RedirectResponse, Response

from scimgate.http.admin_api import CODES
from scimgate.http.allow import refuses
from scimgate.http.deps import State
from scimgate.http.surfaces import error_headers
from scimgate.scim.errors import NotFoundException, ScimError
from scimgate.services import oidc, sso
from scimgate.services.sign_in_guard import SignInThrottled
from scimgate.services.sso_throttle import SsoThrottle
from scimgate.sso.oidc import JwksCache, OidcRefused, OidcSignIn, loggable
from scimgate.sso.saml import read_response, sp_metadata
from scimgate.sso.xml_guard import SamlRefused
from scimgate.storage.db import transaction

COOKIE = "scimgate_member"
OIDC_STATE_COOKIE = "scimgate_oidc_state"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}


def _secure(request: Request, public_url: str) -> bool:
    return request.url.scheme == "https" or public_url.startswith("https://")


def _result(request: Request, status: int, title: str, message: str) -> Response:
    return templates.TemplateResponse(
        request, "result.html", {"title": title, "message": message}, status_code=status, headers=NO_STORE
    )


@router.get("/sso/saml/{workspace_id}/metadata")
def saml_metadata(workspace_id: str, request: Request, state: State) -> Response:
    """The workspace's SP metadata XML (404 for an unknown workspace). It is served before the
    IdP is connected, so the admin can give it to the IdP first. ``?download=1`` asks the
    browser to save it as a file."""
    with transaction(state.sessions) as session:
        sp = sso.sp_of_workspace(session, state.settings.public_url, workspace_id)
        if sp is None:
            return _result(request, 404, "Not found", "There is no workspace with this id.")
        xml = sp_metadata(sp)
    disposition = "attachment" if request.query_params.get("download") == "1" else "inline"
    return Response(
        xml,
        media_type="application/samlmetadata+xml",
        headers={"Content-Disposition": f'{disposition}; filename="scimgate-sp-metadata.xml"'},
    )


def _throttled(request: Request, state: State, endpoint: str) -> SignInThrottled | None:
    """Spend one request of the client address's budget at ``endpoint`` (services.sso_throttle)."""
    throttle: SsoThrottle = state.extras["sso_throttle"]
    try:
        throttle.admit(endpoint, request.client.host if request.client else "")
    except SignInThrottled as exc:
        return exc
    return None


def _too_many(exc: SignInThrottled) -> str:
    return f"Too many sign-in attempts from your network. Wait {exc.retry_after} seconds and try again."


@router.get("/login")
def login_form(request: Request) -> Response:
    """The sign-in page: one field, the work email."""
    return templates.TemplateResponse(request, "login.html", {"error": None, "email": ""}, headers=NO_STORE)


@router.post("/login")
def login(request: Request, state: State, email: Annotated[str, Form(max_length=320)] = "") -> Response:
    """Home realm discovery by the email's domain, then 303 to the IdP with an AuthnRequest
    (SAML) or an authorization request (OIDC, with ``login_hint`` = the email). Over the client
    address's budget: 429 with Retry-After, before any database work."""
    throttled = _throttled(request, state, "login")
    if throttled is not None:
        return templates.TemplateResponse(
            request, "login.html", {"error": _too_many(throttled), "email": email}, status_code=429,
            headers={**NO_STORE, "Retry-After": str(throttled.retry_after)},
        )
    settings = state.settings
    begun: oidc.Begun | None = None
    try:
        with transaction(state.sessions) as session:
            connection = sso.discover(session, email)
            workspace_id = connection.workspace_id
            if connection.kind == "oidc":
                begun = oidc.begin(
                    session, settings.public_url, settings.secret_key, connection, login_hint=email.strip()
                )
                location = begun.location
            else:
                location = sso.begin(session, settings.public_url, connection)
    except sso.SignInRefused as exc:
        return templates.TemplateResponse(
            request, "login.html", {"error": str(exc), "email": email}, status_code=400, headers=NO_STORE
        )
    response = RedirectResponse(location, status_code=303, headers=NO_STORE)
    if begun is not None:
        response.set_cookie(OIDC_STATE_COOKIE, begun.state,
                            **oidc_state_cookie(request, settings.public_url, workspace_id))
    return response


def oidc_state_cookie(request: Request, public_url: str, workspace_id: str) -> dict[str, Any]:
    """The attributes of the ``state`` cookie of an authorization request of ``workspace_id``
    (also set by the admin's test sign-in, admin.sso_routes)."""
    return {
        "path": _callback_path(workspace_id),
        "httponly": True,
        "samesite": "lax",
        "secure": _secure(request, public_url),
        "max_age": int(oidc.REQUEST_LIFETIME.total_seconds()),
    }


def _callback_path(workspace_id: str) -> str:
    return f"/sso/oidc/{workspace_id}/callback"


def _jwks(state: State) -> JwksCache:
    cache: JwksCache = state.extras.setdefault("oidc_jwks", JwksCache())
    return cache


@router.get("/sso/oidc/{workspace_id}/callback")
def oidc_callback(
    workspace_id: str,
    request: Request,
    state: State,
    code: Annotated[str, Query(max_length=4096)] = "",
    returned_state: Annotated[str, Query(alias="state", max_length=256)] = "",
    error: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    """The OIDC redirection endpoint: check ``state`` against this browser's cookie, consume the
    request, exchange ``code``, verify the ID token, bind the member, start its session, 303 to
    /me. Every refusal is a 403 page; nothing is bound and no session starts. An admin's test
    sign-in (services.oidc.begin ``test``) ends on the test result page instead: the member
    matched, the claims received and any problem, nothing bound."""
    throttled = _throttled(request, state, "login")  # the callback finishes the sign-in /login began
    if throttled is not None:
        response = _result(request, 429, "Too many sign-in attempts", _too_many(throttled))
        response.headers["Retry-After"] = str(throttled.retry_after)
        return response
    settings = state.settings
    cookie = request.cookies.get(OIDC_STATE_COOKIE, "")
    pending: oidc.PendingCallback | None = None
    try:
        if not returned_state or not secrets.compare_digest(cookie.encode(), returned_state.encode()):
            raise sso.refusal(workspace_id, "state does not match the sign-in this browser started")
        with transaction(state.sessions) as session:
            pending = oidc.take_request(
                session, settings.public_url, settings.secret_key, workspace_id, returned_state
            )
        if error or not code:
            raise sso.refusal(
                workspace_id,
                f"the provider answered error {loggable(error)}" if error else "the provider sent no code",
                "Your identity provider did not sign you in. Start again from the sign-in page.",
            )
        try:
            id_token = pending.party.exchange_code(code, pending.code_verifier)
            claims = pending.party.verify_id_token(
                id_token, pending.nonce, _jwks(state), oidc.REQUEST_LIFETIME.total_seconds()
            )
        except OidcRefused as exc:
            raise oidc.refuse(workspace_id, exc) from exc
        with transaction(state.sessions) as session:
            done = oidc.complete(
                session, workspace_id, OidcSignIn.from_claims(claims), pending, request.cookies.get(COOKIE)
            )
    except sso.SignInRefused as exc:
        if pending is not None and pending.test:
            refused = _test_result(request, 403, problem=f"{exc.reason}: {exc}", received="Claims")
        else:
            refused = _result(request, 403, "Sign-in refused", str(exc))
        refused.delete_cookie(OIDC_STATE_COOKIE, path=_callback_path(workspace_id))
        return refused
    return _signed_in(request, settings.public_url, done, received="Claims")


@router.post("/sso/saml/{workspace_id}/acs")
def acs(
    workspace_id: str,
    request: Request,
    state: State,
    SAMLResponse: Annotated[str, Form(max_length=400_000)] = "",
) -> Response:  # noqa: N803 (SAML's name)
    """Check the posted SAMLResponse, bind the member, start its session, 303 to /me. A response
    to an admin's test sign-in starts no session and binds nothing: the page shows the member it
    matched, the attributes received and any problem. Over the client address's budget: 429
    with Retry-After, before any XML or database work."""
    throttled = _throttled(request, state, "acs")
    if throttled is not None:
        response = _result(request, 429, "Too many sign-in attempts", _too_many(throttled))
        response.headers["Retry-After"] = str(throttled.retry_after)
        return response
    public_url = state.settings.public_url
    pending: sso.PendingAcs | None = None
    try:
        with transaction(state.sessions) as session:
            pending = sso.prepare_acs(session, public_url, workspace_id, SAMLResponse)
        try:
            sign_in = read_response(pending.sp, SAMLResponse, pending.outstanding)
        except SamlRefused as exc:
            raise sso.refuse(workspace_id, exc) from exc
        with transaction(state.sessions) as session:
            done = sso.complete_acs(session, workspace_id, sign_in, pending, request.cookies.get(COOKIE))
    except sso.SignInRefused as exc:
        if exc.test or (pending is not None and pending.test):
            return _test_result(request, 403, problem=f"{exc.reason}: {exc}")
        return _result(request, 403, "Sign-in refused", str(exc))
    return _signed_in(request, public_url, done)


def _signed_in(request: Request, public_url: str, done: sso.SignedIn,
               received: str = "Attributes") -> Response:
    """The answer to an accepted sign-in: the test result page, or the member cookie and 303
    to /me (an OIDC state cookie is cleared)."""
    if done.test:
        return _test_result(request, 200 if done.problem is None else 403, done=done, problem=done.problem,
                            received=received)
    response = RedirectResponse("/me", status_code=303, headers=NO_STORE)
    response.set_cookie(
        COOKIE,
        done.token or "",
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request, public_url),
        max_age=int(sso.MEMBER_SESSION_LIFETIME.total_seconds()),
    )
    response.delete_cookie(OIDC_STATE_COOKIE, path=_callback_path(done.workspace_id))
    return response


def _test_result(
    request: Request, status: int, *, done: sso.SignedIn | None = None, problem: str | None = None,
    received: str = "Attributes",
) -> Response:
    """The test sign-in's outcome page; ``received`` names what the IdP sent (SAML attributes,
    OIDC claims)."""
    return templates.TemplateResponse(
        request,
        "test_result.html",
        {"done": done, "problem": problem, "received": received},
        status_code=status,
        headers=NO_STORE,
    )


def _home(request: Request, state: State) -> sso.MemberHome | None:
    with transaction(state.sessions) as session:
        member = sso.member_of_session(session, request.cookies.get(COOKIE))
        return None if member is None else sso.member_home(session, member)


ME_API = "/api/me"


def _me_error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error of the API surfaces (``{"error": {"status", "code", "detail"}}``, as the
    admin API's, http.admin_api) for ``/api/me``."""
    code = CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    body = {"error": {"status": status, "code": code, "detail": detail}}
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


def me_failure(request: Request, exc: ScimError) -> Response:
    """``/api/me``'s surface renderer (http.surfaces): routing errors (``/api/me/``, a POST),
    refused requests and unexpected errors in the same JSON as its own 401."""
    return _me_error(exc.status, str(exc.detail), error_headers(exc))


@router.get(ME_API)
def api_me(request: Request, state: State) -> Response:
    """The signed-in member as JSON; 401 (the API surfaces' JSON error) without a live member
    session."""
    home = _home(request, state)
    if home is None:
        return _me_error(401, "Not signed in: sign in at /login first.")
    return JSONResponse(home.as_json(), headers=NO_STORE)


@router.get(ME_API + "/{rest:path}")
@refuses
def api_me_unknown(rest: str) -> Response:
    """Anything under ``/api/me`` (``/api/me/`` too): 404 in /api/me's JSON, not a 307."""
    raise NotFoundException(detail=f"No endpoint at {ME_API}/{rest}: the member is at {ME_API}.")


@router.get("/me")
def me(request: Request, state: State) -> Response:
    """The member's home page; without a session, 303 to /login."""
    home = _home(request, state)
    if home is None:
        return RedirectResponse("/login", status_code=303, headers=NO_STORE)
    return templates.TemplateResponse(request, "me.html", {"home": home}, headers=NO_STORE)


@router.post("/logout")
def logout(request: Request, state: State) -> Response:
    """End the member's session and clear the cookie."""
    with transaction(state.sessions) as session:
        sso.sign_out(session, request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303, headers=NO_STORE)
    response.delete_cookie(COOKIE, path="/")
    return response
