"""OpenID Connect sign-in of a workspace (issue 18): its connection, the authorization requests
it issued, and the callback, bound to the provisioned member by the rules of services.sso.

A workspace has one SSO connection (``sso_connection``); ``kind`` ``oidc`` makes it an OpenID
Connect one: ``idp_entity_id`` is the issuer, ``idp_sso_url`` the authorization endpoint, and the
``oidc_*`` columns the rest (the client secret sealed by services.sealing, bound to the
workspace id). The discovery document is read by the caller (sso.oidc.fetch_discovery, a network
call) before :func:`configure_oidc` runs in its transaction.

Each authorization request is a row of ``oidc_request`` keyed by the SHA-256 of its ``state``
(the state itself only travels in the browser), holding the ``nonce`` and the PKCE
``code_verifier``; the callback consumes it with one ``UPDATE ... WHERE consumed_at IS NULL``
(single use across workers) before anything else, within REQUEST_LIFETIME. The token exchange
and the ID token checks (network calls) run between two short transactions, never inside one.

Binding: the subject is ``oid:<tid>:<oid>`` for Entra, else ``oidc:<iss>!<sub>``
(sso.oidc.OidcSignIn); services.sso.bind_member finds the member by binding, or on a first
sign-in by the connection's lookup, and refuses deactivated members and members already bound to
another subject. Refusals are logged with the workspace and the reason only.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from scimgate.services import sso
from scimgate.services.sealing import SealedSecretUnreadable, seal, unseal
from scimgate.sso.oidc import OidcRefused, OidcSignIn, ProviderMetadata, RelyingParty
from scimgate.storage.models import OidcRequest, SsoConnection, Workspace, utcnow

REQUEST_LIFETIME = sso.REQUEST_LIFETIME
"""How long an issued authorization request may be answered (and how old an ID token may be)."""
MAX_CLIENT_ID_CHARS = 255
MAX_SKEW_SECONDS = 600


def redirect_uri(public_url: str, workspace_id: str) -> str:
    """The workspace's redirection endpoint (RFC 6749 §3.1.2), registered at the provider."""
    return f"{public_url.rstrip('/')}/sso/oidc/{workspace_id}/callback"


def _secret_context(workspace_id: str) -> str:
    return f"oidc-client-secret:{workspace_id}"


def configure_oidc(
    session: Session,
    workspace: Workspace,
    provider: ProviderMetadata,
    client_id: str,
    client_secret: str,
    secret_key: str,
    *,
    lookup: str = "userName",
    skew_seconds: int = 120,
) -> SsoConnection:
    """Create or replace the workspace's SSO connection as an OIDC one for ``provider`` (a
    checked discovery document). The client secret is stored sealed. Raises sso.SsoError (no
    client id or secret, unknown ``lookup``, skew outside 0..MAX_SKEW_SECONDS). Replacing a
    connection of another kind or issuer keeps bindings, clears the test result and switches
    enforcement off."""
    client_id, client_secret = client_id.strip(), client_secret.strip()
    if lookup not in sso.LOOKUPS:
        raise sso.SsoError(f"The member lookup must be one of {', '.join(sso.LOOKUPS)}, not {lookup!r}.")
    if not client_id or len(client_id) > MAX_CLIENT_ID_CHARS:
        raise sso.SsoError(f"Give the client id the provider shows (1 to {MAX_CLIENT_ID_CHARS} characters).")
    if not client_secret:
        raise sso.SsoError("The client secret file is empty.")
    if not 0 <= skew_seconds <= MAX_SKEW_SECONDS:
        raise sso.SsoError(f"The clock skew must be between 0 and {MAX_SKEW_SECONDS} seconds.")
    connection = sso.get_connection(session, workspace.id)
    if connection is None:
        connection = SsoConnection(id=str(uuid.uuid4()), workspace_id=workspace.id)
        session.add(connection)
    elif connection.kind != "oidc" or connection.idp_entity_id != provider.issuer:
        connection.required = False
    connection.kind = "oidc"
    connection.idp_entity_id = provider.issuer
    connection.idp_sso_url = provider.authorization_endpoint
    connection.metadata_xml = None
    connection.certificate_not_after = None
    connection.oidc_client_id = client_id
    connection.oidc_client_secret = seal(secret_key, client_secret, _secret_context(workspace.id))
    connection.oidc_token_endpoint = provider.token_endpoint
    connection.oidc_token_auth_method = provider.token_auth_method
    connection.oidc_jwks_uri = provider.jwks_uri
    connection.oidc_algorithms = " ".join(provider.algorithms)
    connection.lookup = lookup
    connection.skew_seconds = skew_seconds
    connection.tested_at = None
    connection.updated = utcnow()
    session.flush()
    return connection


def relying_party(connection: SsoConnection, public_url: str, secret_key: str) -> RelyingParty:
    """The OIDC client of an ``oidc`` connection. Raises sso.SignInRefused (logged) when the
    stored client secret does not open with ``secret_key`` (the secret key was changed)."""
    try:
        client_secret = unseal(
            secret_key, connection.oidc_client_secret or "", _secret_context(connection.workspace_id)
        )
    except SealedSecretUnreadable as exc:
        raise sso.refusal(
            connection.workspace_id,
            "the stored OIDC client secret does not open with this secret key",
            "Single sign-on is not working for your workspace right now. Ask your admin.",
        ) from exc
    return RelyingParty(
        issuer=connection.idp_entity_id,
        client_id=connection.oidc_client_id or "",
        client_secret=client_secret,
        authorization_endpoint=connection.idp_sso_url,
        token_endpoint=connection.oidc_token_endpoint or "",
        token_auth_method=connection.oidc_token_auth_method or "client_secret_basic",
        jwks_uri=connection.oidc_jwks_uri or "",
        algorithms=tuple((connection.oidc_algorithms or "").split()),
        redirect_uri=redirect_uri(public_url, connection.workspace_id),
        skew_seconds=connection.skew_seconds,
    )


def _request_id(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Begun:
    """An issued authorization request: where to send the browser and the ``state`` it carries
    (the caller also keeps it in a cookie of that browser)."""

    location: str
    state: str


def begin(
    session: Session,
    public_url: str,
    secret_key: str,
    connection: SsoConnection,
    *,
    login_hint: str = "",
    test: bool = False,
) -> Begun:
    """Issue an authorization request (Core §3.1.2.1 with PKCE S256): fresh ``state`` and
    ``nonce`` (32 random bytes each) and a 64-character code verifier, stored single use for
    REQUEST_LIFETIME; the workspace's expired requests are deleted (indexed by ``expires``).
    Raises sso.SignInRefused when the client secret cannot be opened."""
    party = relying_party(connection, public_url, secret_key)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(48)
    now = utcnow()
    expired = (OidcRequest.expires < now, OidcRequest.workspace_id == connection.workspace_id)
    session.execute(delete(OidcRequest).where(*expired))
    session.add(
        OidcRequest(
            id=_request_id(state),
            workspace_id=connection.workspace_id,
            nonce=nonce,
            code_verifier=code_verifier,
            test=test,
            created=now,
            expires=now + REQUEST_LIFETIME,
        )
    )
    session.flush()
    return Begun(party.authorization_url(state, nonce, code_verifier, login_hint), state)


@dataclass(frozen=True)
class PendingCallback:
    """A consumed authorization request: the client to finish with, its nonce and verifier."""

    party: RelyingParty
    nonce: str
    code_verifier: str
    test: bool


def take_request(
    session: Session, public_url: str, secret_key: str, workspace_id: str, state: str
) -> PendingCallback:
    """Consume the open request of ``workspace_id`` that ``state`` names (at most once, before
    it expires). Raises sso.SignInRefused (logged): no OIDC connection, no such open request."""
    connection = sso.get_connection(session, workspace_id, "oidc")
    if connection is None:
        raise sso.refusal(workspace_id, "no OIDC connection", "This workspace has no OpenID Connect sign-in.")
    request_id = _request_id(state)
    consumed = session.execute(
        update(OidcRequest)
        .where(
            OidcRequest.id == request_id,
            OidcRequest.workspace_id == workspace_id,
            OidcRequest.consumed_at.is_(None),
            OidcRequest.expires > utcnow(),
        )
        .values(consumed_at=utcnow())
    )
    if consumed.rowcount != 1:  # type: ignore[attr-defined]
        raise sso.refusal(workspace_id, "state names no open request of this workspace")
    request = session.get(OidcRequest, request_id)
    assert request is not None
    party = relying_party(connection, public_url, secret_key)
    return PendingCallback(party, request.nonce, request.code_verifier, request.test)


def refuse(workspace_id: str, exc: OidcRefused) -> sso.SignInRefused:
    """An OidcRefused from the protocol checks as the member's refusal (logged)."""
    return sso.refusal(workspace_id, exc.reason)


def complete(
    session: Session,
    workspace_id: str,
    sign_in: OidcSignIn,
    pending: PendingCallback,
    previous_token: str | None = None,
) -> sso.SignedIn:
    """Bind and check the member of a verified ID token and (not in test mode) start its
    session, rotating ``previous_token`` away. Raises sso.SignInRefused (logged): the
    connection was changed to another issuer meanwhile, or services.sso.bind_member's refusals."""
    connection = sso.get_connection(session, workspace_id, "oidc")
    if connection is None or connection.idp_entity_id != sign_in.issuer:
        raise sso.refusal(workspace_id, "OIDC connection changed during sign-in")
    if pending.test:
        return sso.test_sign_in(session, connection, sign_in, sign_in.attributes())
    member, newly_bound = sso.bind_member(session, connection, sign_in)
    token = sso.start_member_session(session, member, previous_token)
    return sso.SignedIn(member.id, workspace_id, False, token, newly_bound, sign_in.attributes(),
                        member.user_name, sign_in.subject)
