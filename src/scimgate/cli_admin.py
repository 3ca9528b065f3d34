"""``scimgate admin`` (admin accounts for the admin pages), ``scimgate audit`` (the
provisioning log's retention) and ``scimgate retention run`` (purging Recently removed).

Every command reads ``SCIMGATE_DATABASE_URL`` like the server. Errors meant for the operator are
printed in red and exit with status 1.
"""

from __future__ import annotations

import sys

import typer

from scimgate.cli_database import open_database, unit_of_work
from scimgate.config import Settings
from scimgate.services import admins, audit_log, leaving, workspaces
from scimgate.storage.db import session_factory

admin_app = typer.Typer(help="Admin accounts for the admin pages (/admin).", no_args_is_help=True,
                        rich_markup_mode=None)
retention_app = typer.Typer(help="Recently removed members: purge those whose window is over.",
                            no_args_is_help=True, rich_markup_mode=None)
audit_app = typer.Typer(help="The provisioning log (audit events) and its retention.", no_args_is_help=True,
                        rich_markup_mode=None)


WORKSPACE = typer.Option(..., "--workspace", "-w", help="Workspace name or id.")
PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of standard input."
)


def _password(from_stdin: bool) -> str:
    """The first line of standard input, or a hidden prompt asked twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@admin_app.command("create")
def admin_create(
    email: str,
    workspace: str = WORKSPACE,
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Create an admin account of WORKSPACE for EMAIL (the password is prompted for, twice)."""
    password = _password(password_stdin)
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        account = admins.create_admin(session, found, email, password)
        typer.echo(f"Created admin {account.email} of workspace {found.name}; sign in at "
                   f"{Settings().public_url.rstrip('/')}/admin/login")


@admin_app.command("set-password")
def admin_set_password(
    email: str,
    workspace: str = WORKSPACE,
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Give WORKSPACE's admin EMAIL a new password: lifts a lock and ends the admin's sessions."""
    password = _password(password_stdin)
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        account = admins.set_password(session, found, email, password)
        typer.echo(f"New password set for {account.email} of workspace {found.name}.")


@admin_app.command("remove")
def admin_remove(email: str, workspace: str = WORKSPACE) -> None:
    """Remove WORKSPACE's admin EMAIL: the account is deleted and its sessions end at once."""
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        ended = admins.remove_admin(session, found, email)
        typer.echo(f"Removed admin {email} of workspace {found.name}; ended {ended} session(s).")


@admin_app.command("list")
def admin_list(workspace: str = WORKSPACE) -> None:
    """List WORKSPACE's admin accounts, with their lock state."""
    with unit_of_work() as session:
        for account in admins.list_admins(session, workspaces.find_workspace(session, workspace)):
            until = account.locked_until
            locked = f"\tlocked until {until:%Y-%m-%d %H:%M} UTC" if until else ""
            typer.echo(f"{account.email}\t{account.role}\tcreated {account.created:%Y-%m-%d}{locked}")


@audit_app.command("prune")
def audit_prune(workspace: str = typer.Option(
        None, "--workspace", "-w", help="Only this workspace (default: every workspace).")) -> None:
    """Delete provisioning-log events older than each workspace's retention (default 30 days)."""
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace) if workspace else None
        deleted = audit_log.prune(session, found)
        typer.echo(f"Deleted {deleted} event(s).")


@audit_app.command("retention")
def audit_retention(workspace: str, days: int) -> None:
    """Keep WORKSPACE's provisioning-log events DAYS days."""
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        audit_log.set_retention(session, found, days)
        typer.echo(f"Provisioning log of {found.name}: kept {days} day(s).")


@retention_app.command("run")
def retention_run() -> None:
    """Purge every member whose time in Recently removed is over (each workspace's days), with
    what it owns; each purge is recorded in the provisioning log. Safe to run from cron on
    several machines at once, and to run again (a second run purges nothing)."""
    engine = open_database()
    try:
        purged = leaving.purge_due(session_factory(engine))
    finally:
        engine.dispose()
    typer.echo(f"Purged {len(purged)} removed member(s).")
