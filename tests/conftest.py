"""Fixtures: a live server per test module on each database, and a fresh tenant per test."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.dns_server import DnsZone, dns_env, dns_server
from tests.support import (
    LiveServer,
    Tenant,
    create_postgres_database,
    drop_postgres_database,
    make_tenant,
    postgres_available,
    start_server,
    stop_server,
)

REQUIRE_POSTGRES = os.environ.get("SCIMGATE_REQUIRE_POSTGRES") == "1"

# Property tests draw a fixed sequence of examples in `make test` (a run is repeatable and a new
# draw cannot turn an unrelated change red); SCIMGATE_HYPOTHESIS=explore draws at random to hunt.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("explore" if os.environ.get("SCIMGATE_HYPOTHESIS") == "explore" else "repeatable")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each module runs once on SQLite and once on PostgreSQL."""
    if request.param == "postgres" and not postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required (SCIMGATE_REQUIRE_POSTGRES=1) but not reachable")
        pytest.skip("PostgreSQL is not reachable at SCIMGATE_TEST_POSTGRES_URL: PostgreSQL half skipped")
    return str(request.param)


@pytest.fixture(scope="module")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for one module."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'scimgate.db'}"
        return
    url = create_postgres_database()
    yield url
    # DROP DATABASE takes seconds on a busy machine: the next module need not wait for it.
    dropping = threading.Thread(target=drop_postgres_database, args=(url,))
    dropping.start()
    _DROPPING.append(dropping)


_DROPPING: list[threading.Thread] = []


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Every module's PostgreSQL database is dropped before the run ends."""
    for dropping in _DROPPING:
        dropping.join()


@pytest.fixture(scope="module")
def live_server(
    database_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    """A scimgate server process for the module; in a module marked ``dns`` it resolves domain
    verification lookups through the module's test DNS server (``zone``)."""
    env = dns_env(request.getfixturevalue("zone")) if request.node.get_closest_marker("dns") else None
    server = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend, env=env)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def zone() -> Iterator[DnsZone]:
    """A real DNS server on 127.0.0.1 (dnslib) for domain-verification tests."""
    with dns_server() as served:
        yield served


@pytest.fixture
def tenant(live_server: LiveServer) -> Iterator[Tenant]:
    """A fresh workspace with sync on, example.com verified and a SCIM token."""
    created = make_tenant(live_server)
    yield created
    created.client.close()
