"""``scimgate simulate entra|okta`` against a live scimgate (docs/identity-providers.md §1-§4, §7)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from scimgate.cli import app
from scimgate.services import workspaces
from scimgate.storage.db import transaction
from scimgate.storage.models import Workspace
from tests.support import LiveServer, Tenant, admin_client, free_port, make_tenant, start_server, stop_server


def simulate(server: LiveServer, token: str, tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the CLI; returns (exit code, JSON summary, printed output)."""
    summary_path = tmp_path / "summary.json"
    result = CliRunner().invoke(app, ["simulate", *args, "--url", server.base_url, "--token", token,
                                      "--summary-json", str(summary_path)])
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return result.exit_code, summary, result.output


def entra_tenant(server: LiveServer, *, compat: bool = True) -> Tenant:
    """A tenant with example.com and new.example verified and the Entra compatibility switch set
    (``scimgate workspace entra-compat``: replace through an unmatched value filter creates it)."""
    tenant = make_tenant(server, domains=("example.com", "new.example"))
    with transaction(server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        workspaces.set_entra_replace_creates(session, workspace, compat)
    return tenant


def requests_of(summary: dict[str, Any], kind: str) -> int:
    return next((k["requests"] for k in summary["kinds"] if k["kind"] == kind), 0)


@pytest.mark.parametrize("dialect", ["legacy", "aadOptscim062020"])
def test_entra_run_converges(live_server: LiveServer, tmp_path: Path, dialect: str) -> None:
    """A full Entra run in either dialect gets only expected answers and reads back what it sent (§2-§4)."""
    tenant = entra_tenant(live_server)
    code, summary, output = simulate(live_server, tenant.token, tmp_path, "entra", "--users", "10",
                                     "--groups", "2", "--batch", "3", "--dialect", dialect,
                                     "--new-domain", "new.example")
    assert code == 0, output
    assert summary["failures"] == 0 and summary["failure_groups"] == []
    assert requests_of(summary, "create user") == 10
    assert requests_of(summary, "change domain") == 3
    assert requests_of(summary, "delete user") == 1
    assert requests_of(summary, "incremental: user") == 9
    assert "requests by kind" in output and "req/s" in output


def test_okta_run_converges(live_server: LiveServer, tmp_path: Path) -> None:
    """A full Okta run (paged checks, GET-modify-PUT, pathless deactivate, group push) passes (§7)."""
    tenant = make_tenant(live_server)
    code, summary, output = simulate(live_server, tenant.token, tmp_path, "okta", "--users", "10",
                                     "--groups", "2", "--page-size", "4")
    assert code == 0, output
    assert summary["failures"] == 0
    assert requests_of(summary, "import page") == 3
    assert requests_of(summary, "mixed members") == 2
    assert requests_of(summary, "read back user") == 10


def test_entra_run_without_compat_reports_no_target(live_server: LiveServer, tmp_path: Path) -> None:
    """Without Entra compatibility, value paths that must create their element get 400 noTarget: exit 1."""
    tenant = entra_tenant(live_server, compat=False)
    code, summary, _ = simulate(live_server, tenant.token, tmp_path, "entra", "--users", "3", "--groups", "1")
    assert code == 1
    assert [(g["status"], g["scimType"], g["first_kind"]) for g in summary["failure_groups"]] == [
        ("400", "noTarget", "update user")]


@pytest.mark.parametrize("command", ["entra", "okta"])
def test_sync_off_exits_non_zero(live_server: LiveServer, tmp_path: Path, command: str) -> None:
    """Against a workspace with sync off every call is 403: the run stops at the test connection, exit 1."""
    tenant = make_tenant(live_server, sync=False)
    code, summary, output = simulate(live_server, tenant.token, tmp_path, command,
                                     "--users", "3", "--groups", "1")
    assert code == 1, output
    assert [g["status"] for g in summary["failure_groups"]] == ["403"]
    assert summary["failure_groups"][0]["first_kind"] == "test connection"
    assert requests_of(summary, "create user") == 0


def test_wrong_token_exits_non_zero(live_server: LiveServer, tmp_path: Path) -> None:
    """A bad bearer token gets 401 (docs/identity-providers.md §1): reported with its detail, exit 1."""
    code, summary, _ = simulate(live_server, "sg_not-a-token", tmp_path, "entra",
                                "--users", "2", "--groups", "0")
    assert code == 1
    assert summary["failure_groups"][0]["status"] == "401"


@pytest.fixture(scope="module")
def scim2_server() -> Iterator[str]:
    """scim2-server (PyPI, in-memory reference server) on loopback; yields its SCIM base URL."""
    port = free_port()
    process = subprocess.Popen([str(Path(sys.executable).parent / "scim2-server"), "--port", str(port),
                                "--bearer-token", "reference-token"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v2"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/ServiceProviderConfig", timeout=1).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("scim2-server did not start")
        time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=15)


def run_against(url: str, tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    summary_path = tmp_path / "summary.json"
    result = CliRunner().invoke(app, ["simulate", *args, "--url", url, "--token", "reference-token",
                                      "--summary-json", str(summary_path)])
    return result.exit_code, json.loads(summary_path.read_text())


def test_okta_run_passes_against_another_server(scim2_server: str, tmp_path: Path) -> None:
    """The simulator is a plain SCIM client: the Okta replay passes against scim2-server too (§7)."""
    code, summary = run_against(scim2_server, tmp_path, "okta", "--users", "6", "--groups", "2")
    assert (code, summary["failures"]) == (0, 0)


def test_entra_run_reports_a_server_without_entra_quirks(scim2_server: str, tmp_path: Path) -> None:
    """Entra quirks a strict RFC server rejects are reported by status/scimType, exit 1 (§2.4(e), (g), §3)."""
    # scim2-server: a value-filter path must not create its element (400 noTarget), the manager must be
    # complex (400 invalidValue), the Microsoft group schema URI is unknown (400 invalidSyntax).
    code, summary = run_against(scim2_server, tmp_path, "entra", "--users", "4", "--groups", "1")
    assert code == 1
    groups = {(g["status"], g["scimType"]): g for g in summary["failure_groups"]}
    assert groups[("400", "noTarget")]["first_kind"] == "update user"
    assert "phone" in groups[("400", "noTarget")]["first_detail"]
    assert groups[("400", "invalidValue")]["first_kind"] == "set manager"
    assert groups[("400", "invalidSyntax")]["first_kind"] == "create group"


def test_a_rate_limited_run_waits_out_429s_and_still_converges(backend: str, database_url: str,
                                                               tmp_path: Path) -> None:
    """Against a server whose token budget is smaller than the run (rate limit 3/s, burst 5: small
    enough that a run is throttled however slowly a loaded machine sends it),
    the simulator waits out each 429 for its Retry-After, as Entra does (docs/identity-providers.md §6):
    the 429s are counted as throttled, not as failures, and the run converges."""
    if backend != "sqlite":
        pytest.skip("the limiter's behaviour is the same on both databases; one server is enough")
    server = start_server(database_url, tmp_path / "limited.log", backend,
                          env={"SCIMGATE_RATE_LIMIT_PER_SECOND": "3", "SCIMGATE_RATE_LIMIT_BURST": "5"})
    try:
        tenant = entra_tenant(server)
        code, summary, output = simulate(server, tenant.token, tmp_path, "entra", "--users", "6",
                                         "--groups", "1", "--new-domain", "new.example")
        assert code == 0, output
        assert summary["failures"] == 0
        assert summary["throttled"] > 0
        assert "waited out" in output
    finally:
        stop_server(server)


def test_entra_run_with_sign_in_lands_in_the_same_member(live_server: LiveServer, tmp_path: Path) -> None:
    """--sign-in: each user signs in through the simulator's local IdP after creation and again
    after the domain move (moved users with their new address), landing in the same SCIM id; a
    disabled user is refused. SAML is set up through the admin API (PUT /sso/saml). The domains
    are this test's own: home realm discovery needs a domain verified by one workspace only."""
    connection = run_with_sign_in(live_server, tmp_path)
    assert connection["idp"]["entity_id"].startswith("https://simulate-")


def run_with_sign_in(server: LiveServer, tmp_path: Path, *protocol: str) -> dict[str, Any]:
    """An Entra run with ``--sign-in`` (and ``protocol``'s options) in a fresh workspace of its own
    two domains, asserting that every user signed in, the moved ones again with their new address
    into the same member, and the disabled one was refused; returns ``GET /sso`` of the admin API
    (the connection the simulator set up)."""
    old, new = f"old-{uuid.uuid4().hex[:8]}.example", f"new-{uuid.uuid4().hex[:8]}.example"
    tenant = make_tenant(server, domains=(old, new))
    with transaction(server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        workspaces.set_entra_replace_creates(session, workspace, True)
    api = admin_client(tenant)
    key = api.headers["authorization"].removeprefix("Bearer ")
    code, summary, output = simulate(server, tenant.token, tmp_path, "entra", "--users", "6",
                                     "--groups", "1", "--domain", old, "--new-domain", new, "--sign-in",
                                     *protocol, "--admin-key", key)
    assert code == 0, output
    assert summary["failures"] == 0 and summary["failure_groups"] == []
    assert requests_of(summary, "sign in") == 6
    assert requests_of(summary, "sign in, new domain") == 2
    assert requests_of(summary, "sign in again") == 4
    assert requests_of(summary, "sign in, disabled") == 1
    connection: dict[str, Any] = api.get("/sso").json()
    return connection


def test_sign_in_needs_an_admin_key(live_server: LiveServer, tmp_path: Path) -> None:
    tenant = entra_tenant(live_server)
    code, _, output = simulate(live_server, tenant.token, tmp_path, "entra", "--users", "1", "--sign-in")
    assert code == 2 and "--admin-key" in output


def test_sign_in_with_a_wrong_admin_key_is_reported(live_server: LiveServer, tmp_path: Path) -> None:
    tenant = entra_tenant(live_server)
    code, summary, _ = simulate(live_server, tenant.token, tmp_path, "entra", "--users", "2", "--groups", "0",
                                "--sign-in", "--admin-key", "sg_wrong")
    assert code == 1 and requests_of(summary, "sign in") == 0
    assert any(g["status"] == "401" for g in summary["failure_groups"])
