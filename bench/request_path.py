"""The request path: server CPU per request and throughput of single-resource SCIM operations,
against the framework's floor and scim2-server in the same run (issue 14).

``python -m bench.request_path`` (or :func:`main`, run by ``make bench``):

1. installs ``wrk`` (Debian package) with apt-get when it is missing;
2. starts, one at a time on a free loopback port: the floor (``uvicorn bench.floor:app``, a
   constant answer on scimgate's server stack), ``scim2-server`` (its CLI), ``scimgate serve
   --workers 1`` on a fresh SQLite database and, with ``--postgres URL``, on a fresh PostgreSQL
   database; each SCIM server gets ``--users`` users (default 1,000) and a few groups;
3. drives each operation with wrk (1 thread, ``--connections`` connections, ``--seconds`` each;
   a generated Lua script cycles through the loaded users, numbers new userNames, and prints a
   JSON summary in its ``done`` callback): GET by id, filter ``userName eq``, PATCH one
   attribute, POST user, group member add, and ``/healthz`` (scimgate) or ``/floor``;
4. measures per operation req/s, p50/p99 (wrk's latency histogram), non-2xx answers and socket
   errors, the server's CPU per request (utime + stime of its process tree from /proc, before
   and after) and wrk's own CPU per request (``RUSAGE_CHILDREN``);
5. runs scimgate again with ``--workers 2`` and 16 connections for the p99 target, and on
   SQLite with the rate limiter on (its default store, the database; a budget no run reaches)
   for GET by id and PATCH;
6. rewrites ``## Request path`` of ``docs/benchmarks.md`` (not with ``--no-docs``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from bench import machine, replace_section
from bench.compare import (
    CLOCK_TICKS,
    PATCH_OP,
    Server,
    cpu_seconds,
    create_groups,
    create_postgres_database,
    free_port,
    load_users,
    start_reference,
    start_scimgate,
    stop,
    user_body,
    vacuum_analyze,
    wait_ready,
)

SECTION = "## Request path"
OPERATIONS = ("GET by id", "filter userName eq", "PATCH one attribute", "POST user", "group member add")
TARGET_MS = {"GET by id": 0.5, "filter userName eq": 0.6, "PATCH one attribute": 1.0, "POST user": 1.0,
             "group member add": 1.0, "/healthz": 0.25}
TARGET_RATIO = {"GET by id": 3.0, "filter userName eq": 3.0, "PATCH one attribute": 2.0, "POST user": 2.0,
                "group member add": 2.0}
LIMITED = {"SCIMGATE_RATE_LIMIT_PER_SECOND": "100000", "SCIMGATE_RATE_LIMIT_BURST": "200000"}
"""The rate limiter on, as by default (buckets in the database), with a budget no run reaches."""
CYCLE = 1000  # requests of one script cycle through at most this many (path, body) pairs

LUA = """
local pairs_ = {%(pairs)s}
local method = "%(method)s"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["Content-Type"] = "application/scim+json"
local n = 0
request = function()
  n = n + 1
  local pick = pairs_[(n %% #pairs_) + 1]
  local body = pick[2]
  if body ~= nil then body = string.gsub(body, "@N@", tostring(n)) end
  return wrk.format(method, pick[1], nil, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK-JSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"p50_us\\":%%d,"
    .. "\\"p99_us\\":%%d,\\"non2xx\\":%%d,\\"socket_errors\\":%%d}\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Run:
    """One wrk run: requests, wall seconds, p50/p99 in ms, failures (non-2xx/3xx answers and
    socket errors), the server's and wrk's CPU seconds."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: int
    server_cpu: float
    client_cpu: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_ms(self) -> float:
        """Server CPU per request in ms."""
        return self.server_cpu * 1000 / self.requests if self.requests else 0.0

    @property
    def client_share(self) -> float:
        """wrk's CPU as a share of the CPU spent by wrk and the server together."""
        total = self.server_cpu + self.client_cpu
        return self.client_cpu / total if total else 0.0


def ensure_wrk() -> str:
    """The path of ``wrk``, installed from the Debian package when missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, env=env, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def script(method: str, token: str, requests: list[tuple[str, str | None]]) -> str:
    """The Lua script sending ``method`` to the (path, body) pairs in turn; ``@N@`` in a body
    becomes the request's number (new userNames)."""
    pairs = ",".join("{" + _lua_string(path) + ("," + _lua_string(body) if body is not None else "") + "}"
                     for path, body in requests)
    return LUA % {"pairs": pairs, "method": method, "token": token}


def run_wrk(wrk: str, url: str, lua: str, pid: int, workdir: Path, connections: int, seconds: float) -> Run:
    """Run wrk against ``url`` with the script ``lua``; server CPU of ``pid``'s tree measured around it."""
    path = workdir / "op.lua"
    path.write_text(lua)
    before_server = cpu_seconds(pid)
    before_client = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "-s", str(path), url],
                          capture_output=True, text=True, timeout=seconds + 60, check=False)
    after_client = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = cpu_seconds(pid) - before_server
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK-JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    summary = json.loads(line.removeprefix("WRK-JSON "))
    client_cpu = ((after_client.ru_utime + after_client.ru_stime)
                  - (before_client.ru_utime + before_client.ru_stime))
    return Run(summary["requests"], summary["duration_us"] / 1e6, summary["p50_us"] / 1000,
               summary["p99_us"] / 1000, summary["non2xx"] + summary["socket_errors"], server_cpu, client_cpu)


def requests_of(server: Server, operation: str) -> tuple[str, list[tuple[str, str | None]]]:
    """(method, (path, body) pairs) of ``operation`` against ``server``'s loaded users."""
    prefix = urllib.parse.urlsplit(server.base_url).path
    ids, names = server.user_ids[:CYCLE], server.user_names[:CYCLE]
    tag = f"rp{server.runs}"
    server.runs += 1
    if operation == "GET by id":
        return "GET", [(f"{prefix}/Users/{i}", None) for i in ids]
    if operation == "filter userName eq":
        return "GET", [(f"{prefix}/Users?" + urllib.parse.urlencode({"filter": f'userName eq "{n}"'}), None)
                       for n in names]
    if operation == "PATCH one attribute":
        body = {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "displayName", "value": f"Patched {tag} @N@"}]}
        return "PATCH", [(f"{prefix}/Users/{i}", json.dumps(body)) for i in ids]
    if operation == "POST user":
        body = user_body(f"new.{tag}.@N@@bench.example", 0)
        body["externalId"] = f"ext-{tag}-@N@"
        return "POST", [(f"{prefix}/Users", json.dumps(body))]
    if operation == "group member add":
        groups = server.group_ids
        def add(user_id: str) -> str:
            operation = {"op": "add", "path": "members", "value": [{"value": user_id}]}
            return json.dumps({"schemas": [PATCH_OP], "Operations": [operation]})
        return "PATCH", [(f"{prefix}/Groups/{groups[n % len(groups)]}", add(i)) for n, i in enumerate(ids)]
    raise ValueError(operation)


def origin(server: Server) -> str:
    parts = urllib.parse.urlsplit(server.base_url)
    return f"{parts.scheme}://{parts.netloc}"


def bench_scim(wrk: str, server: Server, args: argparse.Namespace, workdir: Path, connections: int,
               operations: tuple[str, ...] = OPERATIONS, healthz: bool = True) -> dict[str, Run]:
    """Each operation in turn against ``server`` (and ``/healthz`` for scimgate)."""
    results = {}
    for operation in operations:
        method, pairs = requests_of(server, operation)
        results[operation] = run_wrk(wrk, origin(server), script(method, server.token, pairs),
                                     server.process.pid, workdir, connections, args.seconds)
    if healthz:
        results["/healthz"] = run_wrk(wrk, origin(server), script("GET", "", [("/healthz", None)]),
                                      server.process.pid, workdir, connections, args.seconds)
    return results


def load(server: Server, users: int) -> None:
    load_users(server, users, 8, 600)
    create_groups(server)


def start_floor(workdir: Path) -> subprocess.Popen[bytes]:
    """``uvicorn bench.floor:app`` on a free port; returns the process (its port in ``.args``)."""
    port = free_port()
    log = workdir / "floor.log"
    command = [sys.executable, "-m", "uvicorn", "bench.floor:app", "--port", str(port),
               "--log-level", "warning"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=Path(__file__).resolve().parent.parent)
    wait_ready(f"http://127.0.0.1:{port}/floor", process, log)
    process.args = [*command, f"http://127.0.0.1:{port}"]
    return process


def row(name: str, run: Run, reference: Run | None, floor: Run | None) -> str:
    ratio = f"{run.throughput / reference.throughput:.1f}x" if reference and reference.throughput else "-"
    of_floor = f"{100 * run.throughput / floor.throughput:.0f} %" if floor and floor.throughput else "-"
    target = TARGET_MS.get(name)
    met = "" if target is None else (" ✓" if run.server_ms <= target else f" (target {target})")
    return (f"| {name} | {run.throughput:,.0f} | {ratio} | {of_floor} | {run.p50_ms:.1f} | {run.p99_ms:.1f} "
            f"| {run.server_ms:.2f}{met} | {run.failures} | {100 * run.client_share:.0f} % |")


def table(title: str, ours: dict[str, Run], reference: dict[str, Run] | None, floor: Run | None) -> str:
    lines = [f"### {title}", "",
             "| operation | req/s | vs scim2-server | of floor | p50 ms | p99 ms | server CPU ms/req "
             "| failures | wrk CPU share |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, run in ours.items():
        lines.append(row(name, run, (reference or {}).get(name), floor if name == "GET by id" else None))
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.request_path", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--postgres", default=os.environ.get("SCIMGATE_BENCH_POSTGRES", ""),
                        help="a PostgreSQL server URL (env SCIMGATE_BENCH_POSTGRES) to add scimgate on it")
    parser.add_argument("--no-docs", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the request-path benchmark (module docstring); print and write the section."""
    argv = argv or []
    args = parse_args(argv)
    wrk = ensure_wrk()
    about = machine("scimgate", "scim2-server", "fastapi", "uvicorn", "sqlalchemy")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="scimgate-request-path-"))
    tables: list[str] = []
    try:
        floor_process = start_floor(workdir)
        try:
            floor_url = floor_process.args[-1]
            floor = run_wrk(wrk, floor_url, script("GET", "", [("/floor", None)]), floor_process.pid, workdir,
                            args.connections, args.seconds)
        finally:
            floor_process.terminate()
            floor_process.wait(timeout=30)
        tables.append(table("Floor: FastAPI `async def` constant under uvicorn, 1 process",
                            {"constant": floor}, None, None))
        reference_server = start_reference(workdir)
        try:
            load(reference_server, args.users)
            reference = bench_scim(wrk, reference_server, args, workdir, args.connections, healthz=False)
        finally:
            stop(reference_server)
        tables.append(table("scim2-server 0.8.3 (its CLI, in-memory)", reference, None, None))
        for label in ("SQLite", "PostgreSQL") if args.postgres else ("SQLite",):
            runs = [(1, args.connections, False), (2, 16, False)]
            if label == "SQLite":
                runs.append((1, args.connections, True))
            for workers, connections, limited in runs:
                if label == "SQLite":
                    url, drop = f"sqlite:///{workdir / f'bench-{workers}-{limited}.db'}", None
                else:
                    url, drop = create_postgres_database(args.postgres)
                try:
                    server = start_scimgate(f"scimgate-{label}-{workers}-{limited}", url, workdir, workers,
                                            settings=LIMITED if limited else None)
                    try:
                        load(server, args.users)
                        if drop is not None:
                            vacuum_analyze(url)
                        full = workers == 1 and not limited
                        ops = OPERATIONS if full else ("GET by id", "PATCH one attribute")
                        results = bench_scim(wrk, server, args, workdir, connections, ops, healthz=full)
                    finally:
                        stop(server)
                finally:
                    if drop is not None:
                        drop()
                title = (f"scimgate on {label}, {workers} worker{'s' if workers > 1 else ''}, "
                         f"{connections} connections")
                if limited:
                    title += (", rate limiter on (database buckets; budget raised to "
                              f"{LIMITED['SCIMGATE_RATE_LIMIT_PER_SECOND']}/s so nothing is refused)")
                plain = workers == 1 and not limited
                tables.append(table(title, results, reference, floor if plain else None))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    text = "\n".join([
        SECTION, "",
        "Command: `" + " ".join(["python -m bench.request_path", *argv]) + f"` ({elapsed / 60:.1f} min). "
        f"Machine: {about}.", "",
        "One server at a time on 127.0.0.1; the load client is wrk (1 thread, "
        f"{args.connections} keep-alive connections unless the title says otherwise, "
        f"{args.seconds:.0f} s per operation; scim2-server speaks HTTP/1.0, so wrk reconnects for "
        "each of its requests). Each SCIM "
        f"server holds {args.users:,} users; GET, filter, PATCH and group add cycle through them, POST "
        "creates new ones. Server CPU ms/req = utime + stime of the server's process tree "
        f"(/proc/<pid>/stat, {1000 // CLOCK_TICKS} ms ticks) over the run / requests; wrk CPU share = wrk's "
        "CPU / (wrk's + the server's): on a 2-core machine the client competes with the server, so req/s "
        "understates a server with a core of its own, and server CPU per request is the figure that does "
        "not depend on it. vs scim2-server = scimgate req/s / scim2-server req/s; of floor = GET by id "
        "req/s / the constant endpoint's req/s. Issue 14's targets are given beside each CPU figure "
        "(✓ = met); vs scim2-server targets: >= 3x on GET and filter, >= 2x on PATCH, POST and group add; "
        "GET >= 35 % of the floor; p99 <= 50 ms at 16 in flight on 2 workers.", "",
        *tables])
    print(text)
    if not args.no_docs:
        replace_section(SECTION, text)


if __name__ == "__main__":
    main(sys.argv[1:])
