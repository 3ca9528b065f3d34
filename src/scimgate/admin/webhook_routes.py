"""The admin **Webhooks** page (``/admin/webhooks``): the workspace's endpoints with their state,
recent deliveries with status, attempts, latency and response code, and the forms that add,
remove, enable or disable an endpoint, rotate its secret and redeliver an event.

A new or rotated secret is shown once, on the answer to the POST that made it (``no-store``);
everything else is post/redirect/get. Endpoints and deliveries come from the signed-in
admin's workspace only (another workspace's id is 404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from scimgate.admin.routes import Admin, Csrf, PageError, SignedIn, confirmation, page, see_other
from scimgate.events import catalogue, outbox, webhooks
from scimgate.http.deps import AppState, State
from scimgate.services import workspaces
from scimgate.storage import webhooks as store
from scimgate.storage.db import transaction

router = APIRouter(prefix="/admin")
RECENT = 50
DONE = {"removed": "Endpoint removed.", "enabled": "Endpoint enabled: pending deliveries resume.",
        "disabled": "Endpoint disabled.", "redelivered": "Queued for delivery again."}


def _page(request: Request, admin: SignedIn, state: AppState, status: int = 200, **extra: object) -> Response:
    with transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        endpoints = webhooks.list_endpoints(db, workspace)
        pending = {e.id: store.pending_count(db, e.id) for e in endpoints}
        recent = store.recent_deliveries(db, workspace.id, RECENT)
    return page(request, admin, "webhooks.html", status, endpoints=endpoints, pending=pending, recent=recent,
                types=catalogue.TYPES, done=DONE.get(request.query_params.get("done", "")), **extra)


def _workspace_error(exc: webhooks.WebhookError) -> PageError:
    return PageError(404, "Not found", str(exc))


@router.get("/webhooks")
def webhooks_page(request: Request, admin: Admin, state: State) -> Response:
    """Endpoints, the add form and recent deliveries."""
    return _page(request, admin, state)


@router.post("/webhooks")
def add_endpoint(request: Request, admin: Admin, state: State, _csrf: Csrf, url: Annotated[str, Form()] = "",
                 event_types: Annotated[list[str] | None, Form()] = None,
                 description: Annotated[str, Form()] = "") -> Response:
    """Add an endpoint; the answer shows its secret once. A refused URL is shown next to the field."""
    try:
        with transaction(state.sessions) as db:
            workspace = workspaces.find_workspace(db, admin.workspace_id)
            endpoint, secret = webhooks.add_endpoint(db, workspace, url, event_types=event_types or None,
                                                     description=description,
                                                     allow_private=state.settings.webhook_allow_private)
            endpoint_id = endpoint.id
    except webhooks.WebhookError as exc:
        return _page(request, admin, state, 400, url_error=str(exc), url_input=url)
    return _page(request, admin, state, new_secret=secret, secret_for=endpoint_id)


@router.post("/webhooks/{endpoint_id}/rotate")
def rotate(request: Request, admin: Admin, state: State, _csrf: Csrf, endpoint_id: str) -> Response:
    """A new secret (shown once); the old one keeps signing for 24 hours."""
    try:
        with transaction(state.sessions) as db:
            workspace = workspaces.find_workspace(db, admin.workspace_id)
            secret = webhooks.rotate_secret(db, workspace, endpoint_id)
    except webhooks.WebhookError as exc:
        raise _workspace_error(exc) from exc
    return _page(request, admin, state, new_secret=secret, secret_for=endpoint_id, rotated=True)


@router.post("/webhooks/{endpoint_id}/state")
def set_state(admin: Admin, state: State, _csrf: Csrf, endpoint_id: str,
              enabled: Annotated[str, Form()] = "") -> Response:
    """Enable (``enabled=on``) or disable an endpoint."""
    try:
        with transaction(state.sessions) as db:
            webhooks.set_enabled(db, workspaces.find_workspace(db, admin.workspace_id), endpoint_id,
                                 enabled == "on")
    except webhooks.WebhookError as exc:
        raise _workspace_error(exc) from exc
    return see_other(f"/admin/webhooks?done={'enabled' if enabled == 'on' else 'disabled'}")


@router.post("/webhooks/{endpoint_id}/remove")
def remove(request: Request, admin: Admin, state: State, _csrf: Csrf, endpoint_id: str,
           confirm: Annotated[str, Form()] = "") -> Response:
    """Remove an endpoint and its deliveries; asks first, naming it. The 404 page for an id not of
    this workspace, before asking too: a confirmation page is never shown for another
    workspace's endpoint."""
    try:
        with transaction(state.sessions) as db:
            workspace = workspaces.find_workspace(db, admin.workspace_id)
            endpoint = webhooks.get_endpoint(db, workspace, endpoint_id)
            if confirm != "yes":
                return confirmation(request, admin, action=f"/admin/webhooks/{endpoint.id}/remove",
                                    title=f"Remove the webhook endpoint {endpoint.url}?",
                                    consequence="Its pending deliveries are dropped and it receives no "
                                    "more events. Events stay readable through the events API.",
                                    button="Remove it")
            webhooks.remove_endpoint(db, workspace, endpoint.id)
    except webhooks.WebhookError as exc:
        raise _workspace_error(exc) from exc
    return see_other("/admin/webhooks?done=removed")


@router.post("/webhooks/{endpoint_id}/redeliver")
def redeliver(admin: Admin, state: State, _csrf: Csrf, endpoint_id: str,
              event_id: Annotated[str, Form()] = "") -> Response:
    """Deliver one event to the endpoint again (with its original webhook-id)."""
    try:
        with transaction(state.sessions) as db:
            outbox.act_as(db, "admin", admin.admin_id)
            workspace = workspaces.find_workspace(db, admin.workspace_id)
            webhooks.redeliver(db, workspace, endpoint_id=endpoint_id, event_id=event_id)
    except webhooks.WebhookError as exc:
        raise _workspace_error(exc) from exc
    return see_other("/admin/webhooks?done=redelivered")
