"""Shared by the webhook tests: a server whose deliverer retries fast, endpoints made in the
database, and the events API's view of a workspace."""

from __future__ import annotations

from typing import Any

import httpx

from scimgate.events import webhooks
from scimgate.storage.db import transaction
from scimgate.storage.models import WebhookDelivery, WebhookEndpoint, Workspace
from tests.support import LiveServer, Tenant

FAST_DELIVERY = {
    "SCIMGATE_WEBHOOK_ALLOW_PRIVATE": "true",
    "SCIMGATE_WEBHOOK_POLL_SECONDS": "0.1",
    "SCIMGATE_WEBHOOK_TIMEOUT_SECONDS": "1",
    "SCIMGATE_WEBHOOK_RETRY_SCHEDULE": "0.2,0.3,0.5,1,1,1,1,1,1,1",
}
"""Server settings of the webhook tests: loopback receivers, retries within seconds (ten
retries, about 8 s in all, then the endpoint is disabled)."""


def add_endpoint(server: LiveServer, workspace_id: str, url: str, **options: Any) -> tuple[str, str]:
    """(endpoint id, secret) of a new endpoint of the workspace (loopback allowed)."""
    with transaction(server.sessions) as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        endpoint, secret = webhooks.add_endpoint(session, workspace, url, allow_private=True, **options)
        return endpoint.id, secret


def endpoint_row(server: LiveServer, endpoint_id: str) -> WebhookEndpoint:
    with server.sessions() as session:
        found = session.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        return found


def deliveries(server: LiveServer, endpoint_id: str) -> list[WebhookDelivery]:
    with server.sessions() as session:
        return list(session.query(WebhookDelivery).filter_by(endpoint_id=endpoint_id)
                    .order_by(WebhookDelivery.event_seq, WebhookDelivery.id))


def all_events(admin: httpx.Client, after: str | None = None) -> list[dict[str, Any]]:
    """Every event after the cursor, through the events API."""
    found: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if after:
            params["after"] = after
        body = admin.get("/events", params=params).json()
        found.extend(body["data"])
        after = body["next"]
        if not body["has_more"]:
            return found


def patch(tenant: Tenant, path: str, operations: list[dict[str, Any]]) -> httpx.Response:
    return tenant.patch(path, json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                    "Operations": operations})
