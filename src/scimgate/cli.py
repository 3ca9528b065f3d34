"""The ``scimgate`` command (Typer): serve, migrate, and manage workspaces and tokens.

Run ``scimgate --help`` for the list. Every command reads the same settings as the server
(``SCIMGATE_DATABASE_URL`` and friends).
"""

from __future__ import annotations

import typer
from sqlalchemy.orm import Session

from scimgate.cli_admin import admin_app, audit_app, retention_app
from scimgate.cli_alerts import alerts_app
from scimgate.cli_database import unit_of_work
from scimgate.cli_domains import admin_key_app, domain_app, sample_data_app
from scimgate.cli_events import events_app, webhook_app
from scimgate.cli_simulate import app as simulate_app
from scimgate.cli_sso import sso_app
from scimgate.config import Settings
from scimgate.http import listener
from scimgate.services import tokens, workspaces
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, session_factory, transaction

app = typer.Typer(help="scimgate: SCIM 2.0 provisioning for workspaces.", no_args_is_help=True,
                  rich_markup_mode=None)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True, rich_markup_mode=None)
workspace_app = typer.Typer(help="Workspaces and their SCIM switches.", no_args_is_help=True,
                            rich_markup_mode=None)
token_app = typer.Typer(help="SCIM bearer tokens.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(db_app, name="db")
app.add_typer(workspace_app, name="workspace")
app.add_typer(token_app, name="token")
app.add_typer(domain_app, name="domain")
app.add_typer(admin_key_app, name="admin-key")
app.add_typer(sample_data_app, name="sample-data")
app.add_typer(simulate_app, name="simulate")
app.add_typer(admin_app, name="admin")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_app, name="retention")
app.add_typer(sso_app, name="sso")
app.add_typer(events_app, name="events")
app.add_typer(webhook_app, name="webhook")
app.add_typer(alerts_app, name="alerts")



def _on_off(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("on", "off"):
        raise typer.BadParameter("say 'on' or 'off'")
    return lowered == "on"


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Migrate the database to the newest schema (or to REVISION)."""
    engine = make_engine(Settings().database_url)
    migrate.upgrade(engine, revision)
    typer.echo(f"Database at revision {migrate.current_revision(engine)}.")
    engine.dispose()


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ("base" removes every table)."""
    engine = make_engine(Settings().database_url)
    migrate.downgrade(engine, revision)
    typer.echo(f"Database at revision {migrate.current_revision(engine)}.")
    engine.dispose()


@workspace_app.command("create")
def workspace_create(name: str, allow_any_domain: bool = typer.Option(
        False, help="Accept members of any email domain (trials); off = verified domains only.")) -> None:
    """Create a workspace (SCIM user sync starts off)."""
    with unit_of_work() as session:
        workspace = workspaces.create_workspace(session, name, allow_any_domain=allow_any_domain)
        typer.echo(f"Created workspace {workspace.name} ({workspace.id}).")


@workspace_app.command("list")
def workspace_list() -> None:
    """List workspaces with their switches."""
    with unit_of_work() as session:
        for w in workspaces.list_workspaces(session):
            typer.echo(
                f"{w.name}\t{w.id}\tscim-sync={'on' if w.scim_sync_active else 'off'}"
                f"\tgroup-sync={'on' if w.group_sync_active else 'off'}"
                f"\tany-domain={'on' if w.allow_any_domain else 'off'}"
            )


@workspace_app.command("sync")
def workspace_sync(workspace: str, state: str) -> None:
    """Turn "SCIM user sync active" on or off for WORKSPACE."""
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        workspaces.set_scim_sync(session, found, _on_off(state))
        typer.echo(f"SCIM user sync for {found.name}: {state.lower()}.")


@workspace_app.command("group-sync")
def workspace_group_sync(workspace: str, state: str) -> None:
    """Turn "Group sync active" on or off for WORKSPACE (off: /Groups answers 403)."""
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        workspaces.set_group_sync(session, found, _on_off(state))
        typer.echo(f"Group sync for {found.name}: {state.lower()}.")


@workspace_app.command("allow-any-domain")
def workspace_allow_any_domain(workspace: str, state: str) -> None:
    """Accept members of any email domain (on, for trials) or only verified ones (off)."""
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        workspaces.set_allow_any_domain(session, found, _on_off(state))
        typer.echo(f"Any email domain for {found.name}: {state.lower()}.")


@workspace_app.command("entra-compat")
def workspace_entra_compat(workspace: str, state: str) -> None:
    """Entra compatibility (on): a PATCH replace through a value filter matching nothing creates the
    element instead of answering 400 noTarget (RFC 7644 §3.5.2.3)."""
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        workspaces.set_entra_replace_creates(session, found, _on_off(state))
        typer.echo(f"Entra compatibility for {found.name}: {state.lower()}.")


@token_app.command("create")
def token_create(workspace: str) -> None:
    """Make a SCIM bearer token for WORKSPACE and print it once (only its hash is kept)."""
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        issued = tokens.issue_token(session, found)
        typer.echo(issued.secret)
        typer.echo(f"(shown once; prefix {issued.record.prefix})", err=True)


@token_app.command("list")
def token_list(workspace: str) -> None:
    """List WORKSPACE's tokens by prefix, with created, last used and revoked times."""
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        for t in tokens.list_tokens(session, found):
            typer.echo(f"{t.prefix}…\tcreated {t.created:%Y-%m-%d %H:%M}\tlast used {t.last_used or '-'}"
                       f"\t{'revoked' if t.revoked_at else 'live'}")


@token_app.command("revoke")
def token_revoke(
    workspace: str, prefix: str = typer.Option(None, help="Only the token with this prefix."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Revoke every token without asking."),
) -> None:
    """Revoke WORKSPACE's SCIM tokens (all, or the one starting with --prefix).

    Without --prefix every token goes, and the identity provider is cut off until it gets a new
    one: the command asks first, or needs --yes.
    """
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        if prefix is None and not yes:
            live = sum(1 for t in tokens.list_tokens(session, found) if t.revoked_at is None)
            typer.confirm(f"Revoke all {live} live SCIM token(s) of {found.name}? Provisioning stops "
                          "until the identity provider gets a new token", abort=True)
        count = tokens.revoke_tokens(session, found, prefix=prefix)
        typer.echo(f"Revoked {count} token(s).")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", envvar="SCIMGATE_HOST", help="Address to listen on."),
    port: int = typer.Option(8000, envvar="SCIMGATE_PORT", help="Port to listen on."),
    workers: int = typer.Option(1, envvar="SCIMGATE_WORKERS",
                                help="Worker processes (all stateless, sharing the database)."),
) -> None:
    """Migrate the database, make a first workspace if there is none, and serve SCIM.

    The database is migrated here, once, before any worker starts; workers themselves refuse
    to serve an un-migrated database. X-Forwarded-Proto and X-Forwarded-For are believed only
    from SCIMGATE_FORWARDED_ALLOW_IPS (comma-separated addresses or networks; default
    127.0.0.1): behind such a proxy an https request gets a Secure session cookie.
    """
    import os

    import uvicorn

    public_url_set = bool(os.environ.get("SCIMGATE_PUBLIC_URL"))
    # the workers read the same environment: --host/--port reach their Settings().public_url too
    os.environ["SCIMGATE_HOST"], os.environ["SCIMGATE_PORT"] = host, str(port)
    settings = Settings()
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    with transaction(session_factory(engine)) as session:
        _welcome(session, settings, public_url_set=public_url_set)
    engine.dispose()
    _prepare_metrics_folder(workers)
    uvicorn.run("scimgate.asgi:app", host=host, port=port, workers=workers, factory=False,
                http=listener.PROTOCOL,  # bounded URL and header sizes (scimgate.http.listener)
                log_level="warning", timeout_graceful_shutdown=30,
                # X-Forwarded-Proto/-For are believed from these proxies only (docs/deploy.md)
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
                # uvicorn kills a worker that does not answer its ping in time; a spawned worker
                # cannot answer before its imports finish, which takes over 5 s on a busy machine.
                timeout_worker_healthcheck=60)


def _prepare_metrics_folder(workers: int) -> None:
    """Give the workers one Prometheus multiprocess folder (``PROMETHEUS_MULTIPROC_DIR``): the
    operator's (created, and emptied of a previous run's files), or with several workers and
    none configured, a new temporary one. One worker without the variable needs none."""
    import os
    import tempfile
    from pathlib import Path

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
    elif workers > 1:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="scimgate-metrics-")


def command_prefix() -> str:
    """How to run ``scimgate`` again from this shell: ``scimgate`` when that name on PATH is the
    running program (the Docker image), else the path it was started by (``.venv/bin/scimgate``);
    led by ``SCIMGATE_DATABASE_URL=…`` when the server's database comes from the environment, so a
    command pasted into another shell writes where the server reads, and by the address settings
    (``SCIMGATE_PUBLIC_URL``, else a host or port other than the defaults, as ``serve --port``
    sets them), so the addresses it prints (sign-in link, SAML entity ID and ACS URL, OIDC
    redirect URI) are the server's."""
    import os
    import shlex
    import shutil
    import sys
    from pathlib import Path

    started = sys.argv[0] if sys.argv and sys.argv[0] else "scimgate"
    on_path = shutil.which("scimgate")
    same_as_path = bool(on_path) and Path(on_path or "").resolve() == Path(started).resolve()
    # "scimgate" when PATH finds this program, or when not started as scimgate (python -m, tests)
    program = "scimgate" if same_as_path or Path(started).name != "scimgate" else started
    carried = {name: os.environ.get(name) for name in ("SCIMGATE_DATABASE_URL", "SCIMGATE_PUBLIC_URL")}
    if not carried["SCIMGATE_PUBLIC_URL"]:  # the address is made of host and port: carry those
        carried["SCIMGATE_HOST"] = os.environ.get("SCIMGATE_HOST") if os.environ.get(
            "SCIMGATE_HOST", "127.0.0.1") != "127.0.0.1" else None
        carried["SCIMGATE_PORT"] = os.environ.get("SCIMGATE_PORT") if os.environ.get(
            "SCIMGATE_PORT", "8000") != "8000" else None
    lead = " ".join(f"{name}={shlex.quote(value)}" for name, value in carried.items() if value)
    return f"{lead} {program}" if lead else program


def _welcome(session: Session, settings: Settings, *, public_url_set: bool = True) -> None:
    typer.echo(f"SCIM Base URL: {settings.scim_base_url}")
    typer.echo(f"Entra ID Tenant URL: {settings.scim_base_url}?aadOptscim062020")
    origin = settings.public_url.rstrip("/")
    typer.echo(f"Admin pages: {origin}/admin (make an account with: {command_prefix()} admin create "
               "<email> --workspace <workspace>)")
    typer.echo(f"Member sign-in (SSO): {origin}/login")
    if not public_url_set:
        typer.secho("SCIMGATE_PUBLIC_URL is not set: this Base URL works on this machine only. Microsoft "
                    "Entra ID needs a public HTTPS URL (docs/deploy.md, TLS proxy); set "
                    "SCIMGATE_PUBLIC_URL=https://… to the address your proxy serves.", fg="yellow")
    command = command_prefix()
    if workspaces.list_workspaces(session):
        typer.echo(f"Make a SCIM bearer token with: {command} token create <workspace>")
        return
    workspace = workspaces.create_workspace(session, "Default", allow_any_domain=True)
    workspaces.set_scim_sync(session, workspace, True)
    issued = tokens.issue_token(session, workspace)
    typer.echo("Created workspace 'Default' with SCIM user sync on.")
    typer.echo("It accepts any email domain (a trial setting); switch to verified domains only with:")
    typer.echo(f"  {command} workspace allow-any-domain Default off")
    typer.echo(f"SCIM bearer token (shown once): {issued.secret}")
