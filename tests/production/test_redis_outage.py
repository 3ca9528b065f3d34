"""A Redis that accepts and never answers, or a closed Redis port, costs SCIM requests nothing
but one short timeout per outage period, and logs one warning per outage (issue 13, minor).

The server runs with rate limiting on and its buckets in Redis; the "Redis" is a real local TCP
listener that accepts connections and never answers, or a port nobody listens on.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scimgate.storage.rate_limit import BucketsUnavailable, CircuitBreaker, RedisBuckets
from tests.support import LiveServer, Tenant, free_port, start_server, stop_server

REQUESTS = 20


@dataclass
class SilentListener:
    """Accepts TCP connections on loopback, reads nothing, answers nothing."""

    port: int
    accepted: int = 0


@pytest.fixture(scope="module")
def silent() -> Iterator[SilentListener]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    listener = SilentListener(server.getsockname()[1])
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            held.append(connection)
            listener.accepted += 1

    threading.Thread(target=serve, daemon=True).start()
    yield listener
    server.close()
    for connection in held:
        connection.close()


@pytest.fixture(scope="module", params=["silent", "closed"])
def live_server(request: pytest.FixtureRequest, database_url: str, backend: str, silent: SilentListener,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose rate-limit buckets are in a Redis that never answers, or on a closed port."""
    port = silent.port if request.param == "silent" else free_port()
    env = {"SCIMGATE_REDIS_URL": f"redis://127.0.0.1:{port}/0", "SCIMGATE_RATE_LIMIT_PER_SECOND": "100"}
    started = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend, env=env)
    yield started
    stop_server(started)


def outage_warnings(server: LiveServer) -> list[dict[str, str]]:
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("level") == "warning" and "unavailable" in line["message"]]


def test_scim_is_served_with_one_warning_per_outage(tenant: Tenant, silent: SilentListener) -> None:
    """20 SCIM requests all succeed; the log holds one outage warning, not one per request, and the
    silent Redis is tried a few times at most (the breaker keeps requests off it)."""
    before = silent.accepted
    for n in range(REQUESTS):
        assert tenant.get("/Users").status_code == 200
        assert tenant.create_user(f"outage{n}@example.com")["userName"] == f"outage{n}@example.com"
    assert len(outage_warnings(tenant.server)) == 1
    assert silent.accepted - before < 5


def test_silent_redis_is_called_once_per_open_period(silent: SilentListener) -> None:
    """Against the silent listener the first call times out; later ones fail at once without
    connecting while the breaker is open."""
    buckets = RedisBuckets.from_url(f"redis://127.0.0.1:{silent.port}/0")
    buckets.breaker.open_seconds = 3600
    before = silent.accepted
    for _ in range(10):
        with pytest.raises(BucketsUnavailable):
            buckets.take("k", 1.0, 1.0)
    assert silent.accepted - before == 1


class Clock:
    """A clock the test moves by hand."""

    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_half_opens_and_recovers_with_one_line_each(caplog: pytest.LogCaptureFixture) -> None:
    """Closed -> open on failure (one warning), still open within open_seconds, a trial after,
    and one "recovered" line on success; a later failure is a new outage (a new warning)."""
    caplog.set_level(logging.INFO, logger="scimgate.rate_limit")
    clock = Clock()
    breaker = CircuitBreaker("test store", open_seconds=5.0, clock=clock)
    assert breaker.allow()
    breaker.failed("TimeoutError")
    breaker.failed("TimeoutError")
    assert not breaker.allow()
    clock.now = 5.0
    assert breaker.allow()
    breaker.succeeded()
    breaker.succeeded()
    breaker.failed("ConnectionError")
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == ["WARNING", "INFO", "WARNING"]
    assert messages[1][1] == "test store recovered"
