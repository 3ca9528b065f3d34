"""The Entra-like provisioning mix against 1 and 2 workers, on SQLite and PostgreSQL (issue 3).

``python -m bench provisioning [--users N] [--clients C] [--no-docs]`` (also run by ``make bench``):

1. for each database (SQLite; PostgreSQL when ``SCIMGATE_TEST_POSTGRES_URL`` answers) and each
   worker count (1, 2): a fresh database, a ``uvicorn scimgate.asgi:app --workers N`` process on
   loopback (rate limiting off), one workspace with a token and a few groups;
2. C client threads provision N new users the way Entra's initial cycle does (identity-providers.md §2, §6):
   per user ``GET /Users?filter=userName eq "..."`` (no match), ``POST /Users``, then a PATCH
   update of the user (``replace`` displayName and title), then a group-member PATCH ``add``;
3. prints throughput (requests/s over the wall clock) and p50/p99 latency per operation, and
   rewrites ``## Provisioning mix`` in ``docs/benchmarks.md``: figures are ratios against SQLite
   with 1 worker in the same run, plus the 1 -> 2 worker scaling per database.

The client threads run on the same machine as the server, so on a small machine the scaling
figure is bounded by the cores left for the workers; the section names the machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from tests.support import (
    LiveServer,
    create_postgres_database,
    drop_postgres_database,
    make_tenant,
    postgres_available,
    start_server,
    stop_server,
)

from bench import machine, replace_section

SECTION = "## Provisioning mix"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
OPERATIONS = ("filter GET", "POST user", "PATCH user", "PATCH group member")
GROUPS = 4
SERVER_ENV = {"UVICORN_TIMEOUT_WORKER_HEALTHCHECK": "60"}


@dataclass
class Run:
    """One database x worker-count cell: per-operation latencies (s) and the wall clock (s)."""

    backend: str
    workers: int
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wall: float = 0.0
    errors: int = 0

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    @property
    def throughput(self) -> float:
        """Requests per second over the wall clock."""
        return self.requests / self.wall if self.wall else 0.0

    def percentile_ms(self, fraction: float, operation: str | None = None) -> float:
        """The ``fraction`` quantile (nearest rank) of one operation's latencies, or of all, in ms."""
        values = sorted(self.latencies[operation] if operation else
                        [v for values in self.latencies.values() for v in values])
        if not values:
            return 0.0
        return values[min(len(values) - 1, max(0, round(fraction * len(values)) - 1))] * 1000


def provision(server: LiveServer, backend: str, workers: int, users: int, clients: int) -> Run:
    """Drive the mix against ``server`` and return its measurements."""
    tenant = make_tenant(server)
    group_ids = []
    for n in range(GROUPS):
        created = tenant.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": f"Team {n}"})
        created.raise_for_status()
        group_ids.append(created.json()["id"])
    run = Run(backend, workers)
    lock = threading.Lock()
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            headers = dict(tenant.client.headers)
            local.client = httpx.Client(base_url=server.base_url, headers=headers, timeout=60)
        return local.client

    def timed(operation: str, send: Callable[[], httpx.Response], expected: int) -> httpx.Response:
        started = time.perf_counter()
        response = send()
        elapsed = time.perf_counter() - started
        with lock:
            run.latencies[operation].append(elapsed)
            run.errors += response.status_code != expected
        return response

    def one_user(n: int) -> None:
        c = client()
        user_name = f"user{n}@example.com"
        timed("filter GET", lambda: c.get("/Users", params={"filter": f'userName eq "{user_name}"'}), 200)
        body = {"schemas": [USER_SCHEMA], "userName": user_name, "externalId": f"ext-{n}",
                "displayName": f"User {n}", "name": {"givenName": "User", "familyName": str(n)},
                "emails": [{"value": user_name, "type": "work", "primary": True}], "active": True}
        created = timed("POST user", lambda: c.post("/Users", json=body), 201)
        if created.status_code != 201:
            return
        user_id = created.json()["id"]
        update = {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "displayName", "value": f"User {n} (updated)"},
            {"op": "replace", "path": "title", "value": "Engineer"}]}
        timed("PATCH user", lambda: c.patch(f"/Users/{user_id}", json=update), 200)
        member = {"op": "add", "path": "members", "value": [{"value": user_id}]}
        add = {"schemas": [PATCH_OP], "Operations": [member]}
        group = group_ids[n % GROUPS]
        response = timed("PATCH group member", lambda: c.patch(f"/Groups/{group}", json=add), 204)
        if response.status_code == 200:  # 200 with the group is also a correct answer (RFC 7644 §3.5.2)
            with lock:
                run.errors -= 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one_user, range(users)))
    run.wall = time.perf_counter() - started
    tenant.client.close()
    return run


def bench_cell(backend: str, workers: int, users: int, clients: int, workdir: Path) -> Run:
    """A fresh database and server for one cell; both are removed afterwards."""
    if backend == "sqlite":
        database_url, drop = f"sqlite:///{workdir / f'bench-{workers}.db'}", None
    else:
        database_url = create_postgres_database()
        drop = database_url
    server = start_server(database_url, workdir / f"{backend}-{workers}.log", backend, workers=workers,
                          env=SERVER_ENV)
    try:
        return provision(server, backend, workers, users, clients)
    finally:
        stop_server(server)
        if drop:
            drop_postgres_database(drop)


def report(runs: list[Run], users: int, clients: int, started: str, host: str) -> str:
    """The markdown section: ratios against SQLite/1 worker, scaling, and the raw figures."""
    baseline = next(r for r in runs if r.backend == "sqlite" and r.workers == 1)
    lines = [
        SECTION,
        "",
        f"{users} new users per cell, {clients} client threads on loopback; per user a filter GET, a POST, "
        f"a PATCH update and a group-member PATCH add (Entra's initial-cycle shape). Fresh database and "
        f"server per cell; rate limiting off. {started}. Machine: {host}. "
        f"Command: `python -m bench provisioning --users {users} --clients {clients}`.",
        "",
        "Throughput and p50/p99 as ratios against SQLite with 1 worker "
        f"(= 1.00: {baseline.throughput:.1f} req/s, p50 {baseline.percentile_ms(0.5):.1f} ms, "
        f"p99 {baseline.percentile_ms(0.99):.1f} ms):",
        "",
        "| database | workers | throughput | p50 | p99 | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        lines.append(
            f"| {r.backend} | {r.workers} | {r.throughput / baseline.throughput:.2f} | "
            f"{r.percentile_ms(0.5) / baseline.percentile_ms(0.5):.2f} | "
            f"{r.percentile_ms(0.99) / baseline.percentile_ms(0.99):.2f} | {r.errors} |"
        )
    lines += ["", "Scaling from 1 to 2 workers (throughput ratio):", ""]
    cores = os.cpu_count() or 1
    caveat = (f"The client threads, the workers and PostgreSQL share this machine's {cores} cores "
              "(and any other jobs on it), so a ratio near 1.0 means the machine was saturated rather "
              "than that a second worker adds nothing; measure scaling on production hardware with the "
              "load generator on another machine.")
    for backend in dict.fromkeys(r.backend for r in runs):
        one = next((r for r in runs if r.backend == backend and r.workers == 1), None)
        two = next((r for r in runs if r.backend == backend and r.workers == 2), None)
        if one and two and one.throughput:
            lines.append(f"- {backend}: {two.throughput / one.throughput:.2f}x")
    lines += ["", caveat]
    lines += ["", "p50 / p99 per operation, ms (absolute; for reading the ratios above):", "",
              "| database | workers | " + " | ".join(OPERATIONS) + " |",
              "| --- | ---: | " + " | ".join("---:" for _ in OPERATIONS) + " |"]
    for r in runs:
        cells = " | ".join(f"{r.percentile_ms(0.5, op):.1f} / {r.percentile_ms(0.99, op):.1f}"
                           for op in OPERATIONS)
        lines.append(f"| {r.backend} | {r.workers} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    summary = (__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench provisioning", description=summary)
    parser.add_argument("--users", type=int, default=200, help="New users provisioned per cell.")
    parser.add_argument("--clients", type=int, default=8, help="Client threads sending requests.")
    parser.add_argument("--no-docs", action="store_true",
                        help="Print only; do not rewrite docs/benchmarks.md.")
    args = parser.parse_args(argv)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    host = machine("uvicorn", "sqlalchemy", "psycopg")
    backends = ["sqlite"] + (["postgres"] if postgres_available() else [])
    if "postgres" not in backends:
        print("PostgreSQL is not reachable at SCIMGATE_TEST_POSTGRES_URL: SQLite only.")
    runs = []
    with tempfile.TemporaryDirectory(prefix="scimgate-bench-") as folder:
        for backend in backends:
            for workers in (1, 2):
                run = bench_cell(backend, workers, args.users, args.clients, Path(folder))
                print(f"{backend:8} workers={workers}: {run.throughput:7.1f} req/s  "
                      f"p50 {run.percentile_ms(0.5):6.1f} ms  p99 {run.percentile_ms(0.99):7.1f} ms  "
                      f"errors {run.errors}", flush=True)
                runs.append(run)
    section = report(runs, args.users, args.clients, started, host)
    print(section)
    if not args.no_docs:
        replace_section(SECTION, section)
    if any(r.errors for r in runs):
        raise SystemExit("Some requests did not get the expected status; see the errors column.")
