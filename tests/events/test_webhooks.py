"""Webhooks to a real receiver on loopback: every change delivered once, signed (Standard
Webhooks, verified with ``standardwebhooks``), in order per resource across an outage; type
filters, secret rotation with overlap, giving up and disabling, redelivery; two deliverers never
send one delivery at the same time; SSRF targets refused at add time (at connect time:
test_webhook_connect_check)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from scimgate.config import Settings
from scimgate.events import webhooks
from scimgate.events.deliverer import Deliverer
from scimgate.storage.db import read_only_factory, transaction
from scimgate.storage.models import Workspace, utcnow
from tests.events.support import FAST_DELIVERY, add_endpoint, all_events, deliveries, endpoint_row, patch
from tests.support import LiveServer, Tenant, admin_client, make_tenant, start_server, stop_server
from tests.webhook_receiver import Receiver


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's server: its deliverer allows loopback receivers and retries within seconds."""
    log = tmp_path_factory.mktemp("log") / "server.log"
    server = start_server(database_url, log, backend, env=FAST_DELIVERY)
    yield server
    stop_server(server)


@pytest.fixture
def admin(tenant: Tenant) -> Iterator[httpx.Client]:
    client = admin_client(tenant)
    yield client
    client.close()


def test_every_change_delivered_signed(tenant: Tenant, receiver: Receiver, admin: httpx.Client) -> None:
    """Each event of a run of SCIM changes reaches the receiver once, verifiable with the
    endpoint's secret, its body the events API's JSON, its webhook-id the event id."""
    start = all_events(admin)[-1]["cursor"]
    _, secret = add_endpoint(tenant.server, tenant.workspace_id, receiver.url)
    receiver.secrets.append(secret)
    user = tenant.create_user("hook@example.com")
    assert patch(tenant, f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": False}]
                 ).status_code == 200
    group = tenant.post("/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                         "displayName": "Hooks", "members": [{"value": user["id"]}]})
    assert group.status_code == 201
    assert tenant.delete(f"/Users/{user['id']}").status_code == 204
    events = all_events(admin, start)
    assert len(events) == 7  # created, updated+deactivated, group created, member added, removed, deleted
    got = sorted(receiver.wait_for(len(events)), key=lambda r: r.body["seq"])  # order holds per resource
    assert [r.headers["webhook-id"] for r in got] == [e["id"] for e in events]
    assert [r.body for r in got] == events
    assert all(r.verified_with == [secret] for r in got)
    assert all(r.headers["webhook-signature"].startswith("v1,") for r in got)
    assert all(r.headers["content-type"] == "application/json" for r in got)


def test_type_filter_and_rotation_overlap(tenant: Tenant, receiver: Receiver) -> None:
    """An endpoint gets only its types; after a rotation both secrets sign during the overlap,
    after a rotation without overlap only the new one."""
    endpoint_id, old = add_endpoint(tenant.server, tenant.workspace_id, receiver.url,
                                    event_types=["member.deactivated"])
    user = tenant.create_user("rot@example.com")
    with transaction(tenant.server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        new = webhooks.rotate_secret(session, workspace, endpoint_id, overlap_hours=1)
    receiver.secrets.extend([old, new])
    for active in (False, True, False):
        assert patch(tenant, f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": active}]
                     ).status_code == 200
    got = receiver.wait_for(2)
    assert [r.body["type"] for r in got] == ["member.deactivated"] * 2
    assert all(sorted(r.verified_with) == sorted([old, new]) for r in got)
    assert len(got[0].headers["webhook-signature"].split(" ")) == 2
    with transaction(tenant.server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        newest = webhooks.rotate_secret(session, workspace, endpoint_id, overlap_hours=0)
    receiver.secrets.append(newest)
    assert patch(tenant, f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": True}]
                 ).status_code == 200
    assert patch(tenant, f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": False}]
                 ).status_code == 200
    got = receiver.wait_for(3)
    assert got[-1].verified_with == [newest]


def test_receiver_down_then_up_gets_everything_in_order(tenant: Tenant, receiver: Receiver,
                                                        admin: httpx.Client) -> None:
    """While the receiver answers 503 the deliveries are retried; once it is back every event
    arrives, and each resource's events arrive in seq order (a later one never overtakes)."""
    start = all_events(admin)[-1]["cursor"]
    _, secret = add_endpoint(tenant.server, tenant.workspace_id, receiver.url)
    receiver.secrets.append(secret)
    receiver.status = 503
    users = [tenant.create_user(f"down{n}@example.com")["id"] for n in range(3)]
    for uid in users:
        for name in ("A", "B", "C"):
            assert patch(tenant, f"/Users/{uid}", [{"op": "replace", "path": "displayName", "value": name}]
                         ).status_code == 200
    deadline = utcnow() + timedelta(seconds=20)
    while len(receiver.received) < 6 and utcnow() < deadline:
        time.sleep(0.05)
    assert len(receiver.received) >= 6  # several failed attempts happened
    receiver.status = 200
    events = all_events(admin, start)
    got = receiver.wait_for(len(events))
    assert {r.headers["webhook-id"] for r in got} == {e["id"] for e in events}
    for uid in users:
        seqs = [r.body["seq"] for r in got if r.body["resource"]["id"] == uid]
        assert seqs == sorted(seqs) and len(seqs) == 4
    assert all(r.verified_with == [secret] for r in got)


def test_failing_endpoint_is_disabled_then_redelivered(tenant: Tenant, receiver: Receiver,
                                                       admin: httpx.Client) -> None:
    """An endpoint that fails every retry is disabled with a reason the admin sees; enabled
    again and asked to redeliver, it gets the event with its original webhook-id."""
    endpoint_id, secret = add_endpoint(tenant.server, tenant.workspace_id, receiver.url)
    receiver.secrets.append(secret)
    receiver.status = 500
    uid = tenant.create_user("fails@example.com")["id"]
    deadline = utcnow() + timedelta(seconds=60)
    while endpoint_row(tenant.server, endpoint_id).enabled and utcnow() < deadline:
        time.sleep(0.1)
    endpoint = endpoint_row(tenant.server, endpoint_id)
    assert not endpoint.enabled
    assert endpoint.disabled_reason and "11 failed attempts" in endpoint.disabled_reason
    [delivery] = deliveries(tenant.server, endpoint_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 11, 500)
    assert len(receiver.received) == 11
    receiver.status = 204
    event_id = all_events(admin)[-1]["id"]
    with transaction(tenant.server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        webhooks.set_enabled(session, workspace, endpoint_id, True)
        assert webhooks.redeliver(session, workspace, endpoint_id=endpoint_id, event_id=event_id) == 1
    got = receiver.wait_for(1)
    assert got[0].headers["webhook-id"] == event_id and got[0].body["resource"]["id"] == uid
    assert got[0].verified_with == [secret]


def test_two_deliverers_never_send_one_delivery_at_once(tenant: Tenant, receiver: Receiver,
                                                        admin: httpx.Client) -> None:
    """The server's deliverer and two more in this process share 300 deliveries to a slow
    receiver: no webhook-id is ever in flight twice, and each arrives exactly once."""
    start = all_events(admin)[-1]["cursor"]
    _, secret = add_endpoint(tenant.server, tenant.workspace_id, receiver.url)
    receiver.secrets.append(secret)
    receiver.delay = 0.01
    settings = Settings(database_url=tenant.server.database_url, webhook_allow_private=True,
                        webhook_poll_seconds=0.05, webhook_timeout_seconds=5)
    sessions = tenant.server.sessions
    workers = [Deliverer(sessions, read_only_factory(sessions), settings) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        users = [tenant.create_user(f"w{n}@example.com")["id"] for n in range(60)]
        group = tenant.post("/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                             "displayName": "Workers",
                                             "members": [{"value": u} for u in users]})
        assert group.status_code == 201
        for uid in users[:60]:
            assert patch(tenant, f"/Users/{uid}", [{"op": "replace", "path": "displayName", "value": "W"}]
                         ).status_code == 200
        events = all_events(admin, start)
        got = receiver.wait_for(len(events))
    finally:
        for worker in workers:
            worker.stop()
    assert receiver.overlaps == 0
    assert sorted(r.headers["webhook-id"] for r in got) == sorted(e["id"] for e in events)
    added = [r.body["seq"] for r in got if r.body["type"] == "group.member_added"]
    assert added == sorted(added) and len(added) == 60


SSRF_URLS = [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://[::1]/hook", "https://10.1.2.3/hook",
    "https://192.168.0.10/hook", "https://172.16.5.5/hook", "https://169.254.169.254/latest/meta-data",
    "https://[fe80::1]/hook", "https://[fd00:ec2::254]/hook", "https://[::ffff:127.0.0.1]/hook",
    "https://0.0.0.0/hook", "https://100.64.0.1/hook", "http://93.184.215.14/hook",
    "https://user:pw@93.184.215.14/hook", "ftp://93.184.215.14/hook", "not a url",
]


@pytest.mark.parametrize("url", SSRF_URLS)
def test_ssrf_targets_refused_when_added(live_server: LiveServer, url: str) -> None:
    """Without SCIMGATE_WEBHOOK_ALLOW_PRIVATE these URLs are refused, and nothing is stored."""
    tenant = make_tenant(live_server)
    with transaction(live_server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        with pytest.raises(webhooks.WebhookError):
            webhooks.add_endpoint(session, workspace, url, allow_private=False)
        assert webhooks.list_endpoints(session, workspace) == []
    tenant.client.close()
