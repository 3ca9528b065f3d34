"""``scimgate domain``, ``scimgate admin-key`` and ``scimgate sample-data``: a workspace's email
domains and their verification, its admin API keys, and sample data owned by members.

Every command reads ``SCIMGATE_DATABASE_URL`` (and, for DNS verification,
``SCIMGATE_DNS_NAMESERVERS`` / ``_PORT`` / ``_TIMEOUT_SECONDS``) like the server. Errors meant
for the admin are printed in red and exit with status 1.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session

from scimgate.cli_database import open_database, unit_of_work
from scimgate.config import Settings
from scimgate.services import domains, owned, tokens, workspaces
from scimgate.services.dns_verification import ResolverConfig
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.db import session_factory, transaction
from scimgate.storage.models import EmailDomain, Workspace

domain_app = typer.Typer(help="Allowed email domains of a workspace and their verification.",
                         no_args_is_help=True, rich_markup_mode=None)
admin_key_app = typer.Typer(help="Admin API keys (Bearer keys for /api/admin/v1).", no_args_is_help=True,
                            rich_markup_mode=None)
sample_data_app = typer.Typer(help="Sample chats and agents owned by members.", no_args_is_help=True,
                              rich_markup_mode=None)

WorkspaceOption = typer.Option(..., "--workspace", "-w", help="Workspace name or id.")


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(1)


@contextmanager
def _in_workspace(name: str) -> Iterator[tuple[Session, Workspace]]:
    """A transaction on the configured database and the workspace called ``name``."""
    with unit_of_work() as session:
        yield session, workspaces.find_workspace(session, name)


def _describe(domain: EmailDomain) -> str:
    line = f"{domains.display_domain(domain.name)}\t{domains.status(domain)}"
    if domain.verified_at is not None:
        line += f"\tby {domain.verified_by} at {domain.verified_at:%Y-%m-%d %H:%M} UTC"
        line += f"\t{domain.verified_detail}"
    return line


def _instructions(domain: EmailDomain, workspace: str) -> str:
    record = domains.verification_record(domain)
    return (f"To verify, publish a TXT record at {record.names[0]} or {record.names[1]} with the value\n"
            f"  {record.value}\nthen run: scimgate domain verify {domain.name} --workspace {workspace}")


@domain_app.command("add")
def domain_add(domain: str, workspace: str = WorkspaceOption) -> None:
    """Add DOMAIN (pending until verified); prints the TXT record that verifies it."""
    with _in_workspace(workspace) as (session, found):
        added = domains.add_domain(session, found, domain)
        typer.echo(f"Added {domains.display_domain(added.name)} to {found.name} (pending).")
        typer.echo(_instructions(added, found.name))


@domain_app.command("list")
def domain_list(workspace: str = WorkspaceOption) -> None:
    """List the workspace's domains: status, and how, when and by whom each was verified."""
    with _in_workspace(workspace) as (session, found):
        listed = domains.list_domains(session, found)
        for domain in listed:
            typer.echo(_describe(domain))
        if not listed:
            typer.echo(f"{found.name} has no email domains; add one with: scimgate domain add DOMAIN "
                       f"--workspace {found.name}")


@domain_app.command("remove")
def domain_remove(domain: str, workspace: str = WorkspaceOption) -> None:
    """Remove DOMAIN: new members in it are refused; existing members are kept."""
    with _in_workspace(workspace) as (session, found):
        domains.remove_domain(session, found, domain)
        typer.echo(f"Removed {domains.display_domain(domains.normalise_domain(domain))} from {found.name}; "
                   "members already in it are kept.")


@domain_app.command("verify")
def domain_verify(
    domain: str,
    workspace: str = WorkspaceOption,
    operator: str = typer.Option(None, "--operator",
                                 help="Support override: verify without DNS, for this reason."),
    by: str = typer.Option(None, "--by", help="Who is verifying (default: the login name)."),
) -> None:
    """Verify DOMAIN by its DNS TXT record, or with --operator "reason" (recorded)."""
    actor = by or getpass.getuser()
    if operator is not None:
        with _in_workspace(workspace) as (session, found):
            verified = domains.verify_by_operator(session, found, domain, operator, f"operator {actor}")
            typer.echo(_describe(verified))
        return
    settings = Settings()
    engine = open_database(settings.database_url)
    try:
        with transaction(session_factory(engine)) as session:
            workspace_id = workspaces.find_workspace(session, workspace).id
        outcome = domains.verify_by_dns(session_factory(engine), workspace_id, domain,
                                        ResolverConfig.from_settings(settings), f"cli {actor}")
    except WorkspaceError as exc:
        raise _fail(str(exc)) from exc
    finally:
        engine.dispose()
    if not outcome.verified:
        raise _fail(outcome.explanation())
    typer.echo(outcome.explanation())
    typer.echo(_describe(outcome.domain))


@admin_key_app.command("create")
def admin_key_create(workspace: str) -> None:
    """Make an admin API key for WORKSPACE and print it once (only its hash is kept)."""
    with _in_workspace(workspace) as (session, found):
        issued = tokens.issue_token(session, found, kind="admin")
        typer.echo(issued.secret)
        typer.echo(f"(shown once; prefix {issued.record.prefix}; use as Authorization: Bearer <key> "
                   "on /api/admin/v1)", err=True)


@admin_key_app.command("list")
def admin_key_list(workspace: str) -> None:
    """List WORKSPACE's admin API keys by prefix."""
    with _in_workspace(workspace) as (session, found):
        for key in tokens.list_tokens(session, found, kind="admin"):
            typer.echo(f"{key.prefix}…\tcreated {key.created:%Y-%m-%d %H:%M}"
                       f"\tlast used {key.last_used or '-'}\t{'revoked' if key.revoked_at else 'live'}")


@admin_key_app.command("revoke")
def admin_key_revoke(workspace: str,
                     prefix: str = typer.Option(None, help="Only the key with this prefix.")) -> None:
    """Revoke WORKSPACE's admin API keys (all, or the one starting with --prefix)."""
    with _in_workspace(workspace) as (session, found):
        count = tokens.revoke_tokens(session, found, prefix=prefix, kind="admin")
        typer.echo(f"Revoked {count} admin key(s).")


@sample_data_app.command("create")
def sample_data_create(
    member_id: str,
    workspace: str = WorkspaceOption,
    chats: int = typer.Option(2, min=0, max=100, help="Sample chats to create."),
    agents: int = typer.Option(1, min=0, max=100, help="Sample agents to create."),
) -> None:
    """Create sample chats and agents owned by MEMBER_ID (the member's SCIM id)."""
    with _in_workspace(workspace) as (session, found):
        counts = owned.create_sample_data(session, found, member_id, chats, agents)
        typer.echo(f"{member_id} owns {counts.chats} chat(s) and {counts.agents} agent(s).")


@sample_data_app.command("show")
def sample_data_show(member_id: str, workspace: str = WorkspaceOption) -> None:
    """How many chats and agents MEMBER_ID owns."""
    with _in_workspace(workspace) as (session, found):
        counts = owned.member_owned_counts(session, found, member_id)
        typer.echo(f"{member_id} owns {counts.chats} chat(s) and {counts.agents} agent(s).")
