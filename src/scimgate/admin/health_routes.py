"""The connection health page (``/admin/health``): one card per SCIM client kind (services.health).

The cards are one partial (templates/_health_cards.html) that htmx reloads every
``POLL_SECONDS``; without JavaScript the page is complete and a reload refreshes it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from scimgate.admin.routes import Admin, flush_journal, page, render
from scimgate.http.deps import AppState, State
from scimgate.services import health, workspaces
from scimgate.storage.db import snapshot

router = APIRouter(prefix="/admin")
POLL_SECONDS = 30
CLIENT_TITLES = {"entra": "Microsoft Entra ID", "okta": "Okta", "other": "Other SCIM clients"}


def _cards(state: AppState, workspace_id: str) -> dict[str, Any]:
    flush_journal(state)
    with snapshot(state.readers) as db:
        workspace = workspaces.find_workspace(db, workspace_id)
        cards = health.workspace_health(db, workspace)
    return {"cards": cards, "titles": CLIENT_TITLES, "poll": POLL_SECONDS,
            "window_hours": int(health.WINDOW.total_seconds() // 3600),
            "quiet_minutes": int(health.QUIET_AFTER.total_seconds() // 60)}


@router.get("/health")
def health_page(request: Request, admin: Admin, state: State) -> Response:
    """Last request, 24-hour requests and error rate, top refusals with their fix, per client."""
    return page(request, admin, "health.html", **_cards(state, admin.workspace_id))


@router.get("/health/cards")
def health_cards(request: Request, admin: Admin, state: State) -> Response:
    """The cards alone, for htmx's polling."""
    return render(request, "_health_cards.html", {"admin": admin, "csrf": admin.session.csrf,
                                                  **_cards(state, admin.workspace_id)})
