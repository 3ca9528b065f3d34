"""Sign-in throughput: SAML ACS and OIDC callback requests per second with their checks, and latency.

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
4. likewise over OpenID Connect, in a second workspace of the same server connected to the
   simulator's local provider (simulate.oidc_provider: RS256, RSA-2048, Okta-shaped ID tokens):
   outside the clock each ``POST /login`` (a stored authorization request, its ``state`` cookie)
   and the provider's redirect with a one-time code; timed, each ``GET`` of the callback with that
   cookie: the single-use request, the code exchange at the provider's token endpoint (HTTP, the
   provider signs the ID token then: it runs in this process, on loopback), the ID token checks
   (signature against the cached JWKS, iss, aud, exp, iat, nonce), the binding and a new session;
5. reports requests/s (accepted sign-ins over the wall time of the timed phase), p50/p99
   latency, and the server's CPU per request (utime + stime of its process tree, /proc,
   including the ``xmlsec1`` children), and rewrites ``## Sign-in (SAML ACS, OIDC callback)`` of
   ``docs/benchmarks.md`` (not with ``--no-docs``).
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
from bench.compare import CLOCK_TICKS, process_tree
from scimgate.services import oidc, sso, workspaces
from scimgate.simulate.oidc_provider import OidcProvider, ProviderUser
from scimgate.simulate.report import percentile
from scimgate.simulate.saml_idp import LocalIdp
from scimgate.sso.oidc import fetch_discovery
from scimgate.sso.routes import OIDC_STATE_COOKIE
from scimgate.storage.db import transaction

SECTION = "## Sign-in (SAML ACS, OIDC callback)"


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


def timed(requests: list[tuple[str, dict[str, str], dict[str, str] | None]], concurrency: int,
          server_pid: int) -> Result:
    """Send the prepared ``(url, headers, form)`` requests (a POST when ``form`` is given, else a
    GET) from ``concurrency`` threads; count the 303 answers to /me."""
    latencies: list[float] = []
    outcomes: list[bool] = []

    def send(chunk: list[tuple[str, dict[str, str], dict[str, str] | None]]) -> None:
        with httpx.Client(timeout=60) as client:
            for url, headers, form in chunk:
                started = time.perf_counter()
                response = (client.post(url, data=form, headers=headers) if form is not None
                            else client.get(url, headers=headers))
                latencies.append(time.perf_counter() - started)
                outcomes.append(response.status_code == 303 and response.headers.get("location") == "/me")

    chunks = [requests[i::concurrency] for i in range(concurrency)]
    cpu_before = cpu_with_children(server_pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, chunks))
    seconds = time.perf_counter() - started
    cpu = cpu_with_children(server_pid) - cpu_before
    return Result(sum(outcomes), len(outcomes) - sum(outcomes), seconds, latencies, cpu)


def saml_requests(server: LiveServer, idp: LocalIdp, args: argparse.Namespace
                  ) -> list[tuple[str, dict[str, str], dict[str, str] | None]]:
    """A workspace connected to ``idp`` and ``--sign-ins`` signed answers to post to its ACS."""
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
    prepared: list[tuple[str, dict[str, str], dict[str, str] | None]] = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for n in range(args.sign_ins):
            email = emails[n % len(emails)]
            location = client.post("/login", data={"email": email}).headers["location"]
            answer = idp.answer(email=email, object_id=object_ids[email],
                                in_response_to=idp.read_request(location),
                                sp_entity_id=entity_id, acs_url=acs_url)
            prepared.append((acs_url, {}, {"SAMLResponse": answer, "RelayState": ""}))
    return prepared


def oidc_requests(server: LiveServer, provider: OidcProvider, secret_key: str, args: argparse.Namespace
                  ) -> list[tuple[str, dict[str, str], dict[str, str] | None]]:
    """A workspace connected to ``provider`` and ``--sign-ins`` callbacks (a one-time code and
    the browser's ``state`` cookie each) to send."""
    domain = f"bench-{uuid.uuid4().hex[:8]}.example"
    tenant = make_tenant(server, domains=(domain,))
    metadata = fetch_discovery(provider.issuer, allow_loopback_http=True)
    with transaction(server.sessions) as session:
        workspace = workspaces.find_workspace(session, tenant.workspace_id)
        oidc.configure_oidc(session, workspace, metadata, provider.client_id, provider.client_secret,
                            secret_key)
    provider.redirect_uris.add(oidc.redirect_uri(server.url, tenant.workspace_id))
    emails = [f"member{n}@{domain}" for n in range(args.users)]
    for email in emails:
        tenant.create_user(email)
        provider.add_user(ProviderUser(email))
    prepared: list[tuple[str, dict[str, str], dict[str, str] | None]] = []
    for n in range(args.sign_ins):
        with httpx.Client(base_url=server.url, timeout=30) as browser:
            login = browser.post("/login", data={"email": emails[n % len(emails)]})
            state = login.cookies[OIDC_STATE_COOKIE]
            callback = httpx.get(login.headers["location"], timeout=30).headers["location"]
        prepared.append((callback, {"Cookie": f"{OIDC_STATE_COOKIE}={state}"}, None))
    return prepared


def run(database_url: str, backend: str, folder: Path, args: argparse.Namespace) -> dict[str, Result]:
    """One live server on ``database_url``: prepare, then time the ACS posts, then the OIDC
    callbacks."""
    secret_key = secrets.token_urlsafe(32)
    server = start_server(database_url, folder / f"{backend}.log", backend, workers=args.workers,
                          env={"SCIMGATE_SECRET_KEY": secret_key})
    idp, provider = LocalIdp(), OidcProvider()
    try:
        saml = timed(saml_requests(server, idp, args), args.concurrency, server.process.pid)
        callbacks = oidc_requests(server, provider, secret_key, args)
        return {"SAML ACS": saml, "OIDC callback": timed(callbacks, args.concurrency, server.process.pid)}
    finally:
        idp.close()
        provider.close()
        stop_server(server)


def _row(backend: str, kind: str, result: Result) -> str:
    p50, p99 = (percentile(result.latencies, f) * 1000 for f in (0.5, 0.99))
    return (f"| {backend} | {kind} | {result.accepted} | {result.refused} | {result.per_second:.0f} | "
            f"{p50:.1f} | {p99:.1f} | {result.cpu_ms_per_request:.1f} |")


def main(argv: list[str] | None = None) -> None:
    """Run on SQLite and, when reachable, PostgreSQL; print and write the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sign-ins", type=int, default=300,
                        help="ACS posts, and OIDC callbacks, timed per database")
    parser.add_argument("--users", type=int, default=50, help="provisioned members signing in, in turn")
    parser.add_argument("--concurrency", type=int, default=4, help="threads sending the timed requests")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, Result]] = {}
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
        f"{args.sign_ins} SP-initiated sign-ins per database and protocol, from {args.concurrency} threads; "
        f"server `uvicorn scimgate.asgi:app --workers {args.workers}` on loopback, {args.users} members "
        f"signing in in turn (the first sign-in of each binds it). SAML: each answer signed by a local IdP "
        f"(RSA-2048, RSA-SHA256, signed assertion) and posted to the ACS; every request runs the XML shape "
        f"guard, an `xmlsec1` signature check (a subprocess), the single-use request, the replay cache, the "
        f"binding and a new session; the AuthnRequests and the IdP's signatures are made before the clock "
        f"starts. OIDC: each callback (a one-time code and the browser's `state` cookie, issued before the "
        f"clock starts) runs the single-use request, the code exchange at the local provider's token "
        f"endpoint (the provider, in the bench process on loopback, signs an RS256 ID token then), the ID "
        f"token checks against the cached JWKS, the binding and a new session. "
        f"{machine('pysaml2', 'joserfc')}, {time.strftime('%Y-%m-%d', time.gmtime())}. "
        f"`python -m bench sign_in`.",
        "",
        "| database | sign-in | accepted | refused | requests/s | p50 ms | p99 ms "
        "| server CPU ms per request |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[_row(backend, kind, result)
          for backend, by_kind in results.items() for kind, result in by_kind.items()],
    ]
    print("\n".join(body))
    if not args.no_docs:
        replace_section(SECTION, "\n\n".join([SECTION, "\n".join(body)]))


if __name__ == "__main__":
    main()
