"""``scimgate events`` (tail, purge, deliver) and ``scimgate webhook`` (add, list, remove,
enable, disable, rotate-secret, redeliver): a workspace's lifecycle events and their webhooks.

Every command reads ``SCIMGATE_DATABASE_URL`` like the server (and ``SCIMGATE_WEBHOOK_*``).
Errors meant for the admin are printed in red and exit with status 1. Secrets are printed once,
on standard output, when made.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime

import orjson
import typer

from scimgate.cli_database import open_database, unit_of_work
from scimgate.config import Settings
from scimgate.events import feed, outbox, webhooks
from scimgate.events.deliverer import Deliverer
from scimgate.services import workspaces
from scimgate.storage import webhooks as webhook_store
from scimgate.storage.db import read_only_factory, session_factory, snapshot
from scimgate.storage.models import WebhookEndpoint

events_app = typer.Typer(help="Lifecycle events: follow them, deliver webhooks, purge old ones.",
                         no_args_is_help=True, rich_markup_mode=None)
webhook_app = typer.Typer(help="Webhook endpoints of a workspace (Standard Webhooks).", no_args_is_help=True,
                          rich_markup_mode=None)

WorkspaceOption = typer.Option(..., "--workspace", "-w", help="Workspace name or id.")
TypeOption = typer.Option(None, "--type", "-t", help="Only this event type (repeat; default: all).")
OverlapOption = typer.Option(webhooks.DEFAULT_OVERLAP_HOURS,
                             help="Hours both secrets sign (0: the old one stops now).")


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time (2026-12-02T21:00:00Z)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@events_app.command("tail")
def events_tail(workspace: str,
                after: str = typer.Option(None, help="Start after this cursor (default: from now on)."),
                all_events: bool = typer.Option(False, "--all", help="Start from the oldest event kept."),
                follow: bool = typer.Option(True, help="Keep waiting for new events (--no-follow: stop)."),
                ) -> None:
    """Print WORKSPACE's events as JSON lines as they are committed (Ctrl-C stops)."""
    engine = open_database()
    readers = read_only_factory(session_factory(engine))
    with snapshot(readers) as session:
        found = workspaces.find_workspace(session, workspace)
        workspace_id = found.id
        if after is None and not all_events:
            after = feed.end_cursor(session, workspace_id)
    try:
        while True:
            with snapshot(readers) as session:
                page = feed.read_page(session, workspace_id, after, feed.MAX_LIMIT)
            for item in page.events:
                typer.echo(orjson.dumps(item).decode("utf-8"))
            after = page.next
            if not page.has_more:
                if not follow:
                    return
                time.sleep(0.5)
    except KeyboardInterrupt:
        return
    except feed.FeedError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


@events_app.command("purge")
def events_purge(days: int = typer.Option(
        None, help="Keep this many days (default SCIMGATE_EVENT_RETENTION_DAYS, 30).")) -> None:
    """Delete events (and their deliveries) older than the retention period, every workspace."""
    settings = Settings()
    engine = open_database()
    try:
        removed = feed.purge(session_factory(engine), days or settings.event_retention_days)
    except feed.FeedError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(f"Deleted {removed} event(s) older than {days or settings.event_retention_days} days.")


@events_app.command("deliver")
def events_deliver() -> None:
    """Run a webhook deliverer in the foreground until SIGTERM or Ctrl-C (for deployments that
    set SCIMGATE_WEBHOOK_DELIVERER=false on the web workers, or to add delivery capacity)."""
    settings = Settings()
    engine = open_database()
    sessions = session_factory(engine)
    deliverer = Deliverer(sessions, read_only_factory(sessions), settings)
    signal.signal(signal.SIGTERM, _interrupt)
    typer.echo("Delivering webhooks (Ctrl-C stops).", err=True)
    outbox.on_commit(deliverer.wake)
    outbox.on_endpoints_changed(deliverer.endpoints_changed)
    try:
        deliverer.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        deliverer.stop()
        engine.dispose()


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _describe(endpoint: WebhookEndpoint) -> str:
    types = ",".join(endpoint.event_types) if endpoint.event_types else "all"
    state = "enabled" if endpoint.enabled else f"DISABLED ({endpoint.disabled_reason})"
    return f"{endpoint.id}\t{endpoint.url}\ttypes={types}\t{state}"


@webhook_app.command("add")
def webhook_add(url: str, workspace: str = WorkspaceOption,
                event_type: list[str] = TypeOption,
                description: str = typer.Option(None, help="A note for the admins.")) -> None:
    """Add an endpoint; prints its signing secret once (whsec_...)."""
    settings = Settings()
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        endpoint, secret = webhooks.add_endpoint(session, found, url, event_types=event_type,
                                                 description=description,
                                                 allow_private=settings.webhook_allow_private)
        typer.echo(f"Added webhook endpoint {endpoint.id}.", err=True)
        typer.echo(secret)
        typer.echo("(signing secret, shown once)", err=True)


@webhook_app.command("list")
def webhook_list(workspace: str = WorkspaceOption) -> None:
    """List the endpoints with their types, state and pending deliveries."""
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        for endpoint in webhooks.list_endpoints(session, found):
            pending = webhook_store.pending_count(session, endpoint.id)
            typer.echo(f"{_describe(endpoint)}\tpending={pending}")


@webhook_app.command("remove")
def webhook_remove(endpoint_id: str, workspace: str = WorkspaceOption) -> None:
    """Remove an endpoint and its deliveries."""
    with unit_of_work() as session:
        webhooks.remove_endpoint(session, workspaces.find_workspace(session, workspace), endpoint_id)
        typer.echo(f"Removed webhook endpoint {endpoint_id}.")


@webhook_app.command("enable")
def webhook_enable(endpoint_id: str, workspace: str = WorkspaceOption) -> None:
    """Switch an endpoint on again (after the deliverer disabled it): pending deliveries resume."""
    with unit_of_work() as session:
        webhooks.set_enabled(session, workspaces.find_workspace(session, workspace), endpoint_id, True)
        typer.echo(f"Enabled webhook endpoint {endpoint_id}.")


@webhook_app.command("disable")
def webhook_disable(endpoint_id: str, workspace: str = WorkspaceOption) -> None:
    """Switch an endpoint off (events keep being queued for it)."""
    with unit_of_work() as session:
        webhooks.set_enabled(session, workspaces.find_workspace(session, workspace), endpoint_id, False)
        typer.echo(f"Disabled webhook endpoint {endpoint_id}.")


@webhook_app.command("rotate-secret")
def webhook_rotate(endpoint_id: str, workspace: str = WorkspaceOption,
                   overlap_hours: float = OverlapOption) -> None:
    """Make a new signing secret (printed once); the old one keeps signing for --overlap-hours."""
    with unit_of_work() as session:
        secret = webhooks.rotate_secret(session, workspaces.find_workspace(session, workspace), endpoint_id,
                                        overlap_hours)
        typer.echo(secret)
        typer.echo("(new signing secret, shown once)", err=True)


@webhook_app.command("redeliver")
def webhook_redeliver(workspace: str = WorkspaceOption,
                      endpoint_id: str = typer.Option(None, "--endpoint", help="Only this endpoint."),
                      event_id: str = typer.Option(None, "--event", help="This event."),
                      since: str = typer.Option(None, help="Events from this time (ISO 8601, UTC)."),
                      until: str = typer.Option(None, help="Events before this time.")) -> None:
    """Deliver one event, or every event of a time range, again."""
    with unit_of_work() as session:
        found = workspaces.find_workspace(session, workspace)
        count = webhooks.redeliver(session, found, endpoint_id=endpoint_id, event_id=event_id,
                                   since=_when(since), until=_when(until))
        typer.echo(f"Queued {count} delivery(ies).")
