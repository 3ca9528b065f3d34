"""What the Single sign-on card of the Security settings page shows (templates/_sso_card.html).

The values an admin pastes into the identity provider, under each provider's own field names
(Microsoft Learn, "Enable SAML single sign-on for an enterprise application"; Okta, "Create SAML
app integrations"; Google Workspace Admin Help, "Set up your own custom SAML app"), the trusted
signing certificates with their expiry (warned EXPIRY_WARNING_DAYS ahead), the prerequisites of
"Require SSO" and the local admin accounts, which stay as break-glass access.

For OpenID Connect the value to paste is the redirect URI (services.oidc.redirect_uri), under
Entra's "Redirect URI (Web)" (Microsoft Learn, "Register an application with the Microsoft
identity platform"), Okta's "Sign-in redirect URIs" ("Create OIDC app integrations") and
Google's "Authorized redirect URIs" (Google Cloud console, OAuth client ID for a web
application). The client secret is stored sealed and never shown back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from scimgate.services import admins, oidc, sso, sso_setup
from scimgate.sso.metadata import EXPIRY_WARNING_DAYS, Certificate
from scimgate.storage.models import AdminAccount, SsoConnection, Workspace, utcnow


@dataclass(frozen=True)
class Field:
    """One value to paste into the identity provider: ``id`` of its input, the provider's label."""

    id: str
    label: str
    value: str


@dataclass(frozen=True)
class Provider:
    """An identity provider's fields, in the order its setup page asks for them."""

    key: str
    name: str
    fields: tuple[Field, ...]
    hint: str


@dataclass(frozen=True)
class SsoCard:
    """The card's content for one workspace."""

    entity_id: str
    acs_url: str
    sign_on_url: str
    metadata_url: str
    providers: tuple[Provider, ...]
    redirect_uri: str
    oidc_providers: tuple[Provider, ...]
    connection: SsoConnection | None
    certificates: tuple[Certificate, ...]
    now: datetime
    prerequisites: sso_setup.Prerequisites
    admins: tuple[AdminAccount, ...]
    warning_days: int = EXPIRY_WARNING_DAYS

    @property
    def expiry_warning(self) -> str | None:
        """A warning when the last trusted certificate expires within the warning window."""
        if not self.certificates:
            return None
        last = max(self.certificates, key=lambda c: c.not_after)
        days = last.days_left(self.now)
        if days < 0:
            return (f"Every trusted signing certificate has expired (the last on {last.not_after:%Y-%m-%d}):"
                    " sign-ins are refused. Add the identity provider's new certificate or give "
                    "fresh metadata.")
        if last.expiring_soon(self.now):
            return (f"The signing certificate expires on {last.not_after:%Y-%m-%d} (in {days} days). Create "
                    "the new certificate in the identity provider and add it here before then: both are "
                    "trusted until you remove the old one.")
        return None


def providers(entity_id: str, acs_url: str, sign_on_url: str) -> tuple[Provider, ...]:
    """The SP values under Entra's, Okta's and Google Workspace's field names."""
    return (
        Provider("entra", "Microsoft Entra ID", (
            Field("entra-entity-id", "Identifier (Entity ID)", entity_id),
            Field("entra-reply-url", "Reply URL (Assertion Consumer Service URL)", acs_url),
            Field("entra-sign-on-url", "Sign on URL", sign_on_url),
        ), "Enterprise application → Single sign-on → SAML → Basic SAML Configuration. Then download "
           "Federation Metadata XML (SAML Certificates) and give it below."),
        Provider("okta", "Okta", (
            Field("okta-sso-url", "Single sign-on URL", acs_url),
            Field("okta-audience", "Audience URI (SP Entity ID)", entity_id),
        ), "Create App Integration → SAML 2.0 → Configure SAML; Name ID format Persistent where offered. "
           "Then copy the Identity Provider metadata from the Sign On tab."),
        Provider("google", "Google Workspace", (
            Field("google-acs-url", "ACS URL", acs_url),
            Field("google-entity-id", "Entity ID", entity_id),
        ), "Admin console → Apps → Web and mobile apps → Add custom SAML app; download the IdP metadata "
           "on the Google Identity Provider details step; Name ID format EMAIL."),
    )


def oidc_providers(redirect_uri: str) -> tuple[Provider, ...]:
    """The OIDC redirect URI under Entra's, Okta's and Google's field names."""
    return (
        Provider("entra", "Microsoft Entra ID", (
            Field("oidc-entra-redirect-uri", "Redirect URI (Web)", redirect_uri),
        ), "App registrations → New registration → Redirect URI, platform Web. The issuer is "
           "https://login.microsoftonline.com/{tenant-id}/v2.0; create the client secret under "
           "Certificates & secrets."),
        Provider("okta", "Okta", (
            Field("oidc-okta-redirect-uri", "Sign-in redirect URIs", redirect_uri),
        ), "Create App Integration → OIDC - OpenID Connect → Web Application, grant type "
           "Authorization Code. The issuer is your authorization server's (e.g. "
           "https://{your-org}.okta.com/oauth2/default)."),
        Provider("google", "Google Workspace", (
            Field("oidc-google-redirect-uri", "Authorized redirect URIs", redirect_uri),
        ), "Google Cloud console → APIs & Services → Credentials → Create OAuth client ID → Web "
           "application. The issuer is https://accounts.google.com."),
    )


def sso_card(db: Session, workspace: Workspace, public_url: str) -> SsoCard:
    """The card of ``workspace``: a few indexed reads (connection, a verified domain, admins)."""
    sp = sso.sp_of_workspace(db, public_url, workspace.id)
    assert sp is not None
    connection = sso.get_connection(db, workspace.id)
    sign_on_url = public_url.rstrip("/") + "/login"
    redirect_uri = oidc.redirect_uri(public_url, workspace.id)
    return SsoCard(
        entity_id=sp.entity_id,
        acs_url=sp.acs_url,
        sign_on_url=sign_on_url,
        metadata_url=sp.entity_id,
        providers=providers(sp.entity_id, sp.acs_url, sign_on_url),
        redirect_uri=redirect_uri,
        oidc_providers=oidc_providers(redirect_uri),
        connection=connection,
        certificates=(sso_setup.certificates(connection)
                      if connection is not None and connection.kind == "saml" else ()),
        now=utcnow(),
        prerequisites=sso_setup.prerequisites(db, workspace),
        admins=tuple(admins.list_admins(db, workspace)),
    )
