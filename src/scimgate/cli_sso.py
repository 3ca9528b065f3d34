"""``scimgate sso``: a workspace's single sign-on (SAML 2.0 or OpenID Connect) from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from scimgate.cli_database import unit_of_work
from scimgate.config import Settings, resolve_secret_key
from scimgate.services import oidc, sso, sso_setup, workspaces
from scimgate.sso.oidc import DiscoveryError, fetch_discovery
from scimgate.sso.saml import ServiceProvider
from scimgate.storage.models import utcnow

sso_app = typer.Typer(help="Single sign-on (SAML 2.0 or OpenID Connect) of a workspace.",
                      no_args_is_help=True)
saml_app = typer.Typer(help="The SAML connection.", no_args_is_help=True)
oidc_app = typer.Typer(help="The OpenID Connect connection.", no_args_is_help=True)
sso_app.add_typer(saml_app, name="saml")
sso_app.add_typer(oidc_app, name="oidc")
MetadataOption = typer.Option(..., exists=True, dir_okay=False, readable=True,
                              help="The identity provider's SAML metadata XML file.")


@saml_app.command("add")
def saml_add(
    workspace: str,
    metadata: Path = MetadataOption,
    lookup: str = typer.Option(
        "userName", help="How a first sign-in finds its member: userName or externalId."
    ),
) -> None:
    """Configure SAML for WORKSPACE from the IdP's metadata; print the SP entity ID and ACS URL."""
    public_url = Settings().public_url
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        connection = sso.configure_saml(session, found, metadata.read_bytes(), lookup)
        sp = ServiceProvider(public_url, found.id, connection.metadata_xml or "")
        typer.echo(f"SAML configured for {found.name} (identity provider {connection.idp_entity_id}).")
        typer.echo(f"SP entity ID: {sp.entity_id}")
        typer.echo(f"ACS URL: {sp.acs_url}")
        typer.echo(f"Sign on URL: {public_url.rstrip('/')}/login")


SecretFileOption = typer.Option(..., exists=True, dir_okay=False, readable=True,
                                help="A file holding the client secret (its first line is used).")


@oidc_app.command("add")
def oidc_add(
    workspace: str,
    issuer: str = typer.Option(..., help="The provider's issuer URL, as its discovery document names it."),
    client_id: str = typer.Option(..., help="The client (application) id the provider gave."),
    client_secret_file: Path = SecretFileOption,
    lookup: str = typer.Option(
        "userName", help="How a first sign-in finds its member: userName or externalId."
    ),
    skew_seconds: int = typer.Option(120, help="Clock skew allowed on ID token times, in seconds."),
) -> None:
    """Configure OpenID Connect for WORKSPACE from the issuer's discovery document; print the
    redirect URI to register at the provider."""
    settings = Settings()
    lines = client_secret_file.read_text(encoding="utf-8").splitlines()
    try:
        provider = fetch_discovery(issuer.strip(), settings.oidc_allow_loopback_http)
    except DiscoveryError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        oidc.configure_oidc(
            session,
            found,
            provider,
            client_id,
            lines[0] if lines else "",
            resolve_secret_key(settings),
            lookup=lookup,
            skew_seconds=skew_seconds,
        )
        typer.echo(f"OpenID Connect configured for {found.name} (issuer {provider.issuer}).")
        typer.echo(f"Redirect URI: {oidc.redirect_uri(settings.public_url, found.id)}")
        typer.echo("Scopes: openid email profile")
        typer.echo(f"Sign on URL: {settings.public_url.rstrip('/')}/login")


CertificateArgument = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                     help="The new signing certificate (PEM or base64 DER).")


@saml_app.command("show")
def saml_show(workspace: str) -> None:
    """Show WORKSPACE's SAML connection: IdP, trusted certificates with expiry, test, Require SSO."""
    public_url = Settings().public_url
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        connection = sso.get_connection(session, found.id, "saml")
        if connection is None:
            raise sso.SsoError(sso_setup.NO_CONNECTION)
        sp = sso.service_provider(public_url, connection)
        typer.echo(f"SP entity ID: {sp.entity_id}")
        typer.echo(f"ACS URL: {sp.acs_url}")
        typer.echo(f"Identity provider: {connection.idp_entity_id} (first sign-in by {connection.lookup})")
        now = utcnow()
        for certificate in sso_setup.certificates(connection):
            days = certificate.days_left(now)
            state = "EXPIRED" if days < 0 else ("expires soon" if certificate.expiring_soon(now) else "valid")
            typer.echo(f"Certificate {certificate.fingerprint} {certificate.subject}: "
                       f"until {certificate.not_after:%Y-%m-%d} ({state})")
        tested = f"{connection.tested_at:%Y-%m-%d %H:%M} UTC" if connection.tested_at else "never"
        typer.echo(f"Last successful test sign-in: {tested}")
        typer.echo(f"Require SSO: {'on' if connection.required else 'off'}")


@saml_app.command("certificate-add")
def saml_certificate_add(workspace: str, certificate: Path = CertificateArgument) -> None:
    """Trust a second IdP signing certificate next to the current ones (roll-over)."""
    with unit_of_work() as session:
        added = sso_setup.add_certificate(session, workspaces.find_workspace(session, workspace),
                                          certificate.read_bytes())
        typer.echo(f"Trusted: {added.fingerprint} ({added.subject}, until {added.not_after:%Y-%m-%d}).")


@saml_app.command("certificate-remove")
def saml_certificate_remove(workspace: str, fingerprint: str) -> None:
    """Stop trusting the IdP signing certificate with this SHA-256 FINGERPRINT (hex)."""
    with unit_of_work() as session:
        removed = sso_setup.remove_certificate(session, workspaces.find_workspace(session, workspace),
                                               fingerprint)
        typer.echo(f"No longer trusted: {removed.fingerprint} ({removed.subject}).")


@sso_app.command("require")
def sso_require(workspace: str, state: str) -> None:
    """Require SSO for WORKSPACE's verified domains (on) or not (off)."""
    lowered = state.strip().lower()
    if lowered not in ("on", "off"):
        raise typer.BadParameter("say 'on' or 'off'")
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        sso_setup.set_required(session, found, lowered == "on")
        typer.echo(f"Require SSO for {found.name}: {lowered}.")
