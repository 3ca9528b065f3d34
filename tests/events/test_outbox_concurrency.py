"""The outbox under concurrent writers: two server processes (one with two workers) on one
database, SCIM writes of one workspace sent at once; every committed change has its event and
the workspace's seq numbers are gap-free and strictly increasing in the events API's order
(both databases; PostgreSQL runs the writers side by side, SQLite in turn)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.events.support import all_events
from tests.support import USER_SCHEMA, LiveServer, Tenant, admin_client, start_server, stop_server

WRITERS = 6
EACH = 5


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A 2-worker server."""
    started = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend, workers=2,
                           env={"UVICORN_TIMEOUT_WORKER_HEALTHCHECK": "60"})
    yield started
    stop_server(started)


@pytest.fixture(scope="module")
def other_server(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second server process on the same database."""
    started = start_server(live_server.database_url, tmp_path_factory.mktemp("log") / "other.log",
                           live_server.backend)
    yield started
    stop_server(started)


def test_concurrent_writers_get_gap_free_increasing_seqs(tenant: Tenant, other_server: LiveServer) -> None:
    barrier = threading.Barrier(WRITERS)
    created: list[str] = []
    lock = threading.Lock()

    def write(writer: int) -> None:
        base = (tenant.server if writer % 2 else other_server).base_url
        with httpx.Client(base_url=base, headers=tenant.client.headers, timeout=60) as http:
            barrier.wait()
            for n in range(EACH):
                response = http.post("/Users", json={"schemas": [USER_SCHEMA],
                                                     "userName": f"w{writer}-{n}@example.com"})
                assert response.status_code == 201, response.text
                with lock:
                    created.append(response.json()["id"])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(created) == WRITERS * EACH
    with admin_client(tenant) as admin:
        events = all_events(admin)
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert sorted(e["resource"]["id"] for e in events if e["type"] == "member.created") == sorted(created)
