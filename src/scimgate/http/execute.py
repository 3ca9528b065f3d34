"""Run one SCIM operation as one unit of work, with its audit event.

A write (POST, PUT, PATCH, DELETE) runs in a write transaction and its audit row is written in
that same transaction (so the change and its record commit together); on a SCIM error the
transaction rolls back, nothing is changed, and the failure is recorded in a transaction of its
own (ARCHITECTURE.md, "Rules"). A write that PostgreSQL aborts for a deadlock or a serialization
failure runs again (storage.db.run). A read (GET, ``POST .../.search``) runs in a read-only unit
(storage.db.snapshot: no SQLite write lock) and its audit row, success or failure, goes to the
process's audit journal (services.audit_journal), which inserts it within a fraction of a second.
``execute_rendered`` also builds the HTTP response inside the unit of work, so a response that
cannot be rendered rolls the change back: a 5xx never follows a committed change, and the audit
row holds the status actually answered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import Callable
from typing import TypeVar, cast

import anyio
import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from scimgate.events import outbox
from scimgate.http.deps import AppState
from scimgate.scim.errors import ConflictException, ScimError
from scimgate.scim.patch import may_drop_every_member
from scimgate.scim.quirks import normalise_patch_request
from scimgate.scim.schema import group_schema
from scimgate.services import audit
from scimgate.services.audit import AuditRecord
from scimgate.storage.db import RetriesExhausted, WriterBusy, checkpoint, run, run_now, snapshot, transaction
from scimgate.storage.driver_reads import DriverReads, Reads, Unsupported

T = TypeVar("T")
log = logging.getLogger("scimgate.http")


def is_read(record: AuditRecord) -> bool:
    """True for a request that changes nothing: a GET or a ``POST .../.search`` (RFC 7644 §3.4.3)."""
    if record.method == "GET":
        return True
    return record.method == "POST" and record.path.rstrip("/").endswith("/.search")


def record_failure(state: AppState, record: AuditRecord, exc: ScimError, started: float) -> None:
    """Record the audit event of a failed request once per request: a read's in the journal,
    a write's in a transaction of its own (the failed change rolled back)."""
    if record.recorded:
        return
    row = audit.row(record, exc.status, (time.perf_counter() - started) * 1000, exc.scim_type or None,
                    exc.detail)
    if state.journal is not None and is_read(record):
        state.journal.append(row)
    else:
        with transaction(state.sessions) as session:
            audit.insert_rows(session, [row])
    record.recorded = True


def execute(
    state: AppState,
    record: AuditRecord,
    resource_type: str,
    status: int | Callable[[T], int],
    operation: Callable[[Session], T],
    resource_id: str | None = None,
    id_of: Callable[[T], str | None] | None = None,
    *,
    readers: sessionmaker[Session] | None = None,
    writers: sessionmaker[Session] | None = None,
    reads: DriverReads | None = None,
) -> T:
    """Run ``operation(session)`` in one unit of work and audit it as ``resource_type``: a read
    (:func:`is_read`) in a read-only snapshot, or first through ``reads`` (the DriverReads of
    :func:`execute_lookup`, whose operations take a ``Reads``; a read that needs a session runs
    again in the snapshot), audited through the journal; a write in a write
    transaction that also holds its audit row, retried on deadlocks (storage.db.run: 409
    ConflictException when every attempt fails), or with ``writers`` (the event loop's SQLite
    writer, :func:`execute_write`) only if it can run without waiting (storage.db.run_now:
    WriterBusy otherwise, nothing written). The failure of a write on ``writers`` is recorded
    by the error handler (http.errors.audit_failure, in a worker thread), not here: its own
    transaction could wait for the lock.

    ``status`` is the status the route answers on success, or a function of the result that
    gives it (a conditional GET answers 304); ``id_of`` finds the resource id in the result
    when the request did not name one (POST); ``readers`` the session factory of a read's
    snapshot (default: ``state.readers``).
    """
    started = time.perf_counter()
    record.resource_type = resource_type
    record.resource_id = resource_id
    read = state.journal is not None and is_read(record)

    def unit(session: Session) -> T:
        outbox.act_as(session, record.client)  # the events of a write name Entra, Okta or "scim"
        result = operation(session)
        if id_of is not None:
            record.resource_id = id_of(result)
        answered = status(result) if callable(status) else status
        audit.record(session, record, answered, (time.perf_counter() - started) * 1000)
        return result

    try:
        if read:
            result = _read(cast(Callable[[Reads], T], operation), reads, readers or state.readers)
        elif writers is not None:
            result = run_now(writers, unit)
        else:
            try:
                result = run(state.sessions, unit)
            except RetriesExhausted as exhausted:
                raise ConflictException() from exhausted
    except ScimError as exc:
        if writers is None:
            record_failure(state, record, exc, started)
        raise
    if read and state.journal is not None:
        answered = status(result) if callable(status) else status
        state.journal.append(audit.row(record, answered, (time.perf_counter() - started) * 1000))
    record.recorded = True
    return result


def _read(operation: Callable[[Reads], T], reads: DriverReads | None, readers: sessionmaker[Session]) -> T:
    """``operation`` through ``reads`` when given, else (or when it needs a session:
    storage.driver_reads.Unsupported) in a snapshot of ``readers``."""
    if reads is not None:
        try:
            return operation(reads)
        except Unsupported:
            pass
    with snapshot(readers) as session:
        return operation(session)


def execute_rendered(
    state: AppState,
    record: AuditRecord,
    resource_type: str,
    operation: Callable[[Session], T],
    render: Callable[[T], Response],
    resource_id: str | None = None,
    id_of: Callable[[T], str | None] | None = None,
    *,
    readers: sessionmaker[Session] | None = None,
    writers: sessionmaker[Session] | None = None,
    reads: DriverReads | None = None,
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
        (lambda done: id_of(done[0])) if id_of is not None else None, readers=readers, writers=writers,
        reads=reads,
    )
    return response


async def execute_read(
    state: AppState,
    record: AuditRecord,
    resource_type: str,
    operation: Callable[[Session], T],
    render: Callable[[T], Response],
    resource_id: str | None = None,
) -> Response:
    """:func:`execute_rendered` of a read (GET, ``POST .../.search``) from an ``async def``
    route, in a worker thread: a list or a filter may scan, and must never block the loop."""
    return await run_in_threadpool(execute_rendered, state, record, resource_type, operation, render,
                                   resource_id)


async def execute_lookup(
    state: AppState,
    record: AuditRecord,
    resource_type: str,
    operation: Callable[[Reads], T],
    render: Callable[[T], Response],
    resource_id: str | None = None,
) -> Response:
    """:func:`execute_rendered` of a read known to be a few indexed lookups (a GET by id, a
    ``userName eq``), first through the DriverReads (storage.driver_reads: its statement on the
    driver's cursor, no session), then, if it needs one, in a snapshot. On a SQLite file on the
    event loop's thread, on its own connections (``state.loop_readers``,
    storage.db.loop_reader_factory): the hop to a worker thread and back costs more CPU than
    such a read; elsewhere in a worker thread."""
    if state.loop_readers is not None:
        return execute_rendered(state, record, resource_type, operation, render, resource_id,
                                readers=state.loop_readers, reads=state.driver_reads)
    return await run_in_threadpool(functools.partial(
        execute_rendered, state, record, resource_type, operation, render, resource_id,
        reads=state.driver_reads))


async def execute_write(
    state: AppState,
    record: AuditRecord,
    resource_type: str,
    operation: Callable[[Session], T],
    render: Callable[[T], Response],
    resource_id: str | None = None,
    id_of: Callable[[T], str | None] | None = None,
    *,
    short: bool = False,
) -> Response:
    """:func:`execute_rendered` of a write (POST, PUT, PATCH) from an ``async def`` route.

    On SQLite a ``short`` write (one whose work is bounded by its small body:
    :func:`is_short_write`) runs on the event loop's own writer connection when it can take the
    write lock without waiting (``state.loop_writers``, storage.db.run_now): the hop to a worker
    thread and the GIL hand-overs around each statement cost a write a fifth to a third of its
    CPU (docs/decisions.md, "SQLite writes on the event loop"). Every other write, and a short
    one that finds the lock held, runs in a worker thread, because it may wait for SQLite's
    writer lock or PostgreSQL's row locks, which must never hold up the event loop. On SQLite,
    where one write runs at a time anyway (storage.writer_lock), the writes of an event loop
    take their turns (:func:`sqlite_writer_turns`, in arrival order) and wait for them on the
    loop: eight threads queued on the writer lock cost each write a tenth more CPU in GIL
    hand-overs, for no more throughput, and a short write that met the lock held by a write of
    its own loop in a worker thread would go to a thread too, and keep the lock held for the
    next."""
    work = functools.partial(execute_rendered, state, record, resource_type, operation, render, resource_id,
                             id_of)
    if state.engine.dialect.name != "sqlite":
        return await run_in_threadpool(work)
    async with sqlite_writer_turns():
        if short and state.loop_writers is not None:
            try:
                response = execute_rendered(state, record, resource_type, operation, render, resource_id,
                                            id_of, writers=state.loop_writers)
            except WriterBusy:
                pass  # another process, the audit journal or a command holds the lock: wait in a thread
            else:
                _checkpoint_now_and_then(state)
                return response
        return await anyio.to_thread.run_sync(work)


SHORT_WRITE_BYTES = 16 * 1024
"""A write whose body is at most this long is :func:`is_short_write` (a user is 1-3 KiB)."""

CHECKPOINT_EVERY = 50
"""The WAL is checkpointed in a worker thread after this many writes on the loop's connection."""


def is_short_write(body: bytes, document: dict[str, object], *, group_patch: bool = False) -> bool:
    """Whether a write's work is bounded by its body, which is at most ``SHORT_WRITE_BYTES``:
    every User write, and a Group PATCH that the PATCH engine does not read as dropping every
    member (scim.patch.may_drop_every_member, on the operations as scim.quirks reads them: RFC
    7644 §3.5.2.2-3, a ``remove`` or ``replace`` of ``members`` without a filter empties a group
    of any size). A body the engine refuses is short: it is refused before any work."""
    if len(body) > SHORT_WRITE_BYTES:
        return False
    if not group_patch:
        return True
    try:
        operations = normalise_patch_request(document)
    except ScimError:
        return True
    return not may_drop_every_member(operations, group_schema())


def _checkpoint_now_and_then(state: AppState) -> None:
    """Every ``CHECKPOINT_EVERY`` writes on the loop's connection, a WAL checkpoint in a worker
    thread (storage.db.checkpoint): that connection never checkpoints at commit."""
    state.loop_writes += 1
    if state.loop_writes % CHECKPOINT_EVERY:
        return
    future = asyncio.get_running_loop().run_in_executor(None, checkpoint, state.engine)
    future.add_done_callback(_log_checkpoint_failure)


def _log_checkpoint_failure(future: asyncio.Future[None]) -> None:
    error = future.exception()
    if error is not None:
        log.warning("WAL checkpoint failed; the next one will retry", exc_info=error)


_WRITER_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary())


def sqlite_writer_turns() -> anyio.CapacityLimiter:
    """The running event loop's limiter of SQLite writes: one worker thread at a time (a
    limiter belongs to the loop that made it, and a test client runs a loop of its own)."""
    loop = asyncio.get_running_loop()
    found = _WRITER_TURNS.get(loop)
    if found is None:
        found = _WRITER_TURNS[loop] = anyio.CapacityLimiter(1)
    return found
