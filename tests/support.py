"""Test support: live scimgate server processes, fresh databases, tenants with tokens.

Every module that uses ``live_server`` gets its own server process and its own database, on
SQLite and on PostgreSQL (``SCIMGATE_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``). Each test gets its own workspace, so tests in a
module share the process but never see each other's data (tenancy does the isolation).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from scimgate.http import listener
from scimgate.services import tokens, workspaces
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, normalise_url, session_factory, transaction
from scimgate.storage.models import AuditEvent, EmailDomain, Workspace, utcnow

POSTGRES_URL = os.environ.get("SCIMGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCIM_PREFIX = "/api/scim/v2"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


def postgres_available() -> bool:
    engine = make_engine(POSTGRES_URL, pool_size=1)
    try:
        with engine.connect():
            return True
    except Exception:
        return False
    finally:
        engine.dispose()


def create_postgres_database() -> str:
    """A new empty PostgreSQL database; returns its URL."""
    name = "sg_" + uuid.uuid4().hex[:16]
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_size=1)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base = normalise_url(POSTGRES_URL)
    return base.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_size=1)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A scimgate process on loopback and the database it serves."""

    url: str
    database_url: str
    sessions: sessionmaker[Session]
    process: subprocess.Popen[bytes]
    log_path: Path
    backend: str

    @property
    def base_url(self) -> str:
        return self.url + SCIM_PREFIX


# Imports the app, waits for the end of its standard input, then runs ``python -m uvicorn`` with
# the same arguments: start_server closes that input once the database is migrated.
_IMPORT_THEN_SERVE = ("import runpy, sys; import scimgate.app; sys.stdin.read(); "
                      "sys.argv[0] = 'uvicorn'; runpy.run_module('uvicorn', run_name='__main__')")


def start_server(database_url: str, log_path: Path, backend: str, workers: int = 1,
                 env: dict[str, str] | None = None) -> LiveServer:
    """Migrate ``database_url`` and start ``uvicorn scimgate.asgi:app`` on a free port, with the
    listener ``scimgate serve`` uses (scimgate.http.listener). With one worker the process imports
    the app (seconds) while the migration runs, and starts uvicorn only once it has finished
    (the app refuses a database that is behind)."""
    engine = make_engine(database_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process_env = dict(os.environ)
    process_env.update({
        "SCIMGATE_DATABASE_URL": database_url,
        "SCIMGATE_PUBLIC_URL": url,
        "SCIMGATE_RATE_LIMIT_PER_SECOND": "0",
        # Tests change tokens and workspaces straight in the database (another process): without
        # the token cache the server sees that at once; tests/http/test_token_cache.py turns it on.
        "SCIMGATE_TOKEN_CACHE_SECONDS": "0",
        # Every test signs in from 127.0.0.1: a module's sign-ins would spend one address's
        # budget; tests/admin/test_sign_in_throttle.py sets its own small budgets.
        "SCIMGATE_SIGN_IN_ADDRESS_BURST": "100000",
        # Likewise member sign-ins (POST /login, the ACS); tests/sso/test_sso_throttle.py sets its own.
        "SCIMGATE_SSO_ADDRESS_BURST": "100000",
        # Tests sign in several times a second, past the process's password-hash budget (1 a
        # second); tests/admin/test_sign_in_throttle.py tests that budget.
        "SCIMGATE_SIGN_IN_HASHES_PER_SECOND": "0",
    })
    process_env.update(env or {})
    log = log_path.open("wb")
    arguments = ["scimgate.asgi:app", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", str(workers), "--log-level", "warning", "--http", listener.PROTOCOL]
    if workers > 1:  # the worker processes import the app themselves
        migrate.upgrade(engine)
        process = subprocess.Popen([sys.executable, "-m", "uvicorn", *arguments],
                                   env=process_env, stdout=log, stderr=subprocess.STDOUT)
    else:
        process = subprocess.Popen([sys.executable, "-c", _IMPORT_THEN_SERVE, *arguments], env=process_env,
                                   stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
        try:
            migrate.upgrade(engine)
        except BaseException:
            process.kill()
            raise
        assert process.stdin is not None
        process.stdin.close()  # end of input: the process runs uvicorn
    # Discovery needs a token (case C30): a SCIM error answer means the app is up.
    wait_until_up(process, log_path, url + SCIM_PREFIX + "/ServiceProviderConfig", (200, 401))
    return LiveServer(url, database_url, session_factory(engine), process, log_path, backend)


def wait_until_up(process: subprocess.Popen[bytes], log_path: Path, url: str, statuses: tuple[int, ...],
                  seconds: float = 120) -> None:
    """Poll ``url`` until it answers one of ``statuses``; if the process exits or ``seconds``
    pass first, kill it and raise RuntimeError with its log."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=1).status_code in statuses:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"scimgate did not start:\n{log_path.read_text()}")
        time.sleep(0.1)


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
    server.sessions.kw["bind"].dispose()


@dataclass
class Tenant:
    """A workspace on a live server with a SCIM token, sync on and example.com verified."""

    server: LiveServer
    workspace_id: str
    workspace_name: str
    token: str
    client: httpx.Client

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.client.put(path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.client.patch(path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.delete(path, **kwargs)

    def create_user(self, user_name: str, **attributes: Any) -> dict[str, Any]:
        """POST a user and return the created resource (asserting 201)."""
        body = {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}
        response = self.post("/Users", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())


def make_tenant(server: LiveServer, *, domains: tuple[str, ...] = ("example.com",),
                sync: bool = True, allow_any_domain: bool = False) -> Tenant:
    """A fresh workspace with a token, SCIM sync on and ``domains`` verified."""
    name = "ws-" + uuid.uuid4().hex[:12]
    with transaction(server.sessions) as session:
        workspace = workspaces.create_workspace(session, name, allow_any_domain=allow_any_domain)
        workspaces.set_scim_sync(session, workspace, sync)
        for domain in domains:
            session.add(EmailDomain(id=str(uuid.uuid4()), workspace_id=workspace.id, name=domain,
                                    challenge=uuid.uuid4().hex, verified_at=utcnow(), verified_by="operator",
                                    verified_detail="test fixture"))
        issued = tokens.issue_token(session, workspace)
        workspace_id = workspace.id
    client = httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {issued.secret}", "Content-Type": "application/scim+json"},
        timeout=30,
    )
    return Tenant(server, workspace_id, name, issued.secret, client)


def admin_client(tenant: Tenant) -> httpx.Client:
    """An admin API client for the tenant's workspace (a fresh admin key)."""
    with transaction(tenant.server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        secret = tokens.issue_token(session, workspace, kind="admin").secret
    return httpx.Client(base_url=tenant.server.url + "/api/admin/v1",
                        headers={"Authorization": f"Bearer {secret}"}, timeout=30)


def audit_events(server: LiveServer, workspace_id: str, at_least: int) -> list[AuditEvent]:
    """The workspace's audit_event rows in the order their requests were answered (``at``, then
    id), once at least ``at_least`` are there: a read's row reaches the table through the server's
    audit journal (services.audit_journal), a fraction of a second after its answer. Gives up
    after 15 s and returns what is there (the caller's assertion then says what is missing)."""
    deadline = time.monotonic() + 15
    while True:
        with server.sessions() as session:
            rows = list(session.scalars(select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
                                        .order_by(AuditEvent.at, AuditEvent.id)))
        if len(rows) >= at_least or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)
