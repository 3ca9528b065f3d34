"""The Single sign-on card's forms under ``/admin/security/sso`` (issue 18).

- ``POST metadata``: the IdP metadata, uploaded (``metadata_file``) or pasted (``metadata_xml``),
  and the member ``lookup``; refused metadata is shown next to the field with what is wrong.
- ``POST oidc``: an OpenID Connect connection from ``issuer``, ``client_id``, ``client_secret``
  and ``lookup``: the issuer's discovery document is read before anything is stored (a network
  call outside the transaction) and a refusal is shown next to the field it concerns; the secret
  is stored sealed (services.sealing), never shown back, and given again to replace it.
- ``POST certificates``: a second signing certificate for roll-over (PEM or base64, pasted or
  uploaded); ``POST certificates/{fingerprint}/remove`` (confirmed) stops trusting one.
- ``POST test``: starts a test sign-in: a page with the link to the IdP carrying a test
  AuthnRequest, or for OIDC a test authorization request (optional ``login_hint``, the email to
  sign in as; the ``state`` cookie set as /login sets it). A link, not a redirect: the admin
  pages' CSP ``form-action 'self'`` stops a form submission that redirects to another origin.
  The ACS or the OIDC callback then shows the outcome and starts no session (services.sso).
- ``POST required``: "Require SSO for verified domains" on or off (a passed test over either
  protocol counts); refused with the missing prerequisite shown next to the switch.

Same rules as admin.routes: signed-in admin, CSRF token, the workspace from the session only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.datastructures import UploadFile as Uploaded
from starlette.responses import Response

from scimgate.admin.routes import (
    NOTICES,
    Admin,
    Csrf,
    PageError,
    confirmation,
    page,
    security_page,
    see_other,
)
from scimgate.http.deps import State
from scimgate.services import oidc, sso, sso_setup, workspaces
from scimgate.sso.oidc import DiscoveryError, fetch_discovery
from scimgate.sso.routes import OIDC_STATE_COOKIE, oidc_state_cookie
from scimgate.storage.db import transaction

router = APIRouter(prefix="/admin/security/sso")
NOTICES.update({
    "sso-configured": "The identity provider's metadata is saved. Run a test sign-in next.",
    "sso-oidc-configured": "The OpenID Connect provider is saved (its discovery document was read). Run a "
                           "test sign-in next.",
    "sso-certificate-added": "The certificate is added: both certificates are trusted until you remove "
                             "the old one.",
    "sso-certificate-removed": "The certificate is removed: the identity provider's signatures made with it "
                               "are refused from now on.",
    "sso-required": "The Require SSO switch is saved.",
})
MAX_UPLOAD = 1024 * 1024


async def _given(text: str, upload: UploadFile | str | None) -> bytes:
    """The uploaded file's bytes when one was chosen, else the pasted text."""
    if isinstance(upload, Uploaded) and upload.filename:  # FastAPI hands Starlette's class
        return await upload.read(MAX_UPLOAD)
    return text.strip().encode()


@router.post("/metadata")
async def configure(request: Request, admin: Admin, state: State, _csrf: Csrf,
                    metadata_xml: Annotated[str, Form()] = "", lookup: Annotated[str, Form()] = "userName",
                    metadata_file: Annotated[UploadFile | str | None, File()] = None) -> Response:
    """Create or replace the SAML connection from the IdP metadata."""
    given = await _given(metadata_xml, metadata_file)
    if not given:
        return security_page(request, admin, state, status=400,
                             sso_errors={"metadata": "Upload the metadata file or paste its XML."})
    try:
        with transaction(state.sessions) as db:
            sso.configure_saml(db, workspaces.find_workspace(db, admin.workspace_id), given, lookup)
    except sso.SsoError as exc:
        return security_page(request, admin, state, status=400, sso_errors={"metadata": str(exc)},
                             sso_metadata_input=metadata_xml)
    return see_other("/admin/security?done=sso-configured#sso")


@router.post("/oidc")
def configure_oidc(request: Request, admin: Admin, state: State, _csrf: Csrf,
                   issuer: Annotated[str, Form(max_length=2048)] = "",
                   client_id: Annotated[str, Form(max_length=1024)] = "",
                   client_secret: Annotated[str, Form(max_length=4096)] = "",
                   lookup: Annotated[str, Form()] = "userName") -> Response:
    """Create or replace the OIDC connection; the discovery document is read from ``issuer``
    first (sso.oidc.fetch_discovery, the checks and messages of ``scimgate sso oidc add``)."""
    settings = state.settings
    kept = {"sso_oidc_input": {"issuer": issuer, "client_id": client_id, "lookup": lookup}}
    try:
        if not issuer.strip():
            raise DiscoveryError("Give the provider's issuer URL.")
        provider = fetch_discovery(issuer.strip(), settings.oidc_allow_loopback_http)
    except DiscoveryError as exc:
        return security_page(request, admin, state, status=400, sso_errors={"oidc-issuer": str(exc)}, **kept)
    try:
        if not client_secret.strip():
            raise sso.SsoError("Give the client secret the provider showed when it created the client.")
        with transaction(state.sessions) as db:
            oidc.configure_oidc(db, workspaces.find_workspace(db, admin.workspace_id), provider, client_id,
                                client_secret, settings.secret_key, lookup=lookup)
    except sso.SsoError as exc:
        field = "oidc-client-secret" if "secret" in str(exc) else "oidc-client-id"
        return security_page(request, admin, state, status=400, sso_errors={field: str(exc)}, **kept)
    return see_other("/admin/security?done=sso-oidc-configured#sso")


@router.post("/certificates")
async def add_certificate(request: Request, admin: Admin, state: State, _csrf: Csrf,
                          certificate: Annotated[str, Form()] = "",
                          certificate_file: Annotated[UploadFile | str | None, File()] = None) -> Response:
    """Trust a second signing certificate next to the current one (roll-over)."""
    given = await _given(certificate, certificate_file)
    try:
        if not given:
            raise sso.SsoError("Upload the certificate file or paste it.")
        with transaction(state.sessions) as db:
            sso_setup.add_certificate(db, workspaces.find_workspace(db, admin.workspace_id), given)
    except sso.SsoError as exc:
        return security_page(request, admin, state, status=400, sso_errors={"certificate": str(exc)},
                             sso_certificate_input=certificate)
    return see_other("/admin/security?done=sso-certificate-added#sso")


@router.post("/certificates/{fingerprint}/remove")
def remove_certificate(request: Request, admin: Admin, state: State, _csrf: Csrf, fingerprint: str,
                       confirm: Annotated[str, Form()] = "") -> Response:
    """Stop trusting one certificate; without ``confirm=yes`` a page asks first."""
    try:
        with transaction(state.sessions) as db:
            workspace = workspaces.find_workspace(db, admin.workspace_id)
            connection = sso.get_connection(db, workspace.id)
            trusted = sso_setup.certificates(connection) if connection is not None else ()
            target = next((c for c in trusted if c.fingerprint == fingerprint), None)
            if target is None:
                raise PageError(404, "Not found", "No trusted signing certificate with this fingerprint.")
            if confirm != "yes":
                return confirmation(
                    request, admin, action=f"/admin/security/sso/certificates/{fingerprint}/remove",
                    title=f"Stop trusting the certificate {target.subject}?",
                    consequence=(f"Responses signed with it (expires {target.not_after:%Y-%m-%d}) are "
                                 "refused from now on. Remove it once the identity provider signs with "
                                 "the new one."),
                    button="Remove the certificate")
            sso_setup.remove_certificate(db, workspace, fingerprint)
    except sso.SsoError as exc:
        return security_page(request, admin, state, status=409, sso_errors={"certificates": str(exc)})
    return see_other("/admin/security?done=sso-certificate-removed#sso")


@router.post("/test")
def test_sign_in(request: Request, admin: Admin, state: State, _csrf: Csrf,
                 login_hint: Annotated[str, Form(max_length=320)] = "") -> Response:
    """Start a test sign-in: the page linking to the IdP with an AuthnRequest (SAML) or an
    authorization request (OIDC, ``login_hint`` passed on) marked as a test."""
    settings = state.settings
    begun: oidc.Begun | None = None
    try:
        with transaction(state.sessions) as db:
            connection = sso.get_connection(db, admin.workspace_id)
            if connection is None:
                return security_page(request, admin, state, status=409,
                                     sso_errors={"test": sso_setup.NO_CONNECTION})
            if connection.kind == "oidc":
                begun = oidc.begin(db, settings.public_url, settings.secret_key, connection,
                                   login_hint=login_hint.strip(), test=True)
                location = begun.location
            else:
                location = sso.begin(db, settings.public_url, connection, test=True)
            idp_entity_id, kind = connection.idp_entity_id, connection.kind
    except sso.SignInRefused as exc:  # the stored client secret no longer opens
        return security_page(request, admin, state, status=409, sso_errors={"test": f"{exc.reason}: {exc}"})
    response = page(request, admin, "sso_test.html", location=location, idp_entity_id=idp_entity_id,
                    kind=kind)
    if begun is not None:
        response.set_cookie(OIDC_STATE_COOKIE, begun.state, **oidc_state_cookie(request, settings.public_url,
                                                                                 admin.workspace_id))
    return response


@router.post("/required")
def set_required(request: Request, admin: Admin, state: State, _csrf: Csrf,
                 active: Annotated[str, Form()] = "") -> Response:
    """Switch "Require SSO for verified domains"; a missing prerequisite is shown by the switch."""
    if active not in ("on", "off"):
        raise PageError(400, "Bad request", "Choose on or off.")
    try:
        with transaction(state.sessions) as db:
            sso_setup.set_required(db, workspaces.find_workspace(db, admin.workspace_id), active == "on")
    except sso.SsoError as exc:
        return security_page(request, admin, state, status=409, sso_errors={"required": str(exc)})
    return see_other("/admin/security?done=sso-required#sso")
