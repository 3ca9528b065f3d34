"""Member sign-in floods (issue 18): POST /login and the SAML ACS are budgeted per client address,
answered 429 with Retry-After on the member's HTML page before any database or XML work; each
endpoint has its own bucket; another address is unaffected. Both databases.

Budget: 3 per address and endpoint, refilled at 0.01 per minute (nothing refills while the test
runs). The client address is the ``X-Forwarded-For`` of the trusted proxy (loopback).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from scimgate.storage.db import transaction
from scimgate.storage.models import SsoRequest
from tests.sso.support import sso_tenant
from tests.support import LiveServer, start_server, stop_server

BURST = 3
THROTTLED = {"SCIMGATE_SSO_ADDRESS_BURST": str(BURST), "SCIMGATE_SSO_ADDRESS_PER_MINUTE": "0.01"}


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with a small member sign-in budget."""
    started = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend,
                           env=THROTTLED)
    yield started
    stop_server(started)


def address() -> str:
    """A fresh private client address (RFC 1918)."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def requests_issued(server: LiveServer, workspace_id: str) -> int:
    with transaction(server.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(SsoRequest)
                                  .where(SsoRequest.workspace_id == workspace_id)) or 0)


def test_login_and_acs_are_throttled_per_address(live_server: LiveServer, tmp_path: Path) -> None:
    sso = sso_tenant(live_server, tmp_path)
    flooding = address()
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        def login(source: str) -> httpx.Response:
            return client.post("/login", data={"email": f"ada@{sso.domain}"},
                               headers={"X-Forwarded-For": source})

        def acs(source: str) -> httpx.Response:
            return client.post(sso.acs_url, data={"SAMLResponse": "bm90IHNhbWw="},
                               headers={"X-Forwarded-For": source})

        for _ in range(BURST):
            assert login(flooding).status_code == 303
        issued = requests_issued(live_server, sso.tenant.workspace_id)
        refused = login(flooding)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "text/html" in refused.headers["content-type"] and "Too many sign-in attempts" in refused.text
        assert requests_issued(live_server, sso.tenant.workspace_id) == issued  # no AuthnRequest written
        for _ in range(BURST):  # the ACS has its own bucket: refused as a bad response, not throttled
            assert acs(flooding).status_code == 403
        refused = acs(flooding)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "text/html" in refused.headers["content-type"] and "Too many sign-in attempts" in refused.text
        other = address()
        assert login(other).status_code == 303 and acs(other).status_code == 403
