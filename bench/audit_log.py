"""The provisioning log's readers at scale (issue 17): health card, setup checklist, log page and
the streamed export, with 20,000 and 200,000 events.

``python -m bench audit_log`` (or :func:`main`, run by ``make bench``):

1. builds a fresh SQLite database (and, with ``--postgres URL`` or ``SCIMGATE_BENCH_POSTGRES_URL``,
   a fresh PostgreSQL database on that server) per size, with one workspace whose events are spread
   over 30 days across Entra, Okta and other clients (one in seven a failure), bulk-inserted and
   ANALYZEd;
2. runs in process, through the services (no HTTP): the health of every client
   (services.health), the Entra setup checklist (services.setup_checklist), the log's first page
   (services.audit_log.list_events) and the whole export as JSON Lines (services.audit_export);
3. prints the median latency of each reader per size and the ratio 200k/20k, and rewrites the
   section ``## Provisioning log readers`` of ``docs/benchmarks.md``. Target: the export's Python
   memory peak flat (one page) and its time linear. The others grow with what they must read:
   health with the 24-hour window's events, the checklist with the client's events while a step
   is unticked (here no Group is ever pushed: the worst case), the page with its total count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, text

from bench import machine, replace_section
from scimgate.services import audit_export, audit_log, health, setup_checklist
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, normalise_url, read_only_factory, session_factory
from scimgate.storage.models import AuditEvent, Workspace, utcnow

HEADING = "## Provisioning log readers"
SIZES = (20_000, 200_000)
CLIENTS = ("entra", "okta", "other")
SPREAD = timedelta(days=30)


def _populate(engine: Engine, events: int) -> str:
    workspace_id = str(uuid.uuid4())
    now = utcnow()
    step = SPREAD / events
    with engine.begin() as connection:
        connection.execute(insert(Workspace),
                           [{"id": workspace_id, "name": workspace_id, "name_lower": workspace_id}])
        for start in range(0, events, 10_000):
            connection.execute(insert(AuditEvent), [{
                "workspace_id": workspace_id, "at": now - step * i, "request_id": f"r{i}",
                "method": ("GET", "POST", "PATCH")[i % 3],
                "path": "/api/scim/v2/Users",
                "resource_type": "User", "resource_id": None,
                "status": 400 if i % 7 == 0 else (201 if i % 3 == 1 else 200),
                "scim_type": "invalidValue" if i % 7 == 0 else None,
                "detail": "The email domain new.example is not a verified domain" if i % 7 == 0 else None,
                "client": CLIENTS[(i // 3) % 3], "duration_ms": 1.0,
            } for i in range(start, min(start + 10_000, events))])
        connection.execute(text("ANALYZE"))
    return workspace_id


def _median_ms(work: Callable[[], Any], runs: int = 9) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _measure(url: str, events: int) -> dict[str, float]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    workspace_id = _populate(engine, events)
    sessions = session_factory(engine)

    def in_session(call: Callable[[Any, Workspace], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with sessions() as session:
                found = session.get(Workspace, workspace_id)
                assert found is not None
                return call(session, found)
        return run

    figures = {
        "health": _median_ms(in_session(lambda s, w: health.workspace_health(s, w))),
        "checklist": _median_ms(in_session(lambda s, w: setup_checklist.checklist(s, w, "entra"))),
        "page": _median_ms(in_session(lambda s, w: audit_log.list_events(s, w, audit_log.LogFilter(),
                                                                           1, 50))),
    }
    tracemalloc.start()
    started = time.perf_counter()
    lines = sum(1 for _ in audit_export.jsonl(audit_export.records(read_only_factory(sessions), workspace_id,
                                                                   audit_log.LogFilter())))
    figures["export_s"] = time.perf_counter() - started
    figures["export_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert lines == events
    engine.dispose()
    return figures


def _postgres_database(server: str) -> tuple[str, Callable[[], None]]:
    name = "bench_audit_" + uuid.uuid4().hex[:8]
    admin = make_engine(server, isolation_level="AUTOCOMMIT", pool_size=1)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = normalise_url(server).rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench audit_log", description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("SCIMGATE_BENCH_POSTGRES_URL"),
                        help="a PostgreSQL server URL to also measure on (a scratch database is made)")
    parser.add_argument("--no-docs", action="store_true", help="Do not rewrite docs/benchmarks.md.")
    args = parser.parse_args(argv)
    results: dict[str, dict[int, dict[str, float]]] = {}
    for backend in ("sqlite", "postgres") if args.postgres else ("sqlite",):
        results[backend] = {}
        for size in SIZES:
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as folder:
                    results[backend][size] = _measure(f"sqlite:///{folder}/bench.db", size)
            else:
                url, drop = _postgres_database(args.postgres)
                try:
                    results[backend][size] = _measure(url, size)
                finally:
                    drop()
    small, large = SIZES
    rows = ["| database | reader | 20k events | 200k events | ratio 200k/20k |", "|---|---|---|---|---|"]
    for backend, by_size in results.items():
        for key, unit in (("health", "ms"), ("checklist", "ms"), ("page", "ms"), ("export_s", "s"),
                          ("export_peak_mib", "MiB")):
            a, b = by_size[small][key], by_size[large][key]
            rows.append(f"| {backend} | {key.replace('_s', '').replace('_peak_mib', ' memory peak')} | "
                        f"{a:.2f} {unit} | {b:.2f} {unit} | {b / a:.2f} |")
    table = "\n".join(rows)
    print(table)
    if not args.no_docs:
        replace_section(HEADING, f"{HEADING}\n\n"
                        "`python -m bench audit_log` (bench/audit_log.py): medians of 9 runs in process\n"
                        "through the services; the export is one run of the whole log as JSON Lines, its\n"
                        "memory the Python heap peak (tracemalloc). Events spread over 30 days, so the\n"
                        f"health card's 24-hour window holds 1/30 of them.\n\n{table}\n\n"
                        f"Measured on {machine('sqlalchemy', 'psycopg')}.\n")
