"""``scimgate simulate``: replay an identity provider's provisioning run against a SCIM server.

Works against any SCIM 2.0 service provider (HTTP only). Shows a progress bar while running and a
summary table at the end; exits 1 on any unexpected answer or read-back difference, 0 otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scimgate.simulate import entra, okta
from scimgate.simulate.client import ScimClient
from scimgate.simulate.report import Recorder, render_summary
from scimgate.simulate.sign_in import PROTOCOLS, SignIns, origin_of

app = typer.Typer(help="Replay Entra ID or Okta provisioning runs against a SCIM server.",
                  no_args_is_help=True, rich_markup_mode=None)

URL = typer.Option(..., "--url", help="SCIM Base URL (Entra: Tenant URL, query flags included).")
TOKEN = typer.Option(..., "--token", help="Bearer token.", envvar="SCIM_TOKEN")
SUMMARY = typer.Option(None, "--summary-json", help="Also write the summary as JSON to this file.")
TIMEOUT = typer.Option(30.0, "--timeout", help="Seconds per request.")


def _run(title: str, url: str, token: str, user_agent: str, estimate: int, timeout: float,
         summary_json: Path | None, replay: Callable[[ScimClient, Callable[[str], None]], None],
         recorder: Recorder | None = None) -> None:
    console = Console()
    recorder = recorder or Recorder()
    with Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("starting", total=estimate)
        client = ScimClient(url, token, recorder, user_agent=user_agent, timeout=timeout,
                            on_request=lambda: progress.advance(task))
        try:
            replay(client, lambda name: progress.update(task, description=name))
        finally:
            client.close()
        progress.update(task, description="done", total=progress.tasks[0].completed)
    summary = recorder.summary()
    render_summary(summary, console, title)
    if summary_json is not None:
        summary_json.write_text(json.dumps(summary, indent=2))
    if summary["failures"]:
        raise typer.Exit(1)


@app.command("entra")
def simulate_entra(
    url: str = URL,
    token: str = TOKEN,
    users: int = typer.Option(100, "--users", min=1, help="Users to provision."),
    groups: int = typer.Option(5, "--groups", min=0, help="Groups to provision."),
    dialect: str = typer.Option(entra.LEGACY, "--dialect",
                                help="legacy (the default today) or aadOptscim062020 (the flag)."),
    domain: str = typer.Option("example.com", "--domain", help="Verified email domain of the users."),
    new_domain: str = typer.Option(None, "--new-domain",
                                   help="Move a third of the users' userName/email to this verified domain."),
    batch: int = typer.Option(25, "--batch", min=1, help="Members per group PATCH."),
    sign_in: bool = typer.Option(False, "--sign-in",
                                 help="Each user also signs in by SAML through a local test IdP "
                                      "(scimgate only)."),
    sign_in_protocol: str = typer.Option("saml", "--sign-in-protocol",
                                         help="saml, or oidc: through a local OpenID Connect provider "
                                              "(the server needs SCIMGATE_OIDC_ALLOW_LOOPBACK_HTTP=1)."),
    admin_key: str = typer.Option(None, "--admin-key", envvar="SCIMGATE_ADMIN_KEY",
                                  help="The workspace's admin API key (--sign-in sets up SSO with it)."),
    timeout: float = TIMEOUT,
    summary_json: Path = SUMMARY,
) -> None:
    """Replay an Entra ID provisioning run (docs/identity-providers.md §1-§4); with --sign-in, every
    user also signs in through a local SAML IdP (or OIDC provider), and again after the domain move
    (docs/sso.md)."""
    if dialect not in entra.DIALECTS:
        raise typer.BadParameter(f"use one of {', '.join(entra.DIALECTS)}", param_hint="--dialect")
    if sign_in_protocol not in PROTOCOLS:
        raise typer.BadParameter(f"use one of {', '.join(PROTOCOLS)}", param_hint="--sign-in-protocol")
    if sign_in and not admin_key:
        raise typer.BadParameter("--sign-in needs the workspace's admin API key "
                                 "(scimgate admin-key create WORKSPACE)", param_hint="--admin-key")
    if dialect == entra.AAD_FLAG and entra.AAD_FLAG not in url:
        url += ("&" if "?" in url else "?") + entra.AAD_FLAG
    options = entra.EntraOptions(users, groups, dialect, domain, new_domain, batch)
    estimate = 12 * users + 4 * groups + users // batch + 4
    recorder = Recorder()
    sign_ins = (SignIns(origin_of(url), admin_key, recorder, timeout=timeout, protocol=sign_in_protocol)
                if sign_in else None)
    try:
        _run(f"Entra ({dialect})", url, token, entra.USER_AGENT, estimate, timeout, summary_json,
             lambda client, phase: entra.run_entra(client, options, phase, sign_ins), recorder)
    finally:
        if sign_ins is not None:
            sign_ins.close()


@app.command("okta")
def simulate_okta(
    url: str = URL,
    token: str = TOKEN,
    users: int = typer.Option(100, "--users", min=1, help="Users to provision."),
    groups: int = typer.Option(5, "--groups", min=0, help="Groups to push."),
    domain: str = typer.Option("example.com", "--domain", help="Verified email domain of the users."),
    page_size: int = typer.Option(100, "--page-size", min=1, help="Import page size."),
    timeout: float = TIMEOUT,
    summary_json: Path = SUMMARY,
) -> None:
    """Replay an Okta provisioning run (docs/identity-providers.md §7)."""
    options = okta.OktaOptions(users, groups, domain, page_size)
    estimate = 8 * users + 8 * groups + users // page_size + 2
    _run("Okta", url, token, okta.USER_AGENT, estimate, timeout, summary_json,
         lambda client, phase: okta.run_okta(client, options, phase))
