"""``scimgate simulate entra|okta`` against a live scimgate (research notes §1-§4, §7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scimgate.cli import app
from tests.support import LiveServer, make_tenant


def simulate(server: LiveServer, token: str, tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the CLI; returns (exit code, JSON summary, printed output)."""
    summary_path = tmp_path / "summary.json"
    result = CliRunner().invoke(app, ["simulate", *args, "--url", server.base_url, "--token", token,
                                      "--summary-json", str(summary_path)])
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return result.exit_code, summary, result.output


def requests_of(summary: dict[str, Any], kind: str) -> int:
    return next((k["requests"] for k in summary["kinds"] if k["kind"] == kind), 0)


@pytest.mark.parametrize("dialect", ["legacy", "aadOptscim062020"])
def test_entra_run_converges(live_server: LiveServer, tmp_path: Path, dialect: str) -> None:
    """A full Entra run in either dialect gets only expected answers and reads back what it sent (§2-§4)."""
    tenant = make_tenant(live_server, domains=("example.com", "new.example"))
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
    """A bad bearer token gets 401 (research §1): reported with its detail, exit 1."""
    code, summary, _ = simulate(live_server, "sg_not-a-token", tmp_path, "entra",
                                "--users", "2", "--groups", "0")
    assert code == 1
    assert summary["failure_groups"][0]["status"] == "401"
