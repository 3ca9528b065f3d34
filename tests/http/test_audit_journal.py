"""The provisioning log of reads through the audit journal, over HTTP against a live server
(services.audit_journal; issue 14): a read writes nothing in its request, every request reaches
``audit_event`` exactly once, and what is pending is written at shutdown."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, select

from scimgate.services import audit
from scimgate.services.audit import AuditRecord
from scimgate.storage.db import make_engine, session_factory, transaction
from scimgate.storage.migrate import upgrade
from scimgate.storage.models import AuditEvent
from tests.support import LiveServer, make_tenant, start_server, stop_server

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def slow_flush_server(database_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory,
                      ) -> Iterator[LiveServer]:
    """A server whose journal flushes only when a batch is full or at shutdown (an hour's interval)."""
    server = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend,
                          env={"SCIMGATE_AUDIT_FLUSH_SECONDS": "3600"})
    yield server
    if server.process.poll() is None:
        stop_server(server)


def request_ids_in_log(server: LiveServer, workspace_id: str) -> Counter[str]:
    with server.sessions() as session:
        ids = session.scalars(select(AuditEvent.request_id).where(AuditEvent.workspace_id == workspace_id))
        return Counter(ids)


def test_reads_wait_in_the_journal_and_every_request_is_logged_once(slow_flush_server: LiveServer) -> None:
    """Writes' rows commit with the write; reads' rows are not written by their request but by the
    journal (a full batch, or the shutdown flush); after shutdown each request id is there once."""
    server = slow_flush_server
    tenant = make_tenant(server)
    writes: list[httpx.Response] = []
    reads: list[httpx.Response] = []
    created = tenant.post("/Users", json={"userName": "journal@example.com"})
    writes.append(created)
    user_id = created.json()["id"]
    reads += [tenant.get(f"/Users/{user_id}"),
              tenant.get("/Users?filter=userName%20eq%20%22journal@example.com%22"),
              tenant.get("/Users/no-such-id"), tenant.get("/Users?count=abc"), tenant.get("/Schemas"),
              tenant.post("/Users/.search", json={"schemas": [SEARCH], "filter": 'userName sw "j"'})]
    writes.append(tenant.patch(f"/Users/{user_id}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "J"}]}))
    assert [r.status_code for r in reads] == [200, 200, 404, 400, 200, 200]
    assert [r.status_code for r in writes] == [201, 200]
    write_ids = {r.headers["x-request-id"] for r in writes}
    assert set(request_ids_in_log(server, tenant.workspace_id)) == write_ids  # the reads wrote nothing yet

    with httpx.Client(base_url=server.base_url, headers=dict(tenant.client.headers), timeout=30) as client:
        def one(n: int) -> httpx.Response:
            return client.get(f"/Users/{user_id}" if n % 2 else "/Users?count=1")

        with ThreadPoolExecutor(8) as pool:
            burst = list(pool.map(one, range(600)))  # more than one batch (500): flushed without shutdown
    assert all(r.status_code == 200 for r in burst)
    reads += burst

    stop_server(server)
    assert server.process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after its shutdown
    logged = request_ids_in_log(server, tenant.workspace_id)
    expected = Counter(r.headers["x-request-id"] for r in [*writes, *reads])
    assert logged == expected


def test_a_journal_row_is_stored_as_sqlalchemy_stores_it(tmp_path: Path) -> None:
    """On SQLite the journal's batch goes through the driver's own executemany
    (services.audit.insert_rows): the stored text of every column, the time and the JSON change
    included, is what SQLAlchemy's own INSERT stores, and the row reads back the same."""
    engine = make_engine(f"sqlite:///{tmp_path / 'journal.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    record = AuditRecord(request_id="r-1", method="GET", path="/api/scim/v2/Users/x", client="entra",
                         workspace_id="ws-1", resource_type="User", resource_id="x")
    row = audit.row(record, 200, 1.2345, change={"kind": "user", "before": {"é": [1, None]}})
    with transaction(sessions) as session:
        audit.insert_rows(session, [row])
        session.connection().execute(insert(AuditEvent.__table__), [{**row, "request_id": "r-2"}])
    with engine.connect() as connection:
        stored = connection.exec_driver_sql(
            "SELECT at, change, duration_ms, status, client FROM audit_event ORDER BY request_id").all()
    assert stored[0] == stored[1]
    with sessions() as session:
        first = session.scalars(select(AuditEvent).where(AuditEvent.request_id == "r-1")).one()
        assert first.at == row["at"] and first.change == row["change"] and first.duration_ms == 1.234
    engine.dispose()
