"""Lifecycle events (issue 15): what the outbox adds to a SCIM write, and webhook delivery lag.

``python -m bench events [--ops N] [--postgres URL] [--lag-events N] [--no-docs]``:

1. outbox cost, in process (no HTTP, so the database's share is not diluted): on a fresh
   SQLite database (and PostgreSQL with ``--postgres``), PATCH one attribute, POST user and
   group member add run as the SCIM routes run them (one retried transaction with the audit
   row), alternately with the outbox on and with ``events.outbox.emit`` replaced by a no-op,
   ``5 * --ops`` of each. The headline is CPU per write, read from ``/proc``: the bench thread's
   ``schedstat`` run time plus, on PostgreSQL, that of the server backends serving the bench's
   connections (the database's own work is part of the cost), totalled over the writes of each
   mode (the kernel brings a running thread's total up to date at its ticks and switches, not
   at every read, so only a total over many writes is exact); the median wall-clock ms per
   write is shown beside it (noisy on a shared machine);
2. delivery lag: ``scimgate serve`` (1 worker, SQLite) with a webhook endpoint on a loopback
   receiver (added by the bench, so found by the server at its next poll, which the bench
   waits out); ``--lag-events`` POST users paced 20 ms apart, then the same number as fast as 4
   concurrent clients send them; lag = receipt time - the event's ``occurred_at``, p50/p99,
   and events per second received during the burst;
3. rewrites ``## Events`` of ``docs/benchmarks.md`` (not with ``--no-docs``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from bench import machine, replace_section
from bench.compare import create_postgres_database, start_scimgate, stop
from scimgate.events import outbox
from scimgate.events import webhooks as webhook_service
from scimgate.services import audit, groups, members, workspaces
from scimgate.services.audit import AuditRecord
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, run, session_factory, transaction

SECTION = "## Events"
BASE = "http://127.0.0.1:8000/api/scim/v2"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _write(sessions: Any, record: AuditRecord, operation: Callable[[Session], Any]) -> None:
    """One SCIM write as the routes run it: a retried transaction holding its audit row."""
    def unit(session: Session) -> None:
        outbox.act_as(session, record.client)
        operation(session)
        audit.record(session, record, 200, 1.0)
    run(sessions, unit)


def _run_ns(path: str) -> int:
    """CPU time a thread or process has run, in ns (the first field of /proc/.../schedstat)."""
    with open(path) as found:
        return int(found.read().split()[0])


class _Cpu:
    """CPU ns of this thread plus the PostgreSQL backends of the engine's connections (their
    pids taken at connect; the server runs on this machine)."""

    def __init__(self, engine: Any) -> None:
        self.paths = ["/proc/thread-self/schedstat"]
        if engine.dialect.name == "postgresql":
            @sa_event.listens_for(engine, "connect")
            def _backend(dbapi_connection: Any, _record: Any) -> None:
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    self.paths.append(f"/proc/{cursor.fetchone()[0]}/schedstat")

    def now(self) -> int:
        return sum(_run_ns(path) for path in self.paths if os.path.exists(path))


def outbox_cost(database_url: str, ops: int, rounds: int = 5) -> dict[str, tuple[float, float, float, float]]:
    """{operation: (CPU ms per write with the outbox, without, median wall ms with, without)}
    over ``ops * rounds`` operations each, alternating one with and one without."""
    engine = make_engine(database_url)
    cpu = _Cpu(engine)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        workspace = workspaces.create_workspace(session, "bench-" + uuid.uuid4().hex[:8],
                                                allow_any_domain=True)
        workspaces.set_scim_sync(session, workspace, True)
    user_ids = []
    for n in range(200):
        with transaction(sessions) as session:
            body = {"schemas": [USER], "userName": f"seed{n}@example.com"}
            user_ids.append(members.create_user(session, workspace, body, BASE).body["id"])
    with transaction(sessions) as session:
        group_id = groups.create_group(session, workspace, {"displayName": "bench"}, BASE).body["id"]
    record = AuditRecord("bench", "PATCH", "/Users/x", "entra", workspace.id, "User")
    counter = iter(range(10**9))

    def patch_one(session: Session) -> None:
        n = next(counter)
        members.patch_user(session, workspace, user_ids[n % len(user_ids)],
                           {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName",
                                                                 "value": f"name {n}"}]}, BASE)

    def post_user(session: Session) -> None:
        body = {"schemas": [USER], "userName": f"new{next(counter)}@example.com"}
        members.create_user(session, workspace, body, BASE)

    member_calls = iter(range(10**9))

    def member_add(session: Session) -> None:
        """Adds a user, the next call removes it again: one membership row and one event each
        (its own count, so that with and without events both run as many adds as removes)."""
        n = next(member_calls)
        user_id = user_ids[(n // 2) % len(user_ids)]
        operation = ({"op": "add", "path": "members", "value": [{"value": user_id}]} if n % 2 == 0
                     else {"op": "remove", "path": f'members[value eq "{user_id}"]'})
        body = {"schemas": [PATCH], "Operations": [operation]}
        groups.patch_group(session, workspace, group_id, body, BASE)

    real_emit = outbox.emit
    results: dict[str, tuple[float, float, float, float]] = {}
    for name, operation in (("PATCH one attribute", patch_one), ("POST user", post_user),
                            ("group member add/remove", member_add)):
        timings: dict[bool, list[float]] = {True: [], False: []}
        cpu_ns = {True: 0, False: 0}
        for n in range(2 * ops * rounds):  # alternate on, off, off, on: load drifts hit both alike,
            enabled = n % 4 in (0, 3)  # and each mode runs as many even calls (adds) as odd (removes)
            outbox.emit = real_emit if enabled else (lambda *args, **kwargs: None)  # type: ignore[assignment]
            cpu_before, started = cpu.now(), time.perf_counter()
            _write(sessions, record, operation)
            timings[enabled].append((time.perf_counter() - started) * 1000)
            cpu_ns[enabled] += cpu.now() - cpu_before
        outbox.emit = real_emit  # type: ignore[assignment]
        writes = ops * rounds
        results[name] = (cpu_ns[True] / writes / 1e6, cpu_ns[False] / writes / 1e6,
                         statistics.median(timings[True]), statistics.median(timings[False]))
    engine.dispose()
    return results


class _Receipts:
    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self.times: list[float] = []
        self.lock = threading.Lock()


def _receiver(receipts: _Receipts) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            now = time.time()
            stamp = json.loads(raw)["occurred_at"].replace("Z", "+00:00")
            occurred = datetime.fromisoformat(stamp).timestamp()
            with receipts.lock:
                receipts.lags_ms.append((now - occurred) * 1000)
                receipts.times.append(now)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def delivery_lag(workdir: Path, count: int) -> dict[str, float]:
    """Lag p50/p99 (ms) paced and in a burst, and events/s received in the burst."""
    receipts = _Receipts()
    receiver = _receiver(receipts)
    os.environ["SCIMGATE_WEBHOOK_ALLOW_PRIVATE"] = "true"
    database_url = f"sqlite:///{workdir / 'lag.db'}"
    server = start_scimgate("events-lag", database_url, workdir, workers=1)
    try:
        engine = make_engine(database_url)
        with transaction(session_factory(engine)) as session:
            workspace = workspaces.find_workspace(session, "Default")
            webhook_service.add_endpoint(session, workspace, f"http://127.0.0.1:{receiver.server_address[1]}/",
                                         allow_private=True)
        engine.dispose()
        time.sleep(1.5)  # an endpoint added by another process is found at the next poll (1 s)
        client = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {server.token}"})

        def post(n: int) -> None:
            response = client.post("/Users", json={"schemas": [USER], "userName": f"lag{n}@example.com"})
            assert response.status_code == 201, response.text

        for n in range(count):
            post(n)
            time.sleep(0.02)
        _wait(receipts, count)
        paced = list(receipts.lags_ms)
        receipts.lags_ms.clear()
        started = time.time()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(post, range(count, 2 * count)))
        _wait(receipts, count)
        burst = list(receipts.lags_ms)
        rate = count / (max(receipts.times) - started)
        client.close()
    finally:
        stop(server)
        receiver.shutdown()
    return {"paced p50": _percentile(paced, 0.5), "paced p99": _percentile(paced, 0.99),
            "burst p50": _percentile(burst, 0.5), "burst p99": _percentile(burst, 0.99), "events/s": rate}


def _wait(receipts: _Receipts, count: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while len(receipts.lags_ms) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench events")
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--lag-events", type=int, default=300)
    parser.add_argument("--postgres", default=None, help="also measure the outbox on this PostgreSQL server")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--no-lag", action="store_true", help="measure the outbox cost only")
    args = parser.parse_args(argv or [])
    lines = [SECTION, "", f"Machine: {machine('sqlalchemy', 'psycopg')}. "
             f"`python -m bench events --ops {args.ops} --lag-events {args.lag_events}`.", "",
             "Outbox cost on a SCIM write (in process, the write with its audit row; "
             f"{5 * args.ops} writes with events and as many, alternating, with `outbox.emit` a no-op). "
             "CPU per write from /proc (`schedstat` of the bench thread and, on PostgreSQL, of its "
             "server backends), the headline; median wall-clock ms beside it:", "",
             "| database | operation | CPU ms with events | CPU ms without | CPU cost | wall ms with | "
             "wall ms without | wall cost |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        backends = [("SQLite", f"sqlite:///{workdir / 'cost.db'}", None)]
        if args.postgres:
            url, drop = create_postgres_database(args.postgres)
            backends.append(("PostgreSQL", url, drop))
        for label, url, drop in backends:
            try:
                for name, (on, off, wall_on, wall_off) in outbox_cost(url, args.ops).items():
                    cost, wall_cost = 100 * (on - off) / off, 100 * (wall_on - wall_off) / wall_off
                    lines.append(f"| {label} | {name} | {on:.3f} | {off:.3f} | {cost:+.1f} % | "
                                 f"{wall_on:.3f} | {wall_off:.3f} | {wall_cost:+.1f} % |")
                    print(lines[-1], flush=True)
            finally:
                if drop is not None:
                    drop()
        lag = None if args.no_lag else delivery_lag(workdir, args.lag_events)
    if lag is None:
        print("\n".join(lines))
        return
    lines += ["", "Webhook delivery lag, commit to receipt (`scimgate serve`, 1 worker, SQLite, loopback "
              f"receiver, {args.lag_events} member.created events each):", "",
              "| load | p50 ms | p99 ms |", "|---|---:|---:|",
              f"| paced (one write every 20 ms) | {lag['paced p50']:.1f} | {lag['paced p99']:.1f} |",
              f"| burst (4 concurrent clients) | {lag['burst p50']:.1f} | {lag['burst p99']:.1f} |", "",
              f"Events delivered per second during the burst: {lag['events/s']:.0f}."]
    text = "\n".join(lines)
    print(text)
    if not args.no_docs:
        replace_section(SECTION, text)
