"""Token revocation with the per-process token cache on, over HTTP (services.token_cache;
issue 14): at once on the worker that revoked, within the cache's bound on every other."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from scimgate.services import tokens, workspaces
from scimgate.storage.db import transaction
from tests.admin.client import signed_in
from tests.support import LiveServer, make_tenant, start_server, stop_server

CACHED = {"SCIMGATE_TOKEN_CACHE_SECONDS": "2"}


def fresh_status(server: LiveServer, secret: str) -> int:
    """The status of GET /Users on a new connection (so that any worker may answer it)."""
    headers = {"Authorization": f"Bearer {secret}", "Connection": "close"}
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        return client.get("/Users?count=1", headers=headers).status_code


def statuses_until(server: LiveServer, secret: str, wanted: int, in_a_row: int = 20) -> list[int]:
    """Statuses of fresh-connection requests until ``in_a_row`` in a row are ``wanted`` (or 30 s
    pass: the caller's assertion then fails); what every worker answers, without timing anything."""
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and seen[-in_a_row:] != [wanted] * in_a_row:
        seen.append(fresh_status(server, secret))
    return seen


@pytest.fixture(scope="module")
def cached_server(database_url: str, backend: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One worker with the token cache on (2 s)."""
    server = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend, env=CACHED)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def two_workers(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Two uvicorn workers on the same database, each with its own token cache (2 s)."""
    server = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend, workers=2,
                          env=CACHED)
    yield server
    stop_server(server)


def test_rotation_revokes_at_once_on_the_revoking_worker(cached_server: LiveServer) -> None:
    """A token cached by the worker, revoked through its admin pages, is 401 on the very next request."""
    tenant = make_tenant(cached_server)
    for _ in range(3):
        assert tenant.get("/Users").status_code == 200  # cached now
    admin = signed_in(tenant)
    try:
        assert admin.post("/admin/security/tokens").status_code == 303
        answer = admin.get("/admin/security")  # the new token's one-time page (post/redirect/get)
        token_id = re.search(r'name="token_id" value="([^"]+)"', answer.text).group(1)  # type: ignore[union-attr]
        assert admin.post("/admin/security/tokens/keep", {"token_id": token_id}).status_code == 303
        assert tenant.get("/Users").status_code == 401
    finally:
        admin.close()


def test_sync_off_holds_at_once_on_the_worker_that_switched_it(cached_server: LiveServer) -> None:
    """Switching "SCIM user sync active" off on the admin page is a 403 on the next request, even
    with the token's workspace cached."""
    tenant = make_tenant(cached_server)
    assert tenant.get("/Users").status_code == 200
    admin = signed_in(tenant)
    try:
        assert admin.post("/admin/security/sync", {"switch": "user", "active": "off",
                                                     "confirm": "yes"}).status_code == 303
        assert tenant.get("/Users").status_code == 403
        admin.post("/admin/security/sync", {"switch": "user", "active": "on"})
        assert tenant.get("/Users").status_code == 200
    finally:
        admin.close()


def test_revocation_elsewhere_reaches_every_worker(two_workers: LiveServer) -> None:
    """A token both workers have cached, revoked by another process (as the CLI does), ends up
    refused by every worker (each drops it within its cache bound); a new token works at once."""
    tenant = make_tenant(two_workers)
    assert statuses_until(two_workers, tenant.token, 200)[-20:] == [200] * 20  # cached on both workers
    with transaction(two_workers.sessions) as session:
        workspace = workspaces.find_workspace(session, tenant.workspace_id)
        assert tokens.revoke_tokens(session, workspace) == 1
        new = tokens.issue_token(session, workspace).secret
    assert [fresh_status(two_workers, new) for _ in range(20)] == [200] * 20
    seen = statuses_until(two_workers, tenant.token, 401)
    assert seen[-20:] == [401] * 20
    # Once every worker has dropped it, no worker accepts it again (a cache never refills from a
    # revoked row). Before that, one worker may refuse while the other still holds it.
    assert [fresh_status(two_workers, tenant.token) for _ in range(20)] == [401] * 20
