"""Member single sign-on steps are throttled per client address (issue 18, "sign-in and ACS
endpoints rate-limited"): POST /login with the OIDC callback (one budget), and the SAML ACS
(its own budget) answer 429 with
Retry-After once the address's member budget is spent, before doing anything else.

Budget: 3 per address, refilled at 0.01 per minute (nothing refills while a test runs). The
client address is the ``X-Forwarded-For`` of the trusted proxy (loopback).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.oidc.support import authorize, browser, me, oidc_tenant
from tests.support import LiveServer, start_server, stop_server

BURST = 3


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with a small member sign-in budget."""
    started = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend, env={
        "SCIMGATE_SSO_ADDRESS_BURST": str(BURST),
        "SCIMGATE_SSO_ADDRESS_PER_MINUTE": "0.01",
    })
    yield started
    stop_server(started)


def address() -> str:
    """A fresh private client address (RFC 1918 10/8), random enough not to repeat in a run."""
    return "10." + ".".join(str(secrets.randbelow(254) + 1) for _ in range(3))


def test_login_over_the_budget_gets_429(live_server: LiveServer, tmp_path: Path) -> None:
    """The fourth POST /login from one address is 429 with Retry-After; another address is not."""
    oidc = oidc_tenant(live_server, tmp_path)
    email = f"flood@{oidc.domain}"
    flooding = address()
    for _ in range(BURST):
        answer = browser().post(live_server.url + "/login", data={"email": email},
                                headers={"X-Forwarded-For": flooding})
        assert answer.status_code == 303, answer.text
    answer = browser().post(live_server.url + "/login", data={"email": email},
                            headers={"X-Forwarded-For": flooding})
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1
    assert "Too many sign-in attempts" in answer.text and "location" not in answer.headers
    other = browser().post(live_server.url + "/login", data={"email": email},
                           headers={"X-Forwarded-For": address()})
    assert other.status_code == 303


def test_throttled_callback_does_nothing(live_server: LiveServer, tmp_path: Path) -> None:
    """A callback from an address over its budget is 429 and leaves the request unconsumed:
    the same callback from a fresh address then signs in."""
    oidc = oidc_tenant(live_server, tmp_path)
    user = oidc.user("cb")
    oidc.tenant.create_user(user.email)
    client = browser()
    client.headers["X-Forwarded-For"] = address()
    callback = authorize(oidc, client, user.email)  # spends 1 (POST /login)
    for _ in range(BURST - 1):
        assert client.post(live_server.url + "/login", data={"email": user.email}).status_code == 303
    throttled = client.get(callback)
    assert throttled.status_code == 429 and oidc.provider.token_requests == 0
    client.headers["X-Forwarded-For"] = address()
    client.cookies.set("scimgate_oidc_state", parse_qs(urlsplit(callback).query)["state"][0],
                       path=urlsplit(oidc.redirect_uri).path)
    assert client.get(callback).status_code == 303
    assert me(oidc, client).status_code == 200


def test_acs_over_the_budget_gets_429(live_server: LiveServer) -> None:
    """The SAML ACS has a budget of its own (even for a workspace without SAML)."""
    flooding = address()
    url = f"{live_server.url}/sso/saml/no-such-workspace/acs"
    for _ in range(BURST):
        answer = browser().post(url, data={"SAMLResponse": "x"}, headers={"X-Forwarded-For": flooding})
        assert answer.status_code == 403
    answer = browser().post(url, data={"SAMLResponse": "x"}, headers={"X-Forwarded-For": flooding})
    assert answer.status_code == 429 and "retry-after" in answer.headers
