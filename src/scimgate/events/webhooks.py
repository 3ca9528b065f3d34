"""A workspace's webhook endpoints: add, list, remove, enable, rotate the secret, redeliver.

Raises ``WebhookError`` (a ``WorkspaceError``: the CLI and the admin pages show its message as
is) for a refused URL, an unknown event type or endpoint. A new endpoint starts at the outbox's
current end: it receives the events committed after it was added (older ones: redeliver, or
the events API). The secret is returned once, when made; the database keeps it because every
delivery is signed with it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from scimgate.events import catalogue, outbox, signing, targets
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage import events as event_store
from scimgate.storage import webhooks as store
from scimgate.storage.models import Event, WebhookEndpoint, Workspace, utcnow

DEFAULT_OVERLAP_HOURS = 24
REDELIVER_LIMIT = 100_000


class WebhookError(WorkspaceError):
    """A webhook request the admin must correct."""


def _types(event_types: list[str] | None) -> list[str] | None:
    wanted = sorted({t.strip() for t in event_types or [] if t.strip()})
    unknown = [t for t in wanted if not catalogue.is_known(t)]
    if unknown:
        raise WebhookError(f"Unknown event type {unknown[0]!r}; the types are: {', '.join(catalogue.TYPES)}.")
    return wanted or None


def add_endpoint(session: Session, workspace: Workspace, url: str, *, event_types: list[str] | None = None,
                 description: str | None = None, allow_private: bool = False) -> tuple[WebhookEndpoint, str]:
    """A new endpoint receiving ``event_types`` (None or empty: every type) and its secret
    (shown once). Raises WebhookError when the URL is refused (events.targets) or a type unknown."""
    try:
        targets.resolve(url, allow_private=allow_private)
    except targets.TargetRefused as refused:
        raise WebhookError(str(refused)) from refused
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=str(uuid.uuid4()), workspace_id=workspace.id, url=url.strip(), event_types=_types(event_types),
        description=(description or "").strip()[:200] or None, secret=secret, enabled=True,
        cursor_seq=event_store.last_seq(session, workspace.id), created=utcnow(),
    )
    session.add(endpoint)
    session.flush()
    outbox.note_endpoints_changed(session)
    return endpoint, secret


def list_endpoints(session: Session, workspace: Workspace) -> list[WebhookEndpoint]:
    """The workspace's endpoints, oldest first."""
    return store.list_endpoints(session, workspace.id)


def get_endpoint(session: Session, workspace: Workspace, endpoint_id: str) -> WebhookEndpoint:
    """The workspace's endpoint with this id (or unique id prefix of at least 8 characters);
    raises WebhookError."""
    found = store.get_endpoint(session, workspace.id, endpoint_id)
    if found is None and len(endpoint_id) >= 8:
        matches = [e for e in store.list_endpoints(session, workspace.id) if e.id.startswith(endpoint_id)]
        found = matches[0] if len(matches) == 1 else None
    if found is None:
        raise WebhookError(f"No webhook endpoint {endpoint_id} in this workspace; "
                           "see `scimgate webhook list`.")
    return found


def remove_endpoint(session: Session, workspace: Workspace, endpoint_id: str) -> None:
    """Delete the endpoint and its deliveries."""
    session.delete(get_endpoint(session, workspace, endpoint_id))
    session.flush()


def set_enabled(session: Session, workspace: Workspace, endpoint_id: str, enabled: bool) -> WebhookEndpoint:
    """Switch the endpoint on (clears the reason it was disabled) or off."""
    endpoint = get_endpoint(session, workspace, endpoint_id)
    endpoint.enabled = enabled
    if enabled:
        endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
        outbox.note_endpoints_changed(session)
    else:
        endpoint.disabled_at, endpoint.disabled_reason = utcnow(), "disabled by an admin"
    return endpoint


def rotate_secret(session: Session, workspace: Workspace, endpoint_id: str,
                  overlap_hours: float = DEFAULT_OVERLAP_HOURS) -> str:
    """A new secret for the endpoint (returned once); for ``overlap_hours`` (0..168) deliveries
    are signed with both the new and the old one, so the receiver can switch at its pace."""
    if not 0 <= overlap_hours <= 168:
        raise WebhookError("The overlap is between 0 and 168 hours.")
    endpoint = get_endpoint(session, workspace, endpoint_id)
    endpoint.previous_secret = endpoint.secret if overlap_hours else None
    endpoint.previous_secret_until = utcnow() + timedelta(hours=overlap_hours) if overlap_hours else None
    endpoint.secret = signing.new_secret()
    return endpoint.secret


def redeliver(session: Session, workspace: Workspace, *, endpoint_id: str | None = None,
              event_id: str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> int:
    """Deliver again one event (``event_id``) or the events of a time range (``since`` ..
    ``until``, at most ``REDELIVER_LIMIT``) to one endpoint or to each endpoint whose types
    they match; returns how many deliveries were queued. Each goes out with its original
    ``webhook-id``. Raises WebhookError."""
    endpoints = ([get_endpoint(session, workspace, endpoint_id)] if endpoint_id
                 else store.list_endpoints(session, workspace.id))
    statement = select(Event.id, Event.seq, Event.resource_type, Event.resource_id, Event.type).where(
        Event.workspace_id == workspace.id)
    if event_id:
        statement = statement.where(Event.id == event_id)
    elif since is not None:
        statement = statement.where(Event.occurred_at >= since)
        if until is not None:
            statement = statement.where(Event.occurred_at < until)
    else:
        raise WebhookError("Name an event (--event) or a time range (--since, optionally --until).")
    events = session.execute(statement.order_by(Event.seq).limit(REDELIVER_LIMIT)).all()
    if event_id and not events:
        raise WebhookError(f"No event {event_id} in this workspace (events are kept for a limited time).")
    now = utcnow()
    rows = [
        {"endpoint_id": endpoint.id, "workspace_id": workspace.id, "event_id": eid, "event_seq": seq,
         "resource_key": store.resource_key(kind, rid), "status": "pending", "attempts": 0,
         "next_attempt_at": now, "created": now}
        for endpoint in endpoints for eid, seq, kind, rid, event_type in events
        if not endpoint.event_types or event_type in endpoint.event_types
    ]
    store.insert_deliveries(session, rows)
    return len(rows)
