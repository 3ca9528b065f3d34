"""SAML sign-in throughput: ACS requests per second with signature checks, and ACS latency.

``python -m bench sign_in`` (or :func:`main`, run by ``make bench``):

1. starts a live server (``uvicorn scimgate.asgi:app``, ``--workers`` workers) on a fresh SQLite
   database and, when the test PostgreSQL is reachable, on a fresh PostgreSQL database, with one
   workspace, a verified domain, ``--users`` provisioned members and a SAML connection to the
   simulator's local IdP (simulate.saml_idp: RSA-2048, RSA-SHA256, signed assertion);
2. prepares ``--sign-ins`` sign-ins outside the clock: each ``POST /login`` (a stored
   AuthnRequest) and the IdP's signed, Entra-shaped answer to it, cycling through the members;
3. posts the answers to the ACS from ``--concurrency`` threads (one HTTP client each) and counts
   only 303 answers to ``/me``; every answer goes through the whole check: the XML shape guard,
   ``xmlsec1`` signature verification, conditions, the single-use request, the replay cache, the
   binding and a new session (the first sign-in of a member binds it; later ones use the binding);
4. reports ACS requests/s (accepted sign-ins over the wall time of the posting phase), p50/p99
   latency, and the server's CPU per ACS request (utime + stime of its process tree, /proc,
   including the ``xmlsec1`` children), and rewrites ``## Sign-in (SAML ACS)`` of
   ``docs/benchmarks.md`` (not with ``--no-docs``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.support import (
    create_postgres_database,
    drop_postgres_database,
    make_tenant,
    postgres_available,
    start_server,
    stop_server,
)

from bench import machine, replace_section
from bench.compare import CLOCK_TICKS, process_tree
from scimgate.services import sso, workspaces
from scimgate.simulate.report import percentile
from scimgate.simulate.saml_idp import LocalIdp
from scimgate.storage.db import transaction

SECTION = "## Sign-in (SAML ACS)"


def cpu_with_children(pid: int) -> float:
    """CPU seconds of ``pid``'s live process tree including the children each has waited for
    (utime, stime, cutime, cstime: /proc/<pid>/stat fields 14-17), so the ``xmlsec1`` runs of the
    workers count."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(value) for value in fields[11:15])  # fields[0] is field 3 (state)
    return ticks / CLOCK_TICKS


@dataclass(frozen=True)
class Result:
    """One backend's run: accepted sign-ins, refused answers, wall seconds, latencies, CPU."""

    accepted: int
    refused: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        total = self.accepted + self.refused
        return self.cpu_seconds / total * 1000 if total else 0.0


def run(database_url: str, backend: str, folder: Path, args: argparse.Namespace) -> Result:
    """One live server on ``database_url``: prepare, then time the ACS posts."""
    server = start_server(database_url, folder / f"{backend}.log", backend, workers=args.workers)
    idp = LocalIdp()
    try:
        domain = f"bench-{uuid.uuid4().hex[:8]}.example"
        tenant = make_tenant(server, domains=(domain,))
        with transaction(server.sessions) as session:
            workspace = workspaces.find_workspace(session, tenant.workspace_id)
            sso.configure_saml(session, workspace, idp.metadata_xml)
        emails = [f"member{n}@{domain}" for n in range(args.users)]
        for email in emails:
            tenant.create_user(email)
        entity_id = f"{server.url}/sso/saml/{tenant.workspace_id}/metadata"
        acs_url = f"{server.url}/sso/saml/{tenant.workspace_id}/acs"
        idp.trust_sp(httpx.get(entity_id).text)
        object_ids = {email: str(uuid.uuid4()) for email in emails}
        answers = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for n in range(args.sign_ins):
                email = emails[n % len(emails)]
                location = client.post("/login", data={"email": email}).headers["location"]
                answers.append(idp.answer(email=email, object_id=object_ids[email],
                                          in_response_to=idp.read_request(location),
                                          sp_entity_id=entity_id, acs_url=acs_url))
        latencies: list[float] = []
        outcomes: list[bool] = []

        def post(chunk: list[str]) -> None:
            with httpx.Client(timeout=60) as client:
                for answer in chunk:
                    started = time.perf_counter()
                    response = client.post(acs_url, data={"SAMLResponse": answer, "RelayState": ""})
                    latencies.append(time.perf_counter() - started)
                    outcomes.append(response.status_code == 303 and response.headers.get("location") == "/me")

        chunks = [answers[i::args.concurrency] for i in range(args.concurrency)]
        cpu_before = cpu_with_children(server.process.pid)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(post, chunks))
        seconds = time.perf_counter() - started
        cpu = cpu_with_children(server.process.pid) - cpu_before
        return Result(sum(outcomes), len(outcomes) - sum(outcomes), seconds, latencies, cpu)
    finally:
        idp.close()
        stop_server(server)


def _row(backend: str, result: Result) -> str:
    p50, p99 = (percentile(result.latencies, f) * 1000 for f in (0.5, 0.99))
    return (f"| {backend} | {result.accepted} | {result.refused} | {result.per_second:.0f} | "
            f"{p50:.1f} | {p99:.1f} | {result.cpu_ms_per_request:.1f} |")


def main(argv: list[str] | None = None) -> None:
    """Run on SQLite and, when reachable, PostgreSQL; print and write the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sign-ins", type=int, default=300, help="ACS posts timed per database")
    parser.add_argument("--users", type=int, default=50, help="provisioned members signing in, in turn")
    parser.add_argument("--concurrency", type=int, default=4, help="threads posting to the ACS")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        results["SQLite"] = run(f"sqlite:///{folder}/bench.db", "sqlite", folder, args)
        if not args.sqlite_only and postgres_available():
            url = create_postgres_database()
            try:
                results["PostgreSQL"] = run(url, "postgres", folder, args)
            finally:
                drop_postgres_database(url)
    body = [
        f"{args.sign_ins} SP-initiated sign-ins per database, each answer signed by a local IdP "
        f"(RSA-2048, RSA-SHA256, signed assertion) and posted to the ACS from {args.concurrency} threads; "
        f"server `uvicorn scimgate.asgi:app --workers {args.workers}` on loopback, {args.users} members "
        f"signing in in turn (the first sign-in of each binds it). Every request runs the XML shape guard, "
        f"an `xmlsec1` signature check (a subprocess), the single-use request, the replay cache, the binding "
        f"and a new session. The AuthnRequests and the IdP's signatures are made before the clock starts. "
        f"{machine('pysaml2')}, {time.strftime('%Y-%m-%d', time.gmtime())}. `python -m bench sign_in`.",
        "",
        "| database | accepted | refused | ACS requests/s | p50 ms | p99 ms | server CPU ms per request |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[_row(backend, result) for backend, result in results.items()],
    ]
    print("\n".join(body))
    if not args.no_docs:
        replace_section(SECTION, "\n\n".join([SECTION, "\n".join(body)]))


if __name__ == "__main__":
    main()
