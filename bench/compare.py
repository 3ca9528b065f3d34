"""Side by side with scim2-server: the same data and the same workload against scimgate and the
Python reference SCIM server, on loopback.

``python -m bench.compare`` (or :func:`main`, run by ``make bench``):

1. starts ``scimgate serve --workers 2`` on a fresh SQLite database (and, with ``--postgres URL``,
   a second one on a fresh PostgreSQL database) and ``scim2-server`` (PyPI; its own CLI, an
   in-memory store behind a threading WSGI server) on free loopback ports;
2. loads the same users into each (``--users``, default 10,000) through the load client;
3. drives the same workload from the same load client (asyncio + httpx, ``--concurrency``
   requests in flight, a fixed number of requests per operation): POST user, filter
   ``userName eq``, GET by id, PATCH one attribute, a list page of 100 at the start and deep in
   the set, a group member add;
4. grows scimgate to ``--large`` users (default 100,000; stops loading when ``--load-budget``
   seconds are spent and reports the count reached), runs the workload again and reads its peak
   RSS (VmHWM summed over the server's processes) at both sizes;
5. prints a table per size (throughput in requests/s, p50/p99 latency in ms, the ratio of
   scimgate's throughput to scim2-server's) and rewrites the section
   ``## Side by side with scim2-server`` of ``docs/benchmarks.md``.

Every request goes to 127.0.0.1; every loop is bounded by a request count and the load budget.
The load client only speaks SCIM over HTTP (RFC 7644), so both servers get identical requests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from bench import replace_section

SECTION = "## Side by side with scim2-server"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUPS = 10
OPERATIONS = ("POST user", "filter userName eq", "GET by id", "PATCH one attribute",
              "list first page (100)", "list deep page (100)", "group member add")


@dataclass
class Server:
    """A SCIM server process on loopback: its name, SCIM base URL, bearer token and process."""

    name: str
    base_url: str
    token: str
    process: subprocess.Popen[bytes]
    user_ids: list[str] = field(default_factory=list)
    user_names: list[str] = field(default_factory=list)
    group_ids: list[str] = field(default_factory=list)
    attempted: int = 0


@dataclass
class OpResult:
    """One operation's run: requests sent, non-2xx answers, wall seconds, latencies (s)."""

    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    first_error: str = ""

    @property
    def throughput(self) -> float:
        """Requests per second over the operation's wall time."""
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[max(0, min(len(ordered) - 1, int(fraction * len(ordered) + 0.999999) - 1))] * 1000


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 180) -> None:
    """Poll ``url`` until the server answers (any SCIM status below 500); if it exits or does not
    answer in ``seconds``, terminate it and raise RuntimeError with the end of its log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    raise RuntimeError(f"server at {url} did not start:\n{log.read_text()[-2000:]}")


def start_scimgate(name: str, database_url: str, workdir: Path) -> Server:
    """``scimgate serve --workers 2`` on an empty database; the first start prints a token for its
    ``Default`` workspace (sync on, any email domain), read from the log."""
    port = free_port()
    log = workdir / f"{name}.log"
    env = {**os.environ, "SCIMGATE_DATABASE_URL": database_url, "SCIMGATE_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "SCIMGATE_RATE_LIMIT_PER_SECOND": "0", "SCIMGATE_MAX_RESULTS": "1000",
           "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"{name}-metrics")}
    command = [str(Path(sys.executable).parent / "scimgate"), "serve", "--workers", "2", "--port", str(port)]
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
    return Server("scim2-server", base, token, process)


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
    """The user both servers get: Entra's create shape without the extension (research §2.2)."""
    return {"schemas": [CORE_USER], "userName": user_name, "externalId": f"ext-{index}", "active": True,
            "displayName": f"Bench User {index}",
            "name": {"givenName": "Bench", "familyName": f"User{index}"},
            "emails": [{"type": "work", "primary": True, "value": user_name}]}


Request = tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]
"""(method, path, query params, JSON body)."""


async def drive(server: Server, requests: Iterator[Request], concurrency: int,
                on_answer: Callable[[Request, httpx.Response], None] | None = None,
                budget: float = float("inf")) -> OpResult:
    """Send the requests with at most ``concurrency`` in flight, none started after ``budget``
    seconds; a non-2xx answer is an error."""
    latencies: list[float] = []
    errors = 0
    first_error = ""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/scim+json"}
    deadline = time.perf_counter() + budget
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, limits=limits,
                                 timeout=120) as client:

        async def worker() -> None:
            nonlocal errors, first_error
            for request in requests:
                if time.perf_counter() > deadline:
                    return
                method, path, params, body = request
                started = time.perf_counter()
                try:
                    response = await client.request(method, path, params=params, json=body)
                except httpx.HTTPError as exc:
                    errors += 1
                    first_error = first_error or f"{method} {path}: {exc!r}"
                    continue
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 300:
                    errors += 1
                    first_error = first_error or (
                        f"{method} {path}: {response.status_code} {response.text[:200]}")
                elif on_answer is not None:
                    on_answer(request, response)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return OpResult(len(latencies) + errors, errors, seconds, latencies, first_error)


def load_users(server: Server, upto: int, concurrency: int, budget: float) -> tuple[float, str]:
    """POST users until ``upto`` were sent or ``budget`` seconds are spent; returns the seconds
    taken and a note on failed POSTs ("" if none). Ids and userNames are kept for the workload;
    more than 1 % failed POSTs raise RuntimeError."""

    def bodies() -> Iterator[Request]:
        while server.attempted < upto:
            index = server.attempted
            server.attempted += 1
            yield "POST", "/Users", None, user_body(f"bench{index:07d}@bench.example", index)

    def keep(request: Request, response: httpx.Response) -> None:
        created = response.json()
        server.user_ids.append(created["id"])
        server.user_names.append(created["userName"])

    result = asyncio.run(drive(server, bodies(), concurrency, keep, budget))
    if result.errors > result.requests / 100:
        raise RuntimeError(f"{server.name}: {result.errors} failed loads, first: {result.first_error}")
    note = f" ({result.errors} POSTs failed, first: {result.first_error})" if result.errors else ""
    return result.seconds, note


def create_groups(server: Server) -> None:
    """The groups that the member-add operation fills (created empty, as Entra does)."""
    def bodies() -> Iterator[Request]:
        for index in range(GROUPS):
            yield "POST", "/Groups", None, {"schemas": [CORE_GROUP], "displayName": f"Bench group {index}"}

    result = asyncio.run(drive(server, bodies(), 1, lambda _, r: server.group_ids.append(r.json()["id"])))
    if result.errors:
        raise RuntimeError(f"{server.name}: group creation failed: {result.first_error}")


def workload(server: Server, operation: str, count: int, seed: int) -> Iterator[Request]:
    """``count`` requests of one operation, drawn from a seeded generator so both servers get the
    same sequence (same positions in their data)."""
    rng = random.Random(seed)
    total = len(server.user_ids)
    tag = uuid.uuid4().hex[:8]
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
    ends first; list pages get a fifth of the requests (each returns 100 users)."""
    results = {}
    for seed, operation in enumerate(OPERATIONS):
        count = requests // 5 if operation.startswith("list") else requests
        requests_of = workload(server, operation, count, seed)
        results[operation] = asyncio.run(drive(server, requests_of, concurrency, budget=budget))
    return results


def table(title: str, ours: dict[str, OpResult], reference: dict[str, OpResult] | None) -> str:
    """A Markdown table of one size: requests done, throughput, p50 and p99 per server, the ratio."""
    def cells(r: OpResult) -> str:
        return (f"{r.requests} | {r.throughput:.0f} | {r.percentile_ms(0.5):.1f} | "
                f"{r.percentile_ms(0.99):.1f} | {r.errors}")

    head = "| operation | n | scimgate req/s | p50 ms | p99 ms | errors |"
    rule = "| --- | ---: | ---: | ---: | ---: | ---: |"
    if reference is not None:
        head += " n | scim2-server req/s | p50 ms | p99 ms | errors | ratio |"
        rule += " ---: | ---: | ---: | ---: | ---: | ---: |"
    lines = [f"**{title}**", "", head, rule]
    for op, r in ours.items():
        row = f"| {op} | {cells(r)} |"
        if reference is not None:
            ref = reference[op]
            ratio = f"{r.throughput / ref.throughput:.1f}x" if ref.throughput else "-"
            row += f" {cells(ref)} | {ratio} |"
        lines.append(row)
    return "\n".join(lines)


def machine() -> str:
    """CPU model, cores, memory, OS and the versions compared."""
    cpu = "unknown CPU"
    with suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    memory = ""
    with suppress(OSError):
        found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        memory = f", {int(found.group(1)) / 1024 / 1024:.0f} GiB RAM" if found else ""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return (f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
            f"load average {load:.1f} at the start. Python {platform.python_version()}, "
            f"scimgate {metadata.version('scimgate')}, scim2-server {metadata.version('scim2-server')}, "
            f"scim2-models {metadata.version('scim2-models')}, httpx {metadata.version('httpx')}, "
            f"SQLite {sqlite3.sqlite_version}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000, help="Users loaded into both servers.")
    parser.add_argument("--large", type=int, default=100_000,
                        help="Users scimgate grows to for the second size (0: skip).")
    parser.add_argument("--requests", type=int, default=1000, help="Requests per operation (lists: a fifth).")
    parser.add_argument("--concurrency", type=int, default=16, help="Requests in flight.")
    parser.add_argument("--op-budget", type=float, default=10.0,
                        help="Seconds after which an operation starts no new request.")
    parser.add_argument("--load-budget", type=float, default=180.0,
                        help="Seconds allowed for growing scimgate to --large users.")
    parser.add_argument("--postgres", help="PostgreSQL URL of a server where a fresh database may be created "
                                           "(postgresql://user@host:port/db); also bench scimgate on it.")
    parser.add_argument("--no-docs", action="store_true", help="Do not rewrite docs/benchmarks.md.")
    return parser.parse_args(argv)


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


def bench_scimgate(label: str, database_url: str, args: argparse.Namespace, workdir: Path,
                   reference: dict[str, OpResult]) -> tuple[list[str], list[str]]:
    """scimgate on one database: load, workload beside the reference's results, grow to
    ``args.large``, workload again, peak RSS at both sizes. Returns (tables, notes)."""
    sections, notes = [], []
    server = start_scimgate(f"scimgate-{label.lower()}", database_url, workdir)
    try:
        seconds, failed = load_users(server, args.users, args.concurrency, budget=float("inf"))
        notes.append(f"scimgate ({label}) loaded {len(server.user_ids):,} users in {seconds:.0f} s{failed}.")
        create_groups(server)
        small = run_workload(server, args.requests, args.concurrency, args.op_budget)
        rss = f"scimgate ({label}) peak RSS, all processes: {peak_rss_mib(server.process.pid):.0f} MiB"
        rss += f" at {len(server.user_ids):,} users"
        title = f"{len(server.user_ids):,} users, scimgate on {label} (2 workers) vs scim2-server (in memory)"
        sections.append(table(title, small, reference))
        if args.large > args.users:
            seconds, failed = load_users(server, args.large, args.concurrency, budget=args.load_budget)
            reached = len(server.user_ids)
            cut = "" if server.attempted >= args.large else (
                f" (the {args.load_budget:.0f} s load budget ran out before {args.large:,})")
            notes.append(f"scimgate ({label}) grew to {reached:,} users in {seconds:.0f} s{cut}{failed}.")
            large = run_workload(server, args.requests, args.concurrency, args.op_budget)
            sections.append(table(f"{reached:,} users, scimgate on {label} (2 workers)", large, None))
            rss += f", {peak_rss_mib(server.process.pid):.0f} MiB at {reached:,} users"
        notes.append(rss + ".")
    finally:
        stop(server)
    return sections, notes


def main(argv: list[str] | None = None) -> None:
    """Run the comparison (see the module docstring) and print and write the results; ``argv``
    are this module's options (none when ``make bench`` runs every bench module)."""
    argv = argv or []
    args = parse_args(argv)
    command = " ".join(["python -m bench.compare", *argv])
    about = machine()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="scimgate-compare-"))
    sections: list[str] = []
    notes: list[str] = []
    try:
        reference = start_reference(workdir)
        try:
            seconds, failed = load_users(reference, args.users, args.concurrency, budget=float("inf"))
            notes.append(f"scim2-server loaded {len(reference.user_ids):,} users in {seconds:.0f} s{failed}.")
            create_groups(reference)
            reference_results = run_workload(reference, args.requests, args.concurrency, args.op_budget)
        finally:
            stop(reference)
        sqlite_url = f"sqlite:///{workdir / 'bench.db'}"
        found = bench_scimgate("SQLite", sqlite_url, args, workdir, reference_results)
        sections += found[0]
        notes += found[1]
        if args.postgres:
            url, drop = create_postgres_database(args.postgres)
            try:
                found = bench_scimgate("PostgreSQL", url, args, workdir, reference_results)
                sections += found[0]
                notes += found[1]
            finally:
                drop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    text = "\n".join([
        SECTION, "",
        f"Command: `{command}` ({elapsed / 60:.1f} min). Machine: {about}.", "",
        f"Both servers on 127.0.0.1; one asyncio + httpx load client, {args.concurrency} requests in "
        f"flight, {args.requests} requests per operation ({args.requests // 5} for list pages) or "
        f"{args.op_budget:.0f} s, whichever ends first (n = requests done); POST user creates new users, "
        f"PATCH replaces displayName, group member add adds one user to one of {GROUPS} groups. "
        "scim2-server runs from its own CLI (`scim2-server --bearer-token`: in-memory storage behind a "
        "threading WSGI server, one process); ratio = scimgate req/s / scim2-server req/s. Issue 9's "
        "targets: at least 5x scim2-server on every operation, flat filter and PATCH latency from 10,000 "
        "to 100,000 users, RSS not growing with users. The full run is `python -m bench.compare "
        "--postgres postgresql://postgres@127.0.0.1:5432/postgres` (10,000 then 100,000 users).", "",
        *[s + "\n" for s in sections],
        *[f"- {n}" for n in notes], ""])
    print(text)
    if not args.no_docs:
        replace_section(SECTION, text)


if __name__ == "__main__":
    main(sys.argv[1:])
