"""The JSON of one event, the same in the events API and in a webhook's body (docs/events.md).

``{"id", "type", "seq", "cursor", "occurred_at", "workspace_id", "actor": {"type", "id"},
"resource": {"type", "id"}, "data"}``: ``id`` is also the webhook's ``webhook-id`` (the same on
every retry: receivers deduplicate on it); ``cursor`` resumes the events API right after it.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from scimgate.events import cursor
from scimgate.storage.models import Event


def envelope(event: Event | Any) -> dict[str, Any]:
    """The event (a models.Event or a row with its columns) as clients see it; ``occurred_at``
    is UTC ISO 8601 with a ``Z``, milliseconds."""
    occurred = event.occurred_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "id": event.id,
        "type": event.type,
        "seq": event.seq,
        "cursor": cursor.encode(event.seq),
        "occurred_at": occurred,
        "workspace_id": event.workspace_id,
        "actor": {"type": event.actor, "id": event.actor_id},
        "resource": {"type": event.resource_type, "id": event.resource_id},
        "data": event.data,
    }
