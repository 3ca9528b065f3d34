"""``scimgate simulate entra --sign-in --sign-in-protocol oidc``: each provisioned user signs in
through the simulator's local OpenID Connect provider, and again after the domain move, landing
in the same member id (simulate.sign_in). Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simulate.test_simulate_cli import run_with_sign_in, simulate
from tests.support import LiveServer, make_tenant, start_server, stop_server


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The module's server, allowed to read the simulator's loopback provider over plain http."""
    server = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend,
                          env={"SCIMGATE_OIDC_ALLOW_LOOPBACK_HTTP": "1"})
    yield server
    stop_server(server)


def test_entra_run_with_oidc_sign_in_lands_in_the_same_member(live_server: LiveServer,
                                                              tmp_path: Path) -> None:
    """OIDC is set up through the admin API (PUT /sso/oidc); moved users sign in with their new
    address and land in the same SCIM id; a disabled user is refused at the callback."""
    connection = run_with_sign_in(live_server, tmp_path, "--sign-in-protocol", "oidc")
    assert connection["kind"] == "oidc" and connection["oidc"]["issuer"].startswith("http://127.0.0.1:")
    assert "client_secret" not in str(connection)


def test_unknown_sign_in_protocol_is_refused(live_server: LiveServer, tmp_path: Path) -> None:
    tenant = make_tenant(live_server)
    code, _, output = simulate(live_server, tenant.token, tmp_path, "entra", "--users", "1", "--sign-in",
                               "--sign-in-protocol", "ws-fed", "--admin-key", "sg_x")
    assert code == 2 and "--sign-in-protocol" in output
