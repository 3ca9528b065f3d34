"""The long hostile-input run: tests/hostile.py's probe with many more cases, on SQLite and PostgreSQL.

``python -m bench hostile [--cases N] [--seed S] [--backend sqlite|postgres|both] [--no-docs]``
(also run by ``make bench``, with 2,000 cases per database):

1. for each database (PostgreSQL when ``SCIMGATE_TEST_POSTGRES_URL`` answers) a fresh database,
   a ``uvicorn scimgate.asgi:app`` process on loopback that resolves domain verification through
   a loopback test DNS server, one workspace with a SCIM token and an admin key;
2. schemathesis draws about N requests from both published OpenAPI descriptions (every
   operation, positive and negative generation), seeded with S, and each answer is checked: no
   5xx, every answer in its surface's format, nothing changed after an error (tests/hostile.py);
3. prints the statuses seen and every fault, and rewrites ``## Hostile input`` of
   ``docs/benchmarks.md``; exits 1 when any fault was found.

``make test`` runs the same probe bounded (tests/http/test_hostile_input.py,
``SCIMGATE_HOSTILE_CASES``, ``SCIMGATE_HOSTILE_SEED``).
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tests.dns_server import dns_env, dns_server
from tests.hostile import Report, make_target, run
from tests.support import (
    create_postgres_database,
    drop_postgres_database,
    make_tenant,
    postgres_available,
    start_server,
    stop_server,
)

from bench import machine, replace_section

SECTION = "## Hostile input"


def probe(backend: str, cases: int, seed: int, folder: Path) -> Report:
    """One database's run: a fresh database and server, the probe, the report."""
    url = f"sqlite:///{folder / 'hostile.db'}" if backend == "sqlite" else create_postgres_database()
    try:
        with dns_server() as zone:
            server = start_server(url, folder / f"{backend}.log", backend, env=dns_env(zone))
            try:
                tenant = make_tenant(server)
                report = run(make_target(server, tenant), cases, seed)
                tenant.client.close()
            finally:
                stop_server(server)
    finally:
        if backend == "postgres":
            drop_postgres_database(url)
    return report


def section(reports: dict[str, Report], cases: int, seed: int, started: str, host: str) -> str:
    """The Markdown section: per database the requests sent, time, statuses and faults."""
    lines = [SECTION, "",
             f"`python -m bench hostile --cases {cases} --seed {seed}`, {started}; {host}. Requests drawn by "
             "schemathesis from both published OpenAPI descriptions (every operation, positive and negative "
             "generation); checked: no 5xx, every answer in its surface's format, nothing changed after an "
             "error (tests/hostile.py).", "",
             "| database | requests | seconds | unsendable | statuses | faults |",
             "|---|---|---|---|---|---|"]
    for backend, report in reports.items():
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(report.statuses.items()))
        lines.append(f"| {backend} | {report.total} | {report.seconds:.0f} | {report.unsendable} "
                     f"| {statuses} | {len(report.faults)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    summary = (__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench hostile", description=summary)
    parser.add_argument("--cases", type=int, default=2000, help="Requests per database.")
    parser.add_argument("--seed", type=int, default=13, help="Hypothesis seed.")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--no-docs", action="store_true",
                        help="Print only; do not rewrite docs/benchmarks.md.")
    args = parser.parse_args(argv)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    host = machine("schemathesis", "hypothesis", "uvicorn")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends and not postgres_available():
        print("PostgreSQL is not reachable at SCIMGATE_TEST_POSTGRES_URL: SQLite only.")
        backends.remove("postgres")
    reports: dict[str, Report] = {}
    with tempfile.TemporaryDirectory(prefix="scimgate-hostile-") as folder:
        for backend in backends:
            report = reports[backend] = probe(backend, args.cases, args.seed, Path(folder))
            statuses = dict(sorted(report.statuses.items()))
            print(f"{backend}: {report.total} requests in {report.seconds:.0f} s, statuses {statuses}, "
                  f"{len(report.faults)} faults", flush=True)
            for fault in report.faults:
                print(f"  {fault}")
    text = section(reports, args.cases, args.seed, started, host)
    print(text)
    if not args.no_docs:
        replace_section(SECTION, text)
    if any(report.faults for report in reports.values()):
        raise SystemExit("The hostile-input probe found faults; see above.")
