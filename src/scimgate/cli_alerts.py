"""``scimgate alerts run``: mail the due alerts to workspace admins (scimgate.alerts.run).

Safe to run from cron as often as wanted (every 10 minutes is plenty): an alert goes out at
most once per condition and UTC day, whatever the number of runs. Needs ``SCIMGATE_SMTP_HOST``
(and ``_PORT``, ``_FROM``, optionally ``_STARTTLS``, ``_USERNAME``, ``_PASSWORD``).
"""

from __future__ import annotations

import typer

from scimgate.alerts.run import run_alerts
from scimgate.cli_database import database_name, open_database
from scimgate.config import Settings
from scimgate.storage.db import session_factory

alerts_app = typer.Typer(help="Alerts mailed to workspace admins.", no_args_is_help=True,
                         rich_markup_mode=None)


@alerts_app.command("run")
def alerts_run() -> None:
    """Mail each due alert (provisioning failing, Entra quiet, SSO certificate ending) once per day.

    Exits with status 1 when SCIMGATE_SMTP_HOST is not set or a mail could not be sent (the
    alert is then tried again by the next run)."""
    settings = Settings()
    if not settings.smtp_host:
        typer.secho("SCIMGATE_SMTP_HOST is not set: alerts cannot be mailed.", fg="red", err=True)
        raise typer.Exit(1)
    engine = open_database(settings.database_url)
    try:
        report = run_alerts(session_factory(engine), settings)
    finally:
        engine.dispose()
    for subject in report.sent:
        typer.echo(f"Sent: {subject}")
    typer.echo(f"Alerts: {len(report.sent)} sent, {report.already_sent} already sent today, "
               f"{len(report.failed)} failed.")
    typer.echo(f"Database: {database_name(settings.database_url)}", err=True)
    if report.failed:
        typer.secho(f"Could not mail through {settings.smtp_host}:{settings.smtp_port}: "
                    + "; ".join(report.failed), fg="red", err=True)
        raise typer.Exit(1)
