"""A webhook target checked again when connecting: an endpoint added while private targets
were allowed (or whose name resolves elsewhere since) is refused by a deliverer that does not
allow them. The module's server runs no deliverer of its own, so the one under test is the only
one that can attempt the delivery."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scimgate.config import Settings
from scimgate.events.deliverer import Deliverer
from scimgate.storage.db import read_only_factory
from tests.events.support import FAST_DELIVERY, add_endpoint, deliveries
from tests.support import LiveServer, Tenant, start_server, stop_server
from tests.webhook_receiver import Receiver


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server without a deliverer (``SCIMGATE_WEBHOOK_DELIVERER=false``)."""
    log = tmp_path_factory.mktemp("log") / "server.log"
    server = start_server(database_url, log, backend,
                          env={**FAST_DELIVERY, "SCIMGATE_WEBHOOK_DELIVERER": "false"})
    yield server
    stop_server(server)


def test_ssrf_checked_again_at_connect_time(tenant: Tenant, receiver: Receiver) -> None:
    """An endpoint whose address is private when delivering (allowed when it was added, or a
    DNS answer that changed) is not connected to by a deliverer that does not allow private
    targets: the attempt fails with the reason, and the receiver sees nothing."""
    endpoint_id, _ = add_endpoint(tenant.server, tenant.workspace_id, receiver.url)
    tenant.create_user("ssrf@example.com")
    settings = Settings(database_url=tenant.server.database_url, webhook_allow_private=False)
    sessions = tenant.server.sessions
    deliverer = Deliverer(sessions, read_only_factory(sessions), settings)
    try:
        for _ in range(50):
            if deliverer.run_once():
                break
    finally:
        deliverer.stop()
    [delivery] = [d for d in deliveries(tenant.server, endpoint_id) if d.attempts]
    assert delivery.last_error and delivery.last_error.startswith("refused:")
    assert delivery.last_status_code is None
    assert receiver.received == []
