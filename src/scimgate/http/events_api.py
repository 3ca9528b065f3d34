"""The events API, under the admin API (``/api/admin/v1``, admin key, its JSON errors).

``GET /events?after=<cursor>&limit=<n>&type=<t>``: the key's workspace's events in commit
(seq) order, ``{"data": [...], "next": "<cursor>", "has_more": bool}``; ``type`` may repeat
or hold several comma-separated types; ``limit`` 1..1000 (default 100). A cursor whose events
were purged answers 410 ``cursor_expired`` (docs/events.md, "Reconciliation").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import JSONResponse

from scimgate.events import feed
from scimgate.http.admin_api import PREFIX, Admin, AdminApiError, AdminRoute
from scimgate.http.deps import State
from scimgate.storage.db import snapshot

router = APIRouter(prefix=PREFIX, route_class=AdminRoute)
EventTypes = Annotated[list[str] | None, Query(alias="type")]


@router.get("/events")
def list_events(admin: Admin, state: State, after: str | None = None, limit: int = feed.DEFAULT_LIMIT,
                event_type: EventTypes = None) -> JSONResponse:
    """The workspace's events after ``after`` (see the module docstring)."""
    types = [t.strip() for value in (event_type or []) for t in value.split(",") if t.strip()]
    try:
        with snapshot(state.readers) as session:
            page = feed.read_page(session, admin.workspace.id, after, limit, types)
    except feed.CursorExpired as exc:
        raise AdminApiError(410, "cursor_expired", str(exc)) from exc
    except feed.FeedError as exc:
        raise AdminApiError(400, "invalid", str(exc)) from exc
    return JSONResponse({"data": page.events, "next": page.next, "has_more": page.has_more})
