"""Single sign-on rules: a workspace's SAML connection, home realm discovery, and binding a
sign-in to the provisioned member (issue 18). The binding rules below serve OpenID Connect too
(services.oidc calls :func:`bind_member` and :func:`start_member_session`).

Binding (the rule that keeps a renamed member whole): a member is found by a stable key, never by
a display value. The assertion's subject (sso.saml.SignIn.subject: Entra's objectidentifier
claim, else issuer + NameID) is looked up in ``sso_binding``. On the first sign-in there is no
binding, so the member is found by the connection's ``lookup``: ``userName`` (compared
case-insensitively, RFC 7643 §4.1.1) against the email-shaped values sent, or ``externalId``
(case-exact, RFC 7643 §3.1) against the object id or the NameID. The subject is then bound to
that member. Later sign-ins go through the binding, so SCIM renames never detach it. A subject
whose NameID is itself a display value (emailAddress or unspecified format: ``stable`` False)
is re-pointed when the member it named was renamed; a stable binding is never replaced. No member
is created at sign-in (just-in-time creation stays off while SCIM provisions the workspace).

A test sign-in (started by an admin from the Single sign-on card: an AuthnRequest marked
``test``) runs every check and the binding rules inside a savepoint that is rolled back: it
reports the member matched, the attributes and any problem, starts no session, binds nothing,
and on success records ``sso_connection.tested_at`` (a prerequisite of requiring SSO,
services.sso_setup).

Every refusal raises SignInRefused with the text the member sees; nothing is bound and no
session starts. Refusals are logged with the workspace and reason, never the assertion or email.

Two short transactions around the signature check (xmlsec1 runs outside any transaction):
:func:`prepare_acs` reads, :func:`complete_acs` writes (request consumed once, assertion id into
the replay cache, binding, session), so concurrent workers accept a response at most once.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scimgate.services import sessions
from scimgate.services.domains import email_domain
from scimgate.services.workspaces import WorkspaceError
from scimgate.sso.metadata import read_idp_metadata, stored_certificates, with_signing_certificates
from scimgate.sso.saml import ServiceProvider, SignIn, authn_request
from scimgate.sso.xml_guard import SamlRefused, check_response
from scimgate.storage.models import (
    LIVE_MEMBER,
    Agent,
    Chat,
    EmailDomain,
    GroupMember,
    Member,
    MemberEmail,
    ScimGroup,
    SsoAssertionSeen,
    SsoBinding,
    SsoConnection,
    SsoRequest,
    Workspace,
    utcnow,
)

log = logging.getLogger("scimgate.sso")

REQUEST_LIFETIME = timedelta(minutes=10)
"""How long an issued AuthnRequest may be answered."""
REPLAY_KEEP = timedelta(hours=24)
"""How long an accepted assertion id is remembered (longer than any assertion's validity)."""
MEMBER_SESSION_LIFETIME = timedelta(hours=12)
LOOKUPS = ("userName", "externalId")
DEACTIVATED = "Your organisation has deactivated your access."
NOT_PROVISIONED = "Ask your admin to give you access."


class SsoError(WorkspaceError):
    """An admin's SSO operation that cannot be done; the message says why and what to do."""


class SignInRefused(Exception):
    """A sign-in refused; ``str()`` is what the member sees, ``reason`` what is logged (and shown
    to the admin of a test sign-in: it holds no personal data). ``test`` is True when the refused
    response is known to answer a test sign-in."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message
        self.test = False


def service_provider(public_url: str, connection: SsoConnection) -> ServiceProvider:
    """The pysaml2 SP description of ``connection`` (a SAML one)."""
    return ServiceProvider(
        public_url,
        connection.workspace_id,
        connection.metadata_xml or "",
        connection.skew_seconds,
        connection.allow_idp_initiated,
    )


def get_connection(session: Session, workspace_id: str, kind: str | None = None) -> SsoConnection | None:
    """The workspace's SSO connection (of ``kind``, ``saml`` or ``oidc``, when given), or None."""
    connection = session.scalar(select(SsoConnection).where(SsoConnection.workspace_id == workspace_id))
    return None if connection is None or kind not in (None, connection.kind) else connection


def sp_of_workspace(session: Session, public_url: str, workspace_id: str) -> ServiceProvider | None:
    """The workspace's SP (with the IdP metadata once a connection exists, so an admin can give
    the IdP scimgate's metadata first); None for an unknown workspace."""
    connection = get_connection(session, workspace_id, "saml")
    if connection is not None:
        return service_provider(public_url, connection)
    if session.get(Workspace, workspace_id) is None:
        return None
    return ServiceProvider(public_url, workspace_id, "")


def configure_saml(
    session: Session, workspace: Workspace, metadata_xml: str | bytes, lookup: str = "userName"
) -> SsoConnection:
    """Create or replace the workspace's SAML connection from IdP metadata. Raises SsoError
    (metadata refused: sso.metadata.MetadataError's message; unknown ``lookup``). Replacing the
    metadata keeps bindings, clears the test result and switches enforcement off."""
    if lookup not in LOOKUPS:
        raise SsoError(f"The member lookup must be one of {', '.join(LOOKUPS)}, not {lookup!r}.")
    try:
        metadata = read_idp_metadata(metadata_xml)
    except ValueError as exc:
        raise SsoError(str(exc)) from exc
    connection = get_connection(session, workspace.id)
    if connection is None:
        connection = SsoConnection(id=str(uuid.uuid4()), workspace_id=workspace.id)
        session.add(connection)
    elif connection.kind != "saml" or connection.idp_entity_id != metadata.entity_id:
        connection.required = False
    connection.kind = "saml"
    clear_oidc(connection)
    connection.idp_entity_id = metadata.entity_id
    connection.idp_sso_url = metadata.sso_url
    connection.metadata_xml = metadata.xml
    connection.certificate_not_after = max(metadata.certificate_expiry)
    connection.lookup = lookup
    connection.tested_at = None
    connection.updated = utcnow()
    session.flush()
    log.info("SAML connection configured for IdP %s", metadata.entity_id,
             extra={"workspace_id": workspace.id})
    return connection


def clear_oidc(connection: SsoConnection) -> None:
    """Forget the OIDC client of a connection that becomes a SAML one."""
    connection.oidc_client_id = connection.oidc_client_secret = None
    connection.oidc_token_endpoint = connection.oidc_token_auth_method = None
    connection.oidc_jwks_uri = connection.oidc_algorithms = None


# --- Sign-in ----------------------------------------------------------------------------------


def discover(session: Session, email: str) -> SsoConnection:
    """Home realm discovery: the SSO connection (SAML or OIDC) of the one workspace that
    verified the email's domain. Raises SignInRefused when the address has no domain, no
    workspace verified it, or the workspace has no SSO connection."""
    domain = email_domain(email.strip())
    if domain is None:
        raise SignInRefused("Enter your work email address (name@company.example).")
    workspace_ids = list(
        session.scalars(
            select(EmailDomain.workspace_id)
            .where(EmailDomain.name == domain, EmailDomain.verified_at.is_not(None))
            .limit(2)
        )
    )
    if len(workspace_ids) != 1:
        raise SignInRefused(
            "No workspace signs in people of this email domain. " + NOT_PROVISIONED,
            reason="home realm discovery found no single workspace",
        )
    connection = get_connection(session, workspace_ids[0])
    if connection is None:
        raise SignInRefused(
            "Your workspace has not set up single sign-on yet. Ask your admin.",
            reason="workspace has no SSO connection",
        )
    return connection


def begin(session: Session, public_url: str, connection: SsoConnection, *, test: bool = False) -> str:
    """Issue an AuthnRequest (stored, single use, valid REQUEST_LIFETIME) and return the IdP
    redirect URL carrying it (SAML 2.0 Bindings §3.4, HTTP-Redirect)."""
    request_id, location = authn_request(service_provider(public_url, connection), connection.idp_sso_url)
    now = utcnow()
    session.add(
        SsoRequest(
            id=request_id,
            workspace_id=connection.workspace_id,
            test=test,
            created=now,
            expires=now + REQUEST_LIFETIME,
        )
    )
    session.flush()
    return location


@dataclass(frozen=True)
class PendingAcs:
    """What :func:`prepare_acs` read: the SP to check with and the outstanding request (if any)."""

    sp: ServiceProvider
    outstanding: dict[str, str]
    in_response_to: str | None

    @property
    def test(self) -> bool:
        """True when the response answers an admin's test sign-in request."""
        return self.in_response_to is not None and self.outstanding.get(self.in_response_to) == "test"


def prepare_acs(session: Session, public_url: str, workspace_id: str, saml_response: str) -> PendingAcs:
    """Read the connection and the one request the response answers. Raises SignInRefused."""
    connection = get_connection(session, workspace_id, "saml")
    if connection is None:
        raise SignInRefused("This workspace has no single sign-on connection.", reason="no connection")

    try:
        shape = check_response(base64.b64decode(saml_response, validate=False))
    except (SamlRefused, ValueError) as exc:
        raise refusal(workspace_id, getattr(exc, "reason", "not base64")) from exc
    outstanding: dict[str, str] = {}
    if shape.in_response_to is not None:
        request = session.scalar(
            select(SsoRequest).where(
                SsoRequest.id == shape.in_response_to,
                SsoRequest.workspace_id == workspace_id,
                SsoRequest.consumed_at.is_(None),
                SsoRequest.expires > utcnow(),
            )
        )
        if request is None:
            raise refusal(workspace_id, "InResponseTo names no open request of this workspace")
        outstanding[request.id] = "test" if request.test else "/me"
    try:
        sp = trusted_sp(public_url, connection)
    except SignInRefused as exc:
        exc.test = "test" in outstanding.values()
        raise
    return PendingAcs(sp, outstanding, shape.in_response_to)


def trusted_sp(public_url: str, connection: SsoConnection) -> ServiceProvider:
    """The SP to check a response with, trusting only the connection's unexpired signing
    certificates (an expired one left in the metadata after a roll-over signs nothing). Raises
    SignInRefused when every certificate has expired."""
    if connection.metadata_xml is None:
        raise refusal(connection.workspace_id, "single sign-on uses OpenID Connect, not SAML")
    now = utcnow()
    certificates = stored_certificates(connection.metadata_xml)
    valid = [c for c in certificates if c.not_after > now]
    if not valid:
        raise refusal(connection.workspace_id, "every trusted IdP signing certificate has expired")
    sp = service_provider(public_url, connection)
    if len(valid) == len(certificates):
        return sp
    return dataclasses.replace(sp, idp_metadata_xml=with_signing_certificates(connection.metadata_xml, valid))


def refusal(workspace_id: str, reason: str, message: str | None = None) -> SignInRefused:
    """A refusal for the member (``message``, else "start again"), logged with ``reason``:
    the workspace and the reason only, never a token, assertion, NameID or email."""
    log.warning("sso sign-in refused: %s", reason, extra={"workspace_id": workspace_id})
    return SignInRefused(
        message or "The sign-in could not be checked. Start again from the sign-in page.", reason=reason
    )


@dataclass(frozen=True)
class SignedIn:
    """An accepted sign-in: the member, whether it was a test, the session token (not for tests),
    and the assertion's attributes (shown in test mode).

    A test sign-in never starts a session and never binds: ``newly_bound`` then says that a real
    first sign-in would bind ``subject`` to the member; ``problem`` is the reason a real sign-in
    would be refused (``member_id`` None when no member matched)."""

    member_id: str | None
    workspace_id: str
    test: bool
    token: str | None
    newly_bound: bool
    attributes: dict[str, list[str]] = field(default_factory=dict)
    user_name: str | None = None
    subject: str = ""
    problem: str | None = None


def refuse(workspace_id: str, exc: SamlRefused) -> SignInRefused:
    """A SamlRefused from the protocol checks as the member's refusal (logged)."""
    return refusal(workspace_id, exc.reason)


def complete_acs(
    session: Session,
    workspace_id: str,
    sign_in: SignIn,
    pending: PendingAcs,
    previous_token: str | None = None,
) -> SignedIn:
    """Consume the request, record the assertion id, bind and check the member, and (not in
    test mode) start a member session, rotating ``previous_token`` away. Raises SignInRefused."""
    connection = get_connection(session, workspace_id, "saml")
    if connection is None:
        raise refusal(workspace_id, "connection removed during sign-in")
    test = False
    if sign_in.in_response_to is not None:
        consumed = session.execute(
            update(SsoRequest)
            .where(
                SsoRequest.id == sign_in.in_response_to,
                SsoRequest.workspace_id == workspace_id,
                SsoRequest.consumed_at.is_(None),
            )
            .values(consumed_at=utcnow())
        )
        if consumed.rowcount != 1:  # type: ignore[attr-defined]
            raise refusal(workspace_id, "the request was already answered")
        test = pending.outstanding.get(sign_in.in_response_to) == "test"
    try:
        with session.begin_nested():
            session.add(
                SsoAssertionSeen(
                    workspace_id=workspace_id,
                    assertion_id=sign_in.assertion_id,
                    expires=utcnow() + REPLAY_KEEP,
                )
            )
    except IntegrityError as exc:
        raise refusal(workspace_id, "assertion replayed") from exc
    if test:
        return test_sign_in(session, connection, sign_in, sign_in.attributes)
    member, newly_bound = bind_member(session, connection, sign_in)
    token = start_member_session(session, member, previous_token)
    return SignedIn(member.id, workspace_id, False, token, newly_bound, sign_in.attributes,
                    member.user_name, sign_in.subject)


def test_sign_in(session: Session, connection: SsoConnection, sign_in: SignInFacts,
                 attributes: dict[str, list[str]]) -> SignedIn:
    """An admin's test sign-in (SAML or OIDC): the binding rules run inside a savepoint that is
    rolled back, giving the outcome a real sign-in would have with nothing bound and no session.
    Success (a matched, active member) sets the connection's ``tested_at``."""
    member_id = user_name = problem = None
    newly_bound = False
    try:
        with session.begin_nested() as savepoint:
            member, newly_bound = _bind(session, connection, sign_in)
            member_id, user_name, active = member.id, member.user_name, member.active
            savepoint.rollback()
        if not active:
            problem = f"The member is deactivated (active false): {DEACTIVATED}"
    except SignInRefused as exc:
        problem = f"{exc.reason}: {exc}"
    if problem is None:
        connection.tested_at = utcnow()
    log.info("sso test sign-in %s", "succeeded" if problem is None else "found a problem",
             extra={"workspace_id": connection.workspace_id})
    return SignedIn(member_id, connection.workspace_id, True, None, newly_bound, attributes,
                    user_name, sign_in.subject, problem)


def start_member_session(session: Session, member: Member, previous_token: str | None) -> str:
    """A new member session (MEMBER_SESSION_LIFETIME) for ``member``; ``previous_token``, the
    browser's session before this sign-in, is revoked (rotation at sign-in). Returns the token."""
    if previous_token:
        sessions.revoke_session(session, previous_token)
    return sessions.create_session(
        session,
        workspace_id=member.workspace_id,
        subject_kind="member",
        subject_id=member.id,
        lifetime=MEMBER_SESSION_LIFETIME,
    )


class SignInFacts(Protocol):
    """What binding needs of an accepted sign-in (sso.saml.SignIn, sso.oidc.OidcSignIn)."""

    @property
    def subject(self) -> str: ...
    @property
    def stable(self) -> bool: ...
    def emails(self) -> list[str]: ...
    def external_ids(self) -> list[str]: ...


def bind_member(session: Session, connection: SsoConnection, sign_in: SignInFacts) -> tuple[Member, bool]:
    """The active member ``sign_in`` is bound to, binding it on a first sign-in by the
    connection's lookup; ``(member, newly bound)``. Raises SignInRefused: no member, a member
    already bound to another stable subject, a deactivated member (the binding then does not
    outlive the caller's rolled-back transaction)."""
    member, newly_bound = _bind(session, connection, sign_in)
    if not member.active:
        raise refusal(connection.workspace_id, "member deactivated", DEACTIVATED)
    return member, newly_bound


def _bind(session: Session, connection: SsoConnection, sign_in: SignInFacts) -> tuple[Member, bool]:
    workspace_id = connection.workspace_id
    binding = session.scalar(
        select(SsoBinding).where(
            SsoBinding.workspace_id == workspace_id, SsoBinding.subject == sign_in.subject
        )
    )
    if binding is not None:
        member = session.get(Member, binding.member_id)
        if member is None or member.workspace_id != workspace_id or member.removed_at is not None:
            raise refusal(workspace_id, "binding names no member of this workspace", NOT_PROVISIONED)
        binding.last_sign_in = utcnow()
        return member, False
    member = _lookup(session, connection, sign_in)
    if member is None:
        raise refusal(workspace_id, "no provisioned member matches", NOT_PROVISIONED)
    existing = session.scalar(
        select(SsoBinding).where(SsoBinding.workspace_id == workspace_id, SsoBinding.member_id == member.id)
    )
    if existing is not None:
        if existing.stable or sign_in.stable:
            raise refusal(
                workspace_id,
                "member already bound to another subject",
                "This account is already linked to another identity. Ask your admin.",
            )
        existing.subject, existing.last_sign_in = sign_in.subject, utcnow()  # a renamed email NameID
        return member, False
    try:
        with session.begin_nested():
            session.add(
                SsoBinding(
                    id=str(uuid.uuid4()),
                    workspace_id=workspace_id,
                    connection_id=connection.id,
                    subject=sign_in.subject,
                    stable=sign_in.stable,
                    member_id=member.id,
                )
            )
    except IntegrityError as exc:  # a concurrent first sign-in bound it first
        raise refusal(workspace_id, "concurrent binding") from exc
    return member, True


def _lookup(session: Session, connection: SsoConnection, sign_in: SignInFacts) -> Member | None:
    workspace_id = connection.workspace_id
    if connection.lookup == "externalId":
        values = sign_in.external_ids()
        found = {
            member.external_id: member
            for member in session.scalars(
                select(Member)
                .where(Member.workspace_id == workspace_id, Member.external_id.in_(values),
                       LIVE_MEMBER)
                .limit(len(values))
            )
        }
        return next((found[value] for value in values if value in found), None)
    candidates = [value.lower() for value in sign_in.emails()]
    if not candidates:
        return None
    return session.scalar(
        select(Member)
        .where(Member.workspace_id == workspace_id, Member.user_name_lower.in_(candidates),
               LIVE_MEMBER)
        .order_by(func.length(Member.user_name_lower))
        .limit(1)
    )


# --- The member's home ------------------------------------------------------------------------


def member_of_session(session: Session, token: str | None) -> Member | None:
    """The active member whose live session ``token`` is, or None."""
    info = sessions.resolve_session(session, token or "")
    if info is None or info.subject_kind != "member":
        return None
    member = session.get(Member, info.subject_id)
    if member is None or member.workspace_id != info.workspace_id or not member.active:
        return None
    if member.removed_at is not None:
        return None
    return member


def sign_out(session: Session, token: str | None) -> None:
    """End the session of ``token`` (harmless when there is none)."""
    if token:
        sessions.revoke_session(session, token)


def primary_email(session: Session, member: Member) -> str | None:
    """The member's primary email, else its first, else None."""
    return session.scalar(
        select(MemberEmail.value)
        .where(MemberEmail.member_id == member.id)
        .order_by(MemberEmail.primary.desc(), MemberEmail.position)
        .limit(1)
    )


HOME_LIST_LIMIT = 100
"""At most this many groups, chats and agents are listed on the member's home."""


@dataclass(frozen=True)
class MemberHome:
    """What ``/me`` and ``/api/me`` show: the member, its workspace, groups and what it owns."""

    id: str
    user_name: str
    display_name: str | None
    email: str | None
    workspace_id: str
    workspace_name: str
    role: str
    groups: list[dict[str, str]]
    chats: list[dict[str, str]]
    agents: list[dict[str, str]]

    def as_json(self) -> dict[str, object]:
        """The ``/api/me`` body (``id`` is the SCIM id; ``role`` the workspace role, services.roles)."""
        return {
            "id": self.id,
            "userName": self.user_name,
            "displayName": self.display_name,
            "email": self.email,
            "workspace": {"id": self.workspace_id, "name": self.workspace_name},
            "role": self.role,
            "groups": self.groups,
            "chats": self.chats,
            "agents": self.agents,
        }


def member_home(session: Session, member: Member) -> MemberHome:
    """The member's home (bounded lists, each one indexed query)."""
    workspace = session.get(Workspace, member.workspace_id)
    assert workspace is not None
    groups = session.execute(
        select(ScimGroup.id, ScimGroup.display_name)
        .join(GroupMember, GroupMember.group_id == ScimGroup.id)
        .where(GroupMember.member_id == member.id, GroupMember.workspace_id == member.workspace_id)
        .order_by(ScimGroup.display_name_lower)
        .limit(HOME_LIST_LIMIT)
    ).all()
    chats = session.execute(
        select(Chat.id, Chat.title)
        .where(Chat.workspace_id == member.workspace_id, Chat.member_id == member.id)
        .order_by(Chat.created, Chat.id)
        .limit(HOME_LIST_LIMIT)
    ).all()
    agents = session.execute(
        select(Agent.id, Agent.name)
        .where(Agent.workspace_id == member.workspace_id, Agent.member_id == member.id)
        .order_by(Agent.created, Agent.id)
        .limit(HOME_LIST_LIMIT)
    ).all()
    return MemberHome(
        member.id,
        member.user_name,
        member.display_name,
        primary_email(session, member),
        workspace.id,
        workspace.name,
        member.role,
        [{"id": g, "displayName": d} for g, d in groups],
        [{"id": c, "title": t} for c, t in chats],
        [{"id": a, "name": n} for a, n in agents],
    )
