"""The admin side of a workspace's SAML connection (issue 18): signing-certificate roll-over,
the prerequisites of "Require SSO for verified domains", and the switch itself.

Certificates: the connection trusts exactly the signing certificates in its stored IdP metadata
(sso.saml: pysaml2 ``only_use_keys_in_metadata``). Roll-over adds a second certificate to that
metadata (both are trusted), and removing the old one takes it out; the last unexpired one can
never be removed (upload fresh metadata instead). Adding or removing a certificate keeps the
test result and the switch: the identity provider is the same one.

Requiring SSO needs a connection (SAML or OpenID Connect), a verified domain of the workspace and
a successful test sign-in over it since it was last replaced (sso_connection.tested_at). Local admin accounts
(services.admins, password sign-in at /admin/login) are not affected: they are the break-glass
way in when the identity provider is down or misconfigured.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scimgate.services.sso import SsoError, get_connection
from scimgate.sso.metadata import (
    Certificate,
    MetadataError,
    read_certificate,
    stored_certificates,
    with_signing_certificates,
)
from scimgate.storage.models import EmailDomain, SsoConnection, Workspace, utcnow

log = logging.getLogger("scimgate.sso")

NO_CONNECTION = ("Configure single sign-on first: give the identity provider's SAML metadata or its OpenID "
                 "Connect issuer (Security settings, Single sign-on; scimgate sso saml add or sso oidc add).")
NO_VERIFIED_DOMAIN = "Verify an email domain first: SSO is required for the workspace's verified domains."
NOT_TESTED = "Run a test sign-in first (Security settings, Single sign-on, Test sign-in) and let it succeed."


class SsoPrerequisiteMissing(SsoError):
    """Requiring SSO was refused because a prerequisite is missing; the message names it."""


class CertificateNotFound(SsoError):
    """No trusted signing certificate with this fingerprint."""


@dataclass(frozen=True)
class Prerequisites:
    """What "Require SSO" needs: a connection, a verified domain, a successful test sign-in."""

    connection: bool
    verified_domain: bool
    tested_at: datetime | None

    def missing(self) -> str | None:
        """The message for the first prerequisite missing, or None when all are met."""
        if not self.connection:
            return NO_CONNECTION
        if not self.verified_domain:
            return NO_VERIFIED_DOMAIN
        if self.tested_at is None:
            return NOT_TESTED
        return None


def prerequisites(session: Session, workspace: Workspace) -> Prerequisites:
    """Read the prerequisites of requiring SSO for ``workspace`` (two indexed lookups)."""
    connection = get_connection(session, workspace.id)
    verified = session.scalar(
        select(EmailDomain.id)
        .where(EmailDomain.workspace_id == workspace.id, EmailDomain.verified_at.is_not(None))
        .limit(1)
    )
    return Prerequisites(connection is not None, verified is not None,
                         connection.tested_at if connection is not None else None)


def set_required(session: Session, workspace: Workspace, required: bool) -> SsoConnection:
    """Switch "Require SSO for verified domains" on or off. Switching on raises
    SsoPrerequisiteMissing (see :class:`Prerequisites`); off needs only a connection."""
    found = prerequisites(session, workspace)
    problem = found.missing() if required else (None if found.connection else NO_CONNECTION)
    if problem is not None:
        raise SsoPrerequisiteMissing(problem)
    connection = get_connection(session, workspace.id)
    assert connection is not None
    connection.required = required
    connection.updated = utcnow()
    log.info("require SSO switched %s", "on" if required else "off", extra={"workspace_id": workspace.id})
    return connection


def certificates(connection: SsoConnection) -> tuple[Certificate, ...]:
    """The signing certificates the connection trusts, in the metadata's order; none for an
    OpenID Connect connection, which has no SAML metadata."""
    if connection.metadata_xml is None:
        return ()
    return stored_certificates(connection.metadata_xml)


def _saml_metadata(connection: SsoConnection) -> str:
    """The connection's SAML metadata; SsoError for an OpenID Connect connection."""
    if connection.metadata_xml is None:
        raise SsoError("Single sign-on uses OpenID Connect here: it has no SAML signing certificates.")
    return connection.metadata_xml


def _connection(session: Session, workspace: Workspace) -> SsoConnection:
    connection = get_connection(session, workspace.id)
    if connection is None:
        raise SsoError(NO_CONNECTION)
    return connection


def _store(connection: SsoConnection, trusted: list[Certificate]) -> None:
    connection.metadata_xml = with_signing_certificates(_saml_metadata(connection), trusted)
    connection.certificate_not_after = max(c.not_after for c in trusted)
    connection.updated = utcnow()


def add_certificate(session: Session, workspace: Workspace, text: str | bytes) -> Certificate:
    """Trust a second signing certificate (PEM or base64 DER) next to the current ones, for the
    identity provider's roll-over. Raises SsoError: no connection, not a certificate, expired,
    or already trusted."""
    connection = _connection(session, workspace)
    _saml_metadata(connection)
    try:
        added = read_certificate(text)
    except MetadataError as exc:
        raise SsoError(str(exc)) from exc
    trusted = list(certificates(connection))
    if any(c.fingerprint == added.fingerprint for c in trusted):
        raise SsoError("This certificate is already trusted.")
    _store(connection, [*trusted, added])
    log.info("IdP signing certificate %s added", added.fingerprint[:16], extra={"workspace_id": workspace.id})
    return added


def remove_certificate(session: Session, workspace: Workspace, fingerprint: str) -> Certificate:
    """Stop trusting the certificate with SHA-256 ``fingerprint`` (hex). Raises
    CertificateNotFound, or SsoError when no unexpired certificate would remain."""
    connection = _connection(session, workspace)
    trusted = list(certificates(connection))
    target = next((c for c in trusted if c.fingerprint == fingerprint.strip().lower()), None)
    if target is None:
        raise CertificateNotFound("No trusted signing certificate has this fingerprint.")
    remaining = [c for c in trusted if c is not target]
    now = utcnow()
    if not any(c.not_after > now for c in remaining):
        raise SsoError("This is the last valid signing certificate: add the new one first, or give "
                       "fresh metadata from the identity provider.")
    _store(connection, remaining)
    log.info("IdP signing certificate %s removed", target.fingerprint[:16],
             extra={"workspace_id": workspace.id})
    return target
