"""``scimgate sso``: a workspace's SAML single sign-on from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from scimgate.cli_database import unit_of_work
from scimgate.config import Settings
from scimgate.services import sso, sso_setup, workspaces
from scimgate.sso.saml import ServiceProvider

sso_app = typer.Typer(help="Single sign-on (SAML 2.0) of a workspace.", no_args_is_help=True)
saml_app = typer.Typer(help="The SAML connection.", no_args_is_help=True)
sso_app.add_typer(saml_app, name="saml")
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
        sp = ServiceProvider(public_url, found.id, connection.metadata_xml)
        typer.echo(f"SAML configured for {found.name} (identity provider {connection.idp_entity_id}).")
        typer.echo(f"SP entity ID: {sp.entity_id}")
        typer.echo(f"ACS URL: {sp.acs_url}")
        typer.echo(f"Sign on URL: {public_url.rstrip('/')}/login")


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
