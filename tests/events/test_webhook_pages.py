"""The admin Webhooks page: add an endpoint (secret shown once), see deliveries with status,
attempts, latency and code, redeliver, disable, remove; another workspace's endpoint is 404;
a switch turned on the security page is an event whose actor is the admin."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from scimgate.storage.db import transaction
from scimgate.storage.models import ScimToken
from tests.admin.client import AdminClient, signed_in
from tests.events.support import FAST_DELIVERY, add_endpoint, all_events
from tests.support import LiveServer, Tenant, admin_client, make_tenant, start_server, stop_server
from tests.webhook_receiver import Receiver

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend,
                          env=FAST_DELIVERY)
    yield server
    stop_server(server)


@pytest.fixture
def page(tenant: Tenant) -> Iterator[AdminClient]:
    client = signed_in(tenant)
    yield client
    client.close()


def _wait_page(page: AdminClient, text: str) -> str:
    for _ in range(200):
        body = page.get("/admin/webhooks").text
        if text in body:
            return body
        time.sleep(0.05)
    return body


def test_add_deliver_redeliver_remove(tenant: Tenant, page: AdminClient, receiver: Receiver) -> None:
    added = page.post("/admin/webhooks", {"url": receiver.url, "description": "product"})
    assert added.status_code == 200 and added.headers["cache-control"] == "no-store"
    [secret] = set(SECRET.findall(added.text))
    assert SECRET.search(page.get("/admin/webhooks").text) is None  # shown once
    receiver.secrets.append(secret)
    tenant.create_user("page@example.com")
    receiver.wait_for(1)
    body = _wait_page(page, "succeeded")
    assert "member.created" in body and "succeeded" in body and ">204<" in body and " ms<" in body
    endpoint_id = re.search(r'/admin/webhooks/([0-9a-f-]{36})/redeliver', body).group(1)  # type: ignore[union-attr]
    event_id = re.search(r'name="event_id" value="([0-9a-f-]{36})"', body).group(1)  # type: ignore[union-attr]
    assert page.post(f"/admin/webhooks/{endpoint_id}/redeliver", {"event_id": event_id}).status_code == 303
    got = receiver.wait_for(1)
    deadline = time.monotonic() + 15
    while len(receiver.delivered()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r.headers["webhook-id"] for r in receiver.delivered()] == [event_id, event_id]
    assert got[0].verified_with == [secret]
    assert page.post(f"/admin/webhooks/{endpoint_id}/state", {"enabled": "off"}).status_code == 303
    assert "disabled by an admin" in page.get("/admin/webhooks").text
    asked = page.post(f"/admin/webhooks/{endpoint_id}/remove")
    assert asked.status_code == 200 and f"Remove the webhook endpoint {receiver.url}?" in asked.text
    assert page.post(f"/admin/webhooks/{endpoint_id}/remove", {"confirm": "yes"}).status_code == 303
    assert receiver.url not in page.get("/admin/webhooks").text


def test_refused_url_and_other_workspace(tenant: Tenant, page: AdminClient, live_server: LiveServer) -> None:
    refused = page.post("/admin/webhooks", {"url": "ftp://example.com/hook"})
    assert refused.status_code == 400 and "must start with https://" in refused.text
    other = make_tenant(live_server)
    foreign, _ = add_endpoint(live_server, other.workspace_id, "http://127.0.0.1:9/hook")
    for action in ("rotate", "state", "remove"):
        response = page.post(f"/admin/webhooks/{foreign}/{action}", {"confirm": "yes", "enabled": "off"})
        assert response.status_code == 404
    asked = page.post(f"/admin/webhooks/{foreign}/remove")  # no confirmation page for it either
    assert asked.status_code == 404 and "Remove" not in asked.text and "127.0.0.1:9" not in asked.text
    other.client.close()


def test_no_confirmation_page_for_another_workspaces_ids(page: AdminClient, live_server: LiveServer) -> None:
    """The sibling confirmation pages (token revoke, domain remove) are the 404 page for another
    workspace's token id or domain, asked without ``confirm`` as with it."""
    other = make_tenant(live_server, domains=("theirs.example",))
    with transaction(live_server.sessions) as session:
        token_id = session.scalars(select(ScimToken.id)
                                   .where(ScimToken.workspace_id == other.workspace_id)).one()
    for fields in ({}, {"confirm": "yes"}):
        revoke = page.post(f"/admin/security/tokens/{token_id}/revoke", fields)
        assert revoke.status_code == 404 and "Revoke the token" not in revoke.text
        removal = page.post("/admin/security/domains/theirs.example/remove", fields)
        assert removal.status_code == 404 and "Remove theirs.example" not in removal.text
    assert other.get("/Users").status_code == 200  # their token still works
    other.client.close()


def test_switch_on_the_security_page_is_an_admin_event(tenant: Tenant, page: AdminClient) -> None:
    api: httpx.Client = admin_client(tenant)
    start = all_events(api)[-1]["cursor"]
    assert page.post("/admin/security/sync", {"switch": "group", "active": "off", "confirm": "yes"}
                     ).status_code == 303
    [event] = all_events(api, start)
    assert event["type"] == "workspace.sync_changed" and event["actor"]["type"] == "admin"
    api.close()
