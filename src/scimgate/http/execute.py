"""Run one SCIM operation as one transaction, with its audit event.

On success the audit row is written in the operation's own transaction (so the change and
its record commit together); on a SCIM error the transaction rolls back, nothing is changed,
and the failure is recorded in a transaction of its own (ARCHITECTURE.md, "Rules"). A unit
that PostgreSQL aborts for a deadlock or a serialization failure runs again (storage.db.run).
``execute_rendered`` also builds the HTTP response inside the transaction, so a response that
cannot be rendered rolls the change back: a 5xx never follows a committed change, and the audit
row holds the status actually answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session
from starlette.responses import Response

from scimgate.http.deps import AppState
from scimgate.scim.errors import ScimError
from scimgate.services import audit
from scimgate.services.audit import AuditRecord
from scimgate.storage.db import run, transaction

T = TypeVar("T")


def record_failure(state: AppState, record: AuditRecord, exc: ScimError, started: float) -> None:
    """Write the audit event of a failed request (its own transaction), once per request."""
    if record.recorded:
        return
    with transaction(state.sessions) as session:
        audit.record(session, record, exc.status, (time.perf_counter() - started) * 1000,
                     exc.scim_type or None, exc.detail)
    record.recorded = True


def execute(
    state: AppState,
    record: AuditRecord,
    resource_type: str,
    status: int | Callable[[T], int],
    operation: Callable[[Session], T],
    resource_id: str | None = None,
    id_of: Callable[[T], str | None] | None = None,
) -> T:
    """Run ``operation(session)`` in one transaction and audit it as ``resource_type``.

    ``status`` is the status the route answers on success, or a function of the result that
    gives it (a conditional GET answers 304); ``id_of`` finds the resource id in the result
    when the request did not name one (POST).
    """
    started = time.perf_counter()
    record.resource_type = resource_type
    record.resource_id = resource_id

    def unit(session: Session) -> T:
        result = operation(session)
        if id_of is not None:
            record.resource_id = id_of(result)
        answered = status(result) if callable(status) else status
        audit.record(session, record, answered, (time.perf_counter() - started) * 1000)
        return result

    try:
        result = run(state.sessions, unit)
    except ScimError as exc:
        record_failure(state, record, exc, started)
        raise
    record.recorded = True
    return result


def execute_rendered(
    state: AppState,
    record: AuditRecord,
    resource_type: str,
    operation: Callable[[Session], T],
    render: Callable[[T], Response],
    resource_id: str | None = None,
    id_of: Callable[[T], str | None] | None = None,
) -> Response:
    """``execute`` with ``render(result)`` run before the commit; answers what it rendered.

    An exception while rendering (a value that cannot be serialised) rolls the transaction back
    and is answered by the error handlers as any failure is (a 500 audited as 500); the audited
    success status is the rendered response's own (201, 200, 204, 304).
    """

    def operate_and_render(session: Session) -> tuple[T, Response]:
        result = operation(session)
        return result, render(result)

    _, response = execute(
        state, record, resource_type, lambda done: done[1].status_code, operate_and_render, resource_id,
        (lambda done: id_of(done[0])) if id_of is not None else None,
    )
    return response
