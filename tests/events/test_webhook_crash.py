"""kill -9 of the server between commit and delivery loses nothing: the events are in the
outbox with their change, and a new server delivers them (SQLite and PostgreSQL)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.events.support import FAST_DELIVERY, add_endpoint, all_events
from tests.support import LiveServer, admin_client, make_tenant, start_server, stop_server
from tests.webhook_receiver import webhook_receiver


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("log")


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str, logs: Path) -> Iterator[LiveServer]:
    server = start_server(database_url, logs / "first.log", backend, env=FAST_DELIVERY)
    yield server
    if server.process.poll() is None:
        stop_server(server)


def test_kill_between_commit_and_delivery_loses_nothing(live_server: LiveServer, database_url: str,
                                                        backend: str, logs: Path) -> None:
    """The receiver is down while changes commit; the server is killed with SIGKILL; a new
    server on the same database delivers every event once the receiver is back."""
    tenant = make_tenant(live_server)
    admin = admin_client(tenant)
    with webhook_receiver() as receiver:
        start = all_events(admin)[-1]["cursor"]
        _, secret = add_endpoint(live_server, tenant.workspace_id, receiver.url)
        receiver.secrets.append(secret)
        receiver.status = 503
        for n in range(20):
            tenant.create_user(f"crash{n}@example.com")
        events = all_events(admin, start)
        assert len(events) == 20
        live_server.process.send_signal(signal.SIGKILL)
        live_server.process.wait(timeout=10)
        receiver.status = 204
        delivered_before = {r.headers["webhook-id"] for r in receiver.delivered()}
        assert delivered_before == set()  # nothing got through before the kill
        second = start_server(database_url, logs / "second.log", backend, env=FAST_DELIVERY)
        try:
            got = receiver.wait_for(len(events))
        finally:
            stop_server(second)
    admin.close()
    tenant.client.close()
    assert {r.headers["webhook-id"] for r in got} == {e["id"] for e in events}
    assert all(r.verified_with == [secret] for r in got)
