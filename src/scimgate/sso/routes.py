"""Member sign-in over SAML 2.0: the HTTP edge (thin routes over services.sso).

- ``GET /sso/saml/{workspace_id}/metadata``: the SP metadata (its URL is the SP entity ID).
- ``POST /sso/saml/{workspace_id}/acs``: the AssertionConsumerService (HTTP-POST binding).
- ``GET /login`` (the form) and ``POST /login`` (field ``email``): home realm discovery, then
  303 to the IdP with a ``SAMLRequest`` (HTTP-Redirect binding).
- ``GET /me`` (HTML home), ``GET /api/me`` (JSON: ``id``, ``userName``, ``workspace``, ...),
  ``POST /logout``.

The member session cookie ``scimgate_member`` holds only the random token of a server-side
session (services.sessions): HttpOnly, SameSite=Lax, Secure when the public URL or the request is
https, replaced at every sign-in. Refusals are HTML pages with the reason for the member.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import JSONResponse, RedirectResponse, Response

from scimgate.http.deps import State
from scimgate.services import sso
from scimgate.sso.saml import read_response, sp_metadata
from scimgate.sso.xml_guard import SamlRefused
from scimgate.storage.db import transaction

COOKIE = "scimgate_member"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}


def _secure(request: Request, public_url: str) -> bool:
    return request.url.scheme == "https" or public_url.startswith("https://")


def _result(
    request: Request,
    status: int,
    title: str,
    message: str,
    *,
    refused: bool = True,
    back: str = "/login",
    attributes: dict[str, list[str]] | None = None,
    member_id: str | None = None,
) -> Response:
    return templates.TemplateResponse(
        request,
        "result.html",
        {
            "title": title,
            "message": message,
            "refused": refused,
            "back": back,
            "attributes": attributes,
            "member_id": member_id,
        },
        status_code=status,
        headers=NO_STORE,
    )


@router.get("/sso/saml/{workspace_id}/metadata")
def saml_metadata(workspace_id: str, request: Request, state: State) -> Response:
    """The SP metadata XML of the workspace's SAML connection (404 without one)."""
    with transaction(state.sessions) as session:
        connection = sso.get_connection(session, workspace_id)
        if connection is None:
            return _result(request, 404, "Not found", "This workspace has no SAML connection.")
        xml = sp_metadata(sso.service_provider(state.settings.public_url, connection))
    return Response(
        xml,
        media_type="application/samlmetadata+xml",
        headers={"Content-Disposition": 'inline; filename="scimgate-sp-metadata.xml"'},
    )


@router.get("/login")
def login_form(request: Request) -> Response:
    """The sign-in page: one field, the work email."""
    return templates.TemplateResponse(request, "login.html", {"error": None, "email": ""}, headers=NO_STORE)


@router.post("/login")
def login(request: Request, state: State, email: Annotated[str, Form(max_length=320)] = "") -> Response:
    """Home realm discovery by the email's domain, then 303 to the IdP with an AuthnRequest."""
    try:
        with transaction(state.sessions) as session:
            connection = sso.discover(session, email)
            location = sso.begin(session, state.settings.public_url, connection)
    except sso.SignInRefused as exc:
        return templates.TemplateResponse(
            request, "login.html", {"error": str(exc), "email": email}, status_code=400, headers=NO_STORE
        )
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


@router.post("/sso/saml/{workspace_id}/acs")
def acs(
    workspace_id: str,
    request: Request,
    state: State,
    SAMLResponse: Annotated[str, Form(max_length=400_000)] = "",
) -> Response:  # noqa: N803 (SAML's name)
    """Check the posted SAMLResponse, bind the member, start its session, 303 to /me."""
    public_url = state.settings.public_url
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
        return _result(request, 403, "Sign-in refused", str(exc))
    if done.test:
        return _result(
            request,
            200,
            "Test sign-in succeeded",
            "The assertion was accepted and matched this member.",
            refused=False,
            back="/admin/security",
            attributes=done.attributes,
            member_id=done.member_id,
        )
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
    return response


def _home(request: Request, state: State) -> sso.MemberHome | None:
    with transaction(state.sessions) as session:
        member = sso.member_of_session(session, request.cookies.get(COOKIE))
        return None if member is None else sso.member_home(session, member)


@router.get("/api/me")
def api_me(request: Request, state: State) -> Response:
    """The signed-in member as JSON; 401 without a live member session."""
    home = _home(request, state)
    if home is None:
        return JSONResponse({"detail": "Not signed in."}, status_code=401, headers=NO_STORE)
    return JSONResponse(home.as_json(), headers=NO_STORE)


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
