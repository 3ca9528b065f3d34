"""Side by side with scim2-server: the same data and the same workload against scimgate and the
Python reference SCIM server, on loopback.

``python -m bench.compare`` (or :func:`main`, run by ``make bench``):

1. starts ``scim2-server`` (PyPI; its own CLI, an in-memory store behind a threading WSGI
   server), then ``scimgate serve --workers N`` (``--workers``, default 2) on a fresh SQLite
   database and, with ``--postgres URL``, on a fresh PostgreSQL database: one server at a time,
   each on a free loopback port and stopped before the next starts;
2. loads the same users into each server through the load client, first ``--users`` (default
   10,000) and then up to ``--large`` (default 100,000); each load stops when ``--load-budget``
   seconds (default 600, per server and size) are spent, the count reached is reported and the
   workload runs at that size;
3. at each size drives the same workload from the same load client (asyncio + aiohttp,
   ``--concurrency`` requests in flight, a fixed number of requests per operation and an
   ``--op-budget`` in seconds per operation): POST user, filter ``userName eq``, GET by id, PATCH
   one attribute, a list page of 100 at the start and deep in the set, a group member add;
4. measures per operation the throughput (requests/s over the wall time), p50/p99 latency (ms),
   errors (non-2xx answers and transport failures, with the first one's text) and the server's
   CPU time per request (utime + stime from ``/proc/<pid>/stat`` summed over the server's process
   tree, before and after the operation), and per server and size the peak RSS (VmHWM summed
   over the process tree) and the load client's own CPU per request;
5. prints a table per size and scimgate database (both servers side by side, ratio = scimgate's
   throughput / scim2-server's) and rewrites the section ``## Side by side with scim2-server`` of
   ``docs/benchmarks.md`` (not with ``--no-docs``).

Every request goes to 127.0.0.1; every loop is bounded by a request count and a budget. The load
client only speaks SCIM over HTTP (RFC 7644), and both servers get the same request sequences
(seeded draws over users kept in load order). Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import machine, replace_section

SECTION = "## Side by side with scim2-server"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUPS = 10
OPERATIONS = ("POST user", "filter userName eq", "GET by id", "PATCH one attribute",
              "list first page (100)", "list deep page (100)", "group member add")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
REFERENCE = "scim2-server"


@dataclass
class Server:
    """A SCIM server process on loopback: its name, SCIM base URL, bearer token and process; the
    users loaded so far (ids and userNames in load order), its groups, the number of user POSTs
    attempted and of workload runs done."""

    name: str
    base_url: str
    token: str
    process: subprocess.Popen[bytes]
    user_ids: list[str] = field(default_factory=list)
    user_names: list[str] = field(default_factory=list)
    group_ids: list[str] = field(default_factory=list)
    attempted: int = 0
    runs: int = 0


@dataclass
class OpResult:
    """One operation's run: requests sent, errors among them, wall seconds, latencies (s) of the
    answered requests, the first error's text, and the CPU seconds the server's process tree and
    the load client (this process) spent meanwhile."""

    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    first_error: str = ""
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def throughput(self) -> float:
        """Requests per second over the operation's wall time."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_cpu_ms(self) -> float:
        """Server CPU (user + system, whole process tree) per request, in milliseconds."""
        return self.server_cpu * 1000 / self.requests if self.requests else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """Nearest-rank percentile (``fraction`` in [0, 1]) of the latencies, in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[max(0, min(len(ordered) - 1, int(fraction * len(ordered) + 0.999999) - 1))] * 1000


@dataclass
class SizeRun:
    """One server at one size: users loaded, each operation's result (keyed by name, in
    :data:`OPERATIONS` order) and the peak RSS so far in MiB."""

    users: int
    results: dict[str, OpResult]
    rss_mib: float

    @property
    def client_cpu_ms(self) -> float:
        """The load client's CPU per workload request, in milliseconds."""
        sent = sum(r.requests for r in self.results.values())
        return sum(r.client_cpu for r in self.results.values()) * 1000 / sent if sent else 0.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str) -> int | None:
    """The status of a GET of ``url`` (no proxy, 2 s timeout), or None if nothing answered."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 180) -> None:
    """Poll ``url`` until the server answers (any SCIM status below 500); if it exits or does not
    answer in ``seconds``, terminate it and raise RuntimeError with the end of its log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        status = http_status(url)
        if status is not None and status < 500:
            return
        time.sleep(0.2)
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    raise RuntimeError(f"server at {url} did not start:\n{log.read_text()[-2000:]}")


def start_scimgate(name: str, database_url: str, workdir: Path, workers: int,
                   settings: dict[str, str] | None = None) -> Server:
    """``scimgate serve --workers N`` on an empty database; the first start prints a token for its
    ``Default`` workspace (sync on, any email domain), read from the log. ``settings``:
    environment variables over the bench's own (the rate limiter is off unless they set it)."""
    port = free_port()
    log = workdir / f"{name}.log"
    env = {**os.environ, "SCIMGATE_DATABASE_URL": database_url, "SCIMGATE_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "SCIMGATE_RATE_LIMIT_PER_SECOND": "0", "SCIMGATE_MAX_RESULTS": "1000",
           "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"{name}-metrics"), **(settings or {})}
    command = [str(Path(sys.executable).parent / "scimgate"), "serve", "--workers", str(workers),
               "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/scim/v2"
    wait_ready(base + "/ServiceProviderConfig", process, log)
    match = re.search(r"SCIM bearer token \(shown once\): (\S+)", log.read_text())
    if match is None:
        process.terminate()
        raise RuntimeError(f"no token in the first-start output of {name}:\n{log.read_text()[-2000:]}")
    return Server(name, base, match.group(1), process)


def start_reference(workdir: Path) -> Server:
    """``scim2-server`` (its CLI: in-memory storage, threading WSGI server) with a bearer token."""
    port = free_port()
    token = uuid.uuid4().hex
    log = workdir / "scim2-server.log"
    program = str(Path(sys.executable).parent / "scim2-server")
    command = [program, "--port", str(port), "--bearer-token", token]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v2"
    wait_ready(base + "/ServiceProviderConfig", process, log)
    return Server(REFERENCE, base, token, process)


def stop(server: Server) -> None:
    """Terminate the server (and, for scimgate, its workers through uvicorn's shutdown)."""
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time (utime + stime, all threads) summed over ``pid`` and its live descendants, in
    seconds; from /proc/<pid>/stat fields 14 and 15, so in steps of one clock tick (usually 10 ms)."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # fields[0] is field 3 (state)
    return ticks / CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) summed over ``pid`` and its descendants, in MiB."""
    total_kib = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        total_kib += int(match.group(1)) if match else 0
    return total_kib / 1024


def user_body(user_name: str, index: int) -> dict[str, Any]:
    """The user both servers get: Entra's create shape without the extension (identity-providers.md §2.2)."""
    return {"schemas": [CORE_USER], "userName": user_name, "externalId": f"ext-{index}", "active": True,
            "displayName": f"Bench User {index}",
            "name": {"givenName": "Bench", "familyName": f"User{index}"},
            "emails": [{"type": "work", "primary": True, "value": user_name}]}


Request = tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]
"""(method, path under the SCIM base URL, query params, JSON body)."""


async def drive(server: Server, requests: Iterator[Request], concurrency: int,
                on_answer: Callable[[Request, Any], None] | None = None,
                budget: float = float("inf")) -> OpResult:
    """Send the requests over one aiohttp session with at most ``concurrency`` in flight (and as
    many keep-alive connections), none started after ``budget`` seconds; a non-2xx answer or a
    transport failure (120 s timeout) is an error. ``on_answer`` gets each 2xx answer's parsed JSON.
    CPU figures are left at 0 (see :func:`measured`)."""
    latencies: list[float] = []
    errors = 0
    first_error = ""
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/scim+json"}
    deadline = time.perf_counter() + budget
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal errors, first_error
            while time.perf_counter() <= deadline:
                request = next(requests, None)
                if request is None:
                    return
                method, path, params, body = request
                data = None if body is None else json.dumps(body).encode()
                started = time.perf_counter()
                try:
                    async with session.request(method, server.base_url + path, params=params,
                                               data=data) as response:
                        status = response.status
                        payload = await response.read()
                except (TimeoutError, aiohttp.ClientError) as exc:
                    errors += 1
                    first_error = first_error or f"{method} {path}: {exc!r}"
                    continue
                latencies.append(time.perf_counter() - started)
                if status >= 300:
                    errors += 1
                    text = payload[:200].decode(errors="replace")
                    first_error = first_error or f"{method} {path}: {status} {text}"
                elif on_answer is not None:
                    on_answer(request, json.loads(payload))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return OpResult(len(latencies) + errors, errors, seconds, latencies, first_error)


def measured(server: Server, requests: Iterator[Request], concurrency: int, budget: float) -> OpResult:
    """:func:`drive` with the server's and the load client's CPU seconds over the run filled in."""
    server_before, client_before = cpu_seconds(server.process.pid), time.process_time()
    result = asyncio.run(drive(server, requests, concurrency, budget=budget))
    result.client_cpu = time.process_time() - client_before
    result.server_cpu = cpu_seconds(server.process.pid) - server_before
    return result


def load_users(server: Server, upto: int, concurrency: int, budget: float) -> tuple[float, str]:
    """POST users until ``upto`` were attempted or ``budget`` seconds are spent; returns the
    seconds taken and a note on failed POSTs ("" if none). Ids and userNames are kept in load
    order (the userNames are numbered) for the workload; more than 1 % failed POSTs raise
    RuntimeError."""

    def bodies() -> Iterator[Request]:
        while server.attempted < upto:
            index = server.attempted
            server.attempted += 1
            yield "POST", "/Users", None, user_body(f"bench{index:07d}@bench.example", index)

    loaded: list[tuple[str, str]] = []

    def keep(request: Request, created: Any) -> None:
        loaded.append((created["userName"], created["id"]))

    result = asyncio.run(drive(server, bodies(), concurrency, keep, budget))
    if result.errors > result.requests / 100:
        raise RuntimeError(f"{server.name}: {result.errors} failed loads, first: {result.first_error}")
    loaded.sort()  # answers arrive out of order; zero-padded names sort in load order
    server.user_names += [name for name, _ in loaded]
    server.user_ids += [user_id for _, user_id in loaded]
    note = f" ({result.errors} POSTs failed, first: {result.first_error})" if result.errors else ""
    return result.seconds, note


def create_groups(server: Server) -> None:
    """The groups that the member-add operation fills (created empty, as Entra does)."""
    def bodies() -> Iterator[Request]:
        for index in range(GROUPS):
            yield "POST", "/Groups", None, {"schemas": [CORE_GROUP], "displayName": f"Bench group {index}"}

    def keep(request: Request, created: Any) -> None:
        server.group_ids.append(created["id"])

    result = asyncio.run(drive(server, bodies(), 1, keep))
    if result.errors:
        raise RuntimeError(f"{server.name}: group creation failed: {result.first_error}")


def workload(server: Server, operation: str, count: int, seed: int) -> Iterator[Request]:
    """``count`` requests of one operation, drawn from a seeded generator so both servers get the
    same sequence (same positions in their load order; new userNames and PATCH values are
    numbered by the server's workload run)."""
    rng = random.Random(seed)
    total = len(server.user_ids)
    tag = f"run{server.runs}"
    for n in range(count):
        pick = rng.randrange(total)
        if operation == "POST user":
            yield "POST", "/Users", None, user_body(f"new.{tag}.{n}@bench.example", 10_000_000 + n)
        elif operation == "filter userName eq":
            yield "GET", "/Users", {"filter": f'userName eq "{server.user_names[pick]}"'}, None
        elif operation == "GET by id":
            yield "GET", f"/Users/{server.user_ids[pick]}", None, None
        elif operation == "PATCH one attribute":
            replace = {"op": "replace", "path": "displayName", "value": f"Patched {tag} {n}"}
            body = {"schemas": [PATCH_OP], "Operations": [replace]}
            yield "PATCH", f"/Users/{server.user_ids[pick]}", None, body
        elif operation == "list first page (100)":
            yield "GET", "/Users", {"startIndex": 1, "count": 100}, None
        elif operation == "list deep page (100)":
            deep = max(1, total - 100 - rng.randrange(100))
            yield "GET", "/Users", {"startIndex": deep, "count": 100}, None
        elif operation == "group member add":
            add = {"op": "add", "path": "members", "value": [{"value": server.user_ids[pick]}]}
            group = server.group_ids[n % len(server.group_ids)]
            yield "PATCH", f"/Groups/{group}", None, {"schemas": [PATCH_OP], "Operations": [add]}


def run_workload(server: Server, requests: int, concurrency: int, budget: float) -> dict[str, OpResult]:
    """Every operation in turn, each for ``requests`` requests or ``budget`` seconds, whichever
    ends first; list pages get a fifth of the requests (each returns 100 users). Keyed by
    operation name."""
    results = {}
    for seed, operation in enumerate(OPERATIONS):
        count = requests // 5 if operation.startswith("list") else requests
        results[operation] = measured(server, workload(server, operation, count, seed), concurrency, budget)
    server.runs += 1
    return results


def bench_server(server: Server, label: str, sizes: list[int], args: argparse.Namespace,
                 after_load: Callable[[], None] | None = None) -> tuple[list[SizeRun], list[str]]:
    """Grow ``server`` to each of ``sizes`` users in turn (each load within ``args.load_budget``
    seconds), call ``after_load`` (database upkeep after a bulk load), and run the workload at
    the count reached; the server is stopped at the end. Returns one :class:`SizeRun` per size
    and the notes (loads, errors, peak RSS, client CPU)."""
    runs: list[SizeRun] = []
    notes: list[str] = []
    try:
        for size in sizes:
            before = len(server.user_ids)
            seconds, failed = load_users(server, size, args.concurrency, args.load_budget)
            reached = len(server.user_ids)
            cut = "" if server.attempted >= size else (
                f" (the {args.load_budget:.0f} s load budget ran out before {size:,})")
            verb = "grew to" if before else "loaded"
            notes.append(f"{label} {verb} {reached:,} users in {seconds:.0f} s{cut}{failed}.")
            if not server.group_ids:
                create_groups(server)
            if after_load is not None:
                after_load()
            results = run_workload(server, args.requests, args.concurrency, args.op_budget)
            runs.append(SizeRun(reached, results, peak_rss_mib(server.process.pid)))
            notes += [f"{label} at {reached:,} users, {op}: {r.errors} errors, first: {r.first_error}"
                      for op, r in results.items() if r.errors]
    finally:
        stop(server)
    rss = ", ".join(f"{run.rss_mib:.0f} MiB at {run.users:,} users" for run in runs)
    notes.append(f"{label} peak RSS, all processes: {rss}.")
    client = ", ".join(f"{run.client_cpu_ms:.2f} ms at {run.users:,} users" for run in runs)
    notes.append(f"Load client CPU per request against {label}: {client}.")
    return runs, notes


def table(title: str, ours: SizeRun, reference: SizeRun | None) -> str:
    """A Markdown table of one size: per operation and server the requests done, throughput
    (req/s), p50 and p99 latency (ms), server CPU per request (ms) and errors; then the ratio of
    scimgate's throughput to scim2-server's."""
    def cells(r: OpResult) -> str:
        return (f"{r.requests} | {r.throughput:.0f} | {r.percentile_ms(0.5):.1f} | "
                f"{r.percentile_ms(0.99):.1f} | {r.server_cpu_ms:.2f} | {r.errors}")

    head = "| operation | n | scimgate req/s | p50 ms | p99 ms | server CPU ms/req | errors |"
    rule = "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    if reference is not None:
        head += " n | scim2-server req/s | p50 ms | p99 ms | server CPU ms/req | errors | ratio |"
        rule += " ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    lines = [f"**{title}**", "", head, rule]
    for op, r in ours.results.items():
        row = f"| {op} | {cells(r)} |"
        if reference is not None:
            ref = reference.results[op]
            ratio = f"{r.throughput / ref.throughput:.1f}x" if ref.throughput else "-"
            row += f" {cells(ref)} | {ratio} |"
        lines.append(row)
    return "\n".join(lines)


def title_of(label: str, workers: int, ours: SizeRun, reference: SizeRun | None) -> str:
    """A table's title: the users in each server, scimgate's database and workers."""
    scimgate = f"scimgate on {label} ({workers} worker{'s' if workers != 1 else ''})"
    if reference is None:
        return f"{ours.users:,} users, {scimgate}"
    if reference.users == ours.users:
        return f"{ours.users:,} users, {scimgate} vs scim2-server (in memory)"
    return f"{ours.users:,} users in {scimgate} vs {reference.users:,} in scim2-server (in memory)"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000, help="Users loaded into every server first.")
    parser.add_argument("--large", type=int, default=100_000,
                        help="Users every server then grows to for the second size (0: skip).")
    parser.add_argument("--requests", type=int, default=1000, help="Requests per operation (lists: a fifth).")
    parser.add_argument("--concurrency", type=int, default=16, help="Requests in flight.")
    parser.add_argument("--op-budget", type=float, default=10.0,
                        help="Seconds after which an operation starts no new request.")
    parser.add_argument("--load-budget", type=float, default=600.0,
                        help="Seconds allowed for each load (per server and size); the workload runs at "
                             "the count reached.")
    parser.add_argument("--workers", type=int, default=2, help="scimgate worker processes.")
    parser.add_argument("--postgres", help="PostgreSQL URL of a server where a fresh database may be created "
                                           "(postgresql://user@host:port/db); also bench scimgate on it.")
    parser.add_argument("--no-docs", action="store_true", help="Do not rewrite docs/benchmarks.md.")
    return parser.parse_args(argv)


def vacuum_analyze(url: str) -> None:
    """``VACUUM ANALYZE`` the database at ``url`` after a bulk load: fresh planner statistics
    (PostgreSQL's "Populating a Database": run ANALYZE afterwards) and a visibility map for
    index-only scans. In production autovacuum does this on its own schedule; without it
    here the workload would measure autovacuum catching up with the load instead of scimgate."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def create_postgres_database(url: str) -> tuple[str, Callable[[], None]]:
    """A fresh database on the PostgreSQL server of ``url``; returns its SQLAlchemy URL and a dropper."""
    import psycopg

    name = "bench_" + uuid.uuid4().hex[:12]
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = plain.rsplit("/", 1)[0]

    def drop() -> None:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}", drop


def main(argv: list[str] | None = None) -> None:
    """Run the comparison (see the module docstring) and print and write the results; ``argv``
    are this module's options (none when ``make bench`` runs every bench module)."""
    argv = argv or []
    args = parse_args(argv)
    command = " ".join(["python -m bench.compare", *argv])
    about = machine("scimgate", "scim2-server", "scim2-models", "aiohttp")
    started = time.monotonic()
    sizes = [args.users] + ([args.large] if args.large > args.users else [])
    workdir = Path(tempfile.mkdtemp(prefix="scimgate-compare-"))
    notes: list[str] = []
    scimgate_runs: dict[str, list[SizeRun]] = {}
    try:
        reference_runs, found = bench_server(start_reference(workdir), REFERENCE, sizes, args)
        notes += found
        server = start_scimgate("scimgate-sqlite", f"sqlite:///{workdir / 'bench.db'}", workdir, args.workers)
        scimgate_runs["SQLite"], found = bench_server(server, "scimgate (SQLite)", sizes, args)
        notes += found
        if args.postgres:
            url, drop = create_postgres_database(args.postgres)
            try:
                server = start_scimgate("scimgate-postgresql", url, workdir, args.workers)
                scimgate_runs["PostgreSQL"], found = bench_server(server, "scimgate (PostgreSQL)", sizes,
                                                                  args, lambda: vacuum_analyze(url))
                notes += found
            finally:
                drop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    sections = [table(title_of(label, args.workers, runs[i], reference_runs[i]), runs[i], reference_runs[i])
                for i in range(len(sizes)) for label, runs in scimgate_runs.items()]
    elapsed = time.monotonic() - started
    text = "\n".join([
        SECTION, "",
        f"Command: `{command}` ({elapsed / 60:.1f} min). Machine: {about}.", "",
        "Both servers on 127.0.0.1, one at a time, each loaded with the same users at both sizes "
        f"({args.users:,}, then grown to {args.large:,}; each load stops after {args.load_budget:.0f} s "
        "and the workload runs at the count reached, noted below). One load client in the benchmark's "
        f"own process (asyncio + aiohttp), {args.concurrency} requests in flight, {args.requests} "
        f"requests per operation ({args.requests // 5} for list pages) or {args.op_budget:.0f} s, "
        "whichever ends first (n = requests done, errors = non-2xx answers or failed requests); "
        "both servers get the same request sequences. After each load scimgate's PostgreSQL database "
        "gets `VACUUM ANALYZE`, as PostgreSQL advises after a bulk load (autovacuum would do it later). "
        "POST user creates new users, PATCH replaces "
        f"displayName, group member add adds one user to one of {GROUPS} groups. Throughput and "
        "latency depend on how the machine's cores are shared between the server and the load client "
        "(its CPU per request is noted below); server CPU ms/req does not: it is the user + system "
        "CPU time of the server's whole process tree during the operation (/proc/<pid>/stat utime + "
        f"stime, in {1000 // CLOCK_TICKS} ms ticks) divided by n. scim2-server runs from its own CLI "
        "(`scim2-server --bearer-token`: in-memory storage behind a threading WSGI server, one "
        "process; wsgiref answers in HTTP/1.0, so every request opens a new connection, and its "
        "listen backlog is socketserver's 5, so with more connects pending some wait for a SYN "
        "retransmit, which shows as p99 latencies near 1 s); scimgate runs "
        f"`scimgate serve --workers {args.workers}`; ratio = scimgate req/s / scim2-server req/s. "
        "Issue 9's targets: at least 5x scim2-server on every operation, flat filter and PATCH "
        "latency from 10,000 to 100,000 users, RSS not growing with users. The full run is "
        "`python -m bench.compare --postgres postgresql://postgres@127.0.0.1:5432/postgres` "
        "(10,000 then 100,000 users).", "",
        *[s + "\n" for s in sections],
        *[f"- {n}" for n in notes], ""])
    print(text)
    if not args.no_docs:
        replace_section(SECTION, text)


if __name__ == "__main__":
    main(sys.argv[1:])
