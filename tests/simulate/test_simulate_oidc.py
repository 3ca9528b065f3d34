"""``scimgate simulate entra --sign-in --sign-in-protocol oidc``: each provisioned user signs in
through the simulator's local OpenID Connect provider, and again after the domain move, landing
in the same member id (simulate.sign_in). Both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scimgate.services import workspaces
from scimgate.storage.db import transaction
from scimgate.storage.models import Workspace
from tests.simulate.test_simulate_cli import requests_of, simulate
from tests.support import LiveServer, admin_client, make_tenant, start_server, stop_server


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
    old, new = f"old-{uuid.uuid4().hex[:8]}.example", f"new-{uuid.uuid4().hex[:8]}.example"
    tenant = make_tenant(live_server, domains=(old, new))
    with transaction(live_server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        workspaces.set_entra_replace_creates(session, workspace, True)
    api = admin_client(tenant)
    key = api.headers["authorization"].removeprefix("Bearer ")
    code, summary, output = simulate(live_server, tenant.token, tmp_path, "entra", "--users", "6",
                                     "--groups", "1", "--domain", old, "--new-domain", new, "--sign-in",
                                     "--sign-in-protocol", "oidc", "--admin-key", key)
    assert code == 0, output
    assert summary["failures"] == 0 and summary["failure_groups"] == []
    assert requests_of(summary, "sign in") == 6
    assert requests_of(summary, "sign in, new domain") == 2
    assert requests_of(summary, "sign in again") == 4
    assert requests_of(summary, "sign in, disabled") == 1
    connection = api.get("/sso").json()
    assert connection["kind"] == "oidc" and connection["oidc"]["issuer"].startswith("http://127.0.0.1:")
    assert "client_secret" not in str(connection)


def test_unknown_sign_in_protocol_is_refused(live_server: LiveServer, tmp_path: Path) -> None:
    tenant = make_tenant(live_server)
    code, _, output = simulate(live_server, tenant.token, tmp_path, "entra", "--users", "1", "--sign-in",
                               "--sign-in-protocol", "ws-fed", "--admin-key", "sg_x")
    assert code == 2 and "--sign-in-protocol" in output
