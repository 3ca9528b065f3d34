"""Server-side admin sessions over HTTP (issue 13 major 4): sign-out, a new password and an
admin's removal end a session at once on every worker and every process; sign-in rotates it.

The module's server runs 2 workers, and a second server process serves the same database (two
machines behind one proxy): a cookie saved before the session ended is replayed on fresh
connections to both, and none of them opens an admin page any more.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, update

from scimgate.admin.session import COOKIE
from scimgate.services import sessions
from scimgate.storage.db import transaction
from scimgate.storage.models import SessionRecord, utcnow
from tests.admin.client import PASSWORD, AdminClient, cli, make_admin
from tests.support import LiveServer, Tenant, start_server, stop_server

SECRET = {"SCIMGATE_SECRET_KEY": "test-" + uuid.uuid4().hex}
REPLAYS = 6  # fresh connections per server, so the kernel spreads them over the workers
Servers = tuple[LiveServer, LiveServer]


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A 2-worker server."""
    started = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend, workers=2,
                           env={**SECRET, "UVICORN_TIMEOUT_WORKER_HEALTHCHECK": "60"})
    yield started
    stop_server(started)


@pytest.fixture(scope="module")
def other_server(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second server process on the same database and secret key."""
    started = start_server(live_server.database_url, tmp_path_factory.mktemp("log") / "other.log",
                           live_server.backend, env=SECRET)
    yield started
    stop_server(started)


def signed_in_cookie(tenant: Tenant, email: str) -> tuple[AdminClient, str]:
    """Sign ``email`` in; the client and its session cookie's value."""
    client = AdminClient.open(tenant.server)
    assert client.login(tenant.workspace_name, email).status_code == 303
    cookie = client.http.cookies.get(COOKIE)
    assert cookie
    return client, cookie


def opens(server: LiveServer, cookie: str) -> set[int]:
    """The statuses of GET /admin/security replaying ``cookie`` on ``REPLAYS`` new connections."""
    statuses = set()
    for _ in range(REPLAYS):
        with httpx.Client(base_url=server.url, cookies={COOKIE: cookie}, timeout=30) as fresh:
            statuses.add(fresh.get("/admin/security").status_code)
    return statuses


def everywhere(servers: Servers, cookie: str) -> set[int]:
    return opens(servers[0], cookie) | opens(servers[1], cookie)


def session_token(cookie: str) -> str:
    """The session token inside a cookie (the payload is signed, not encrypted)."""
    payload = URLSafeTimedSerializer("unused").load_payload(cookie.rsplit(".", 2)[0].encode())
    return str(payload["t"])


@pytest.fixture
def servers(live_server: LiveServer, other_server: LiveServer) -> Servers:
    return live_server, other_server


def test_cookie_opens_pages_on_every_worker_and_process(tenant: Tenant, servers: Servers) -> None:
    """A live session's cookie opens the admin pages on both workers and on the second process."""
    _, cookie = signed_in_cookie(tenant, make_admin(tenant))
    assert everywhere(servers, cookie) == {200}


def test_signed_out_cookie_replayed_opens_nothing(tenant: Tenant, servers: Servers) -> None:
    """After sign-out a saved copy of the cookie redirects to sign-in everywhere (OWASP session
    management: "the session must be invalidated on the server side")."""
    client, cookie = signed_in_cookie(tenant, make_admin(tenant))
    assert client.post("/admin/logout").status_code == 303
    assert everywhere(servers, cookie) == {303}
    with transaction(tenant.server.sessions) as db:
        assert sessions.resolve_session(db, session_token(cookie)) is None


def test_new_password_ends_sessions_everywhere(tenant: Tenant, servers: Servers) -> None:
    """``scimgate admin set-password`` ends every session of that admin, and only of that admin."""
    email, bystander = make_admin(tenant), make_admin(tenant)
    _, cookie = signed_in_cookie(tenant, email)
    _, kept = signed_in_cookie(tenant, bystander)
    done = cli(tenant.server, "admin", "set-password", email, "--workspace", tenant.workspace_name,
               "--password-stdin", stdin="a brand new passphrase\n")
    assert done.exit_code == 0, done.output
    assert everywhere(servers, cookie) == {303}
    assert everywhere(servers, kept) == {200}


def test_removed_admin_sessions_end_everywhere(tenant: Tenant, servers: Servers) -> None:
    """``scimgate admin remove`` deletes the account and ends its sessions; it cannot sign in again."""
    email = make_admin(tenant)
    _, cookie = signed_in_cookie(tenant, email)
    done = cli(tenant.server, "admin", "remove", email, "--workspace", tenant.workspace_name)
    assert done.exit_code == 0 and "ended 1 session(s)" in done.output, done.output
    assert everywhere(servers, cookie) == {303}
    assert AdminClient.open(tenant.server).login(tenant.workspace_name, email).status_code == 401
    unknown = cli(tenant.server, "admin", "remove", email, "--workspace", tenant.workspace_name)
    assert unknown.exit_code == 1 and "is not an admin" in unknown.output


def test_sign_in_rotates_the_session(tenant: Tenant, servers: Servers) -> None:
    """Signing in again from a signed-in browser revokes the earlier session and makes a new token."""
    email = make_admin(tenant)
    client, before = signed_in_cookie(tenant, email)
    again = client.post("/admin/login", {"workspace": tenant.workspace_name, "email": email,
                                         "password": PASSWORD})
    assert again.status_code == 303
    after = client.http.cookies.get(COOKIE)
    assert after and session_token(after) != session_token(before)
    assert everywhere(servers, before) == {303}
    assert everywhere(servers, after) == {200}


def test_expired_session_opens_nothing(tenant: Tenant, servers: Servers) -> None:
    """A session past its ``expires_at`` is refused although its cookie is still validly signed."""
    _, cookie = signed_in_cookie(tenant, make_admin(tenant))
    with transaction(tenant.server.sessions) as db:
        row = SessionRecord.id == sessions.session_id_of(session_token(cookie))
        db.execute(update(SessionRecord).where(row).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert everywhere(servers, cookie) == {303}


def test_only_the_tokens_hash_is_stored(tenant: Tenant) -> None:
    """The session row's key is the SHA-256 of the cookie's token; the token itself is in no column."""
    _, cookie = signed_in_cookie(tenant, make_admin(tenant))
    token = session_token(cookie)
    with transaction(tenant.server.sessions) as db:
        mine = SessionRecord.workspace_id == tenant.workspace_id
        rows = list(db.scalars(select(SessionRecord).where(mine)))
    assert [r.id for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in json.dumps([[str(v) for v in vars(r).values()] for r in rows])


def test_forged_and_other_workspace_tokens_open_nothing(tenant: Tenant) -> None:
    """Unknown tokens, and a member session's token, never resolve to an admin."""
    with transaction(tenant.server.sessions) as db:
        member_token = sessions.create_session(db, workspace_id=tenant.workspace_id, subject_kind="member",
                                               subject_id=str(uuid.uuid4()), lifetime=timedelta(hours=1))
        assert sessions.resolve_session(db, "x" * 43) is None
        assert sessions.resolve_session(db, "") is None
        assert sessions.resolve_session(db, "x" * 10_000) is None
        found = sessions.resolve_session(db, member_token)
        assert found is not None and found.subject_kind == "member"
    client = AdminClient.open(tenant.server)
    client.get("/admin/login")
    csrf_cookie = client.http.cookies.get(COOKIE)
    assert csrf_cookie and "t" not in URLSafeTimedSerializer("unused").load_payload(
        csrf_cookie.rsplit(".", 2)[0].encode())


def test_revoke_subject_sessions_counts_live_ones(tenant: Tenant) -> None:
    """revoke_subject_sessions ends the subject's live sessions (and says how many), no one else's."""
    subject, other = str(uuid.uuid4()), str(uuid.uuid4())
    with transaction(tenant.server.sessions) as db:
        mine = [sessions.create_session(db, workspace_id=tenant.workspace_id, subject_kind="member",
                                        subject_id=subject, lifetime=timedelta(hours=1)) for _ in range(3)]
        theirs = sessions.create_session(db, workspace_id=tenant.workspace_id, subject_kind="member",
                                         subject_id=other, lifetime=timedelta(hours=1))
        assert sessions.revoke_session(db, mine[0]) is True
        assert sessions.revoke_session(db, mine[0]) is False
    with transaction(tenant.server.sessions) as db:
        ended = sessions.revoke_subject_sessions(db, workspace_id=tenant.workspace_id, subject_kind="member",
                                                 subject_id=subject)
        assert ended == 2
        assert all(sessions.resolve_session(db, t) is None for t in mine)
        assert sessions.resolve_session(db, theirs) is not None
    with pytest.raises(ValueError), transaction(tenant.server.sessions) as db:
        sessions.create_session(db, workspace_id=tenant.workspace_id, subject_kind="robot",
                                subject_id=subject, lifetime=timedelta(hours=1))
