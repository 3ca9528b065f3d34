"""The provisioning log's new readers run on indexes (issue 17): the health aggregates, the
setup checklist, the export's keyset pages and the sentence name lookups. The statements the
services really send are captured and EXPLAINed on a log of 27,000 events (3 workspaces x 3
clients x 3 days), ANALYZEd: no sequential scan of audit_event on PostgreSQL, only index
SEARCHes on SQLite. Both databases."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session

from scimgate.services import audit_log, health, setup_checklist
from scimgate.storage.db import session_factory
from scimgate.storage.models import AuditEvent, Workspace, utcnow

CLIENTS = ("entra", "okta", "other")


@pytest.fixture(scope="module")
def workspace_id(engine: Engine, backend: str) -> str:
    """Three workspaces with 9,000 events each; the first one's id."""
    now = utcnow()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    with engine.begin() as connection:
        for wid in ids:
            connection.execute(insert(Workspace), [{"id": wid, "name": wid, "name_lower": wid}])
            rows = [{
                "workspace_id": wid, "at": now - timedelta(minutes=i * 0.48), "request_id": f"{wid[:8]}{i}",
                "method": ("GET", "POST", "PATCH")[i % 3], "path": "/api/scim/v2/Users",
                "resource_type": "User", "resource_id": None, "status": 400 if i % 7 == 0 else 200,
                "client": CLIENTS[(i // 3) % 3], "duration_ms": 1.0,
            } for i in range(9000)]
            connection.execute(insert(AuditEvent), rows)
        connection.execute(text("ANALYZE"))
    return ids[0]


def _plans(engine: Engine, backend: str, work: Any) -> list[str]:
    """The plan of every SELECT on audit_event that ``work(session)`` sends."""
    sent: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "audit_event" in statement:
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with session_factory(engine)() as session:
            work(session)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    assert sent
    explain = "EXPLAIN " if backend == "postgres" else "EXPLAIN QUERY PLAN "
    plans = []
    with engine.connect() as connection:
        for statement, parameters in sent:
            rows = connection.exec_driver_sql(explain + statement, parameters).all()
            plans.append("\n".join(str(row[0] if backend == "postgres" else row[-1]) for row in rows))
    return plans


def _assert_indexed(plans: list[str], backend: str) -> None:
    for plan in plans:
        if backend == "postgres":
            assert "Seq Scan on audit_event" not in plan, plan
        else:
            lines = [line for line in plan.splitlines() if "audit_event" in line]
            assert lines and all(line.startswith("SEARCH") for line in lines), plan


def _workspace(session: Session, workspace_id: str) -> Workspace:
    found = session.get(Workspace, workspace_id)
    assert found is not None
    return found


def test_health_aggregates_use_the_client_index(engine: Engine, backend: str, workspace_id: str) -> None:
    plans = _plans(engine, backend, lambda s: health.workspace_health(s, _workspace(s, workspace_id)))
    _assert_indexed(plans, backend)
    assert any("ix_audit_event_workspace_client_at_status" in plan for plan in plans), plans


def test_setup_checklist_uses_an_index(engine: Engine, backend: str, workspace_id: str) -> None:
    plans = _plans(engine, backend, lambda s: setup_checklist.checklist(s, _workspace(s, workspace_id)))
    _assert_indexed(plans, backend)


def test_export_keyset_pages_start_where_the_last_ended(engine: Engine, backend: str,
                                                        workspace_id: str) -> None:
    """A page after the middle of the log is an index range from that point (``at >=``), not a
    scan from the start; the pages' name lookups are primary-key lookups."""
    def pages(session: Session) -> None:
        first = audit_log.events_after(session, workspace_id, audit_log.LogFilter(), None, 4500)
        last = (first[-1].at, first[-1].id)
        audit_log.events_after(session, workspace_id, audit_log.LogFilter(), last, 500)

    plans = _plans(engine, backend, pages)
    _assert_indexed(plans, backend)
    bound = "at >= " if backend == "postgres" else "at>?"
    assert "ix_audit_event_workspace_at" in plans[1] and bound in plans[1], plans[1]
