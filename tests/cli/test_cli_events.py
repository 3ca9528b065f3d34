"""``scimgate webhook`` and ``scimgate events`` on a SQLite file: add (SSRF rules unless
SCIMGATE_WEBHOOK_ALLOW_PRIVATE), list, rotate-secret, redeliver, remove; tail and purge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from scimgate.cli import app


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``scimgate …`` on a fresh database with workspace Acme (SCIM sync on: one event)."""
    base = {"SCIMGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}

    def invoke(*args: str, private: bool = False) -> Result:
        env = {**base, "SCIMGATE_WEBHOOK_ALLOW_PRIVATE": "true" if private else "false"}
        return CliRunner().invoke(app, list(args), env=env)

    assert invoke("db", "upgrade").exit_code == 0
    assert invoke("workspace", "create", "Acme").exit_code == 0
    assert invoke("workspace", "sync", "Acme", "on").exit_code == 0
    return invoke


def test_webhook_lifecycle(run) -> None:  # type: ignore[no-untyped-def]
    refused = run("webhook", "add", "http://127.0.0.1:9/hook", "--workspace", "Acme")
    assert refused.exit_code == 1 and "https://" in refused.output
    refused = run("webhook", "add", "https://127.0.0.1:9/hook", "--workspace", "Acme")
    assert refused.exit_code == 1 and "non-public" in refused.output
    added = run("webhook", "add", "http://127.0.0.1:9/hook", "--workspace", "Acme",
                "--type", "member.created", private=True)
    assert added.exit_code == 0, added.output
    secret = next(line for line in added.output.splitlines() if line.startswith("whsec_"))
    endpoint_id = added.output.split("Added webhook endpoint ")[1].split(".")[0]
    listed = run("webhook", "list", "--workspace", "Acme")
    expected = f"{endpoint_id}\thttp://127.0.0.1:9/hook\ttypes=member.created\tenabled\tpending=0"
    assert expected in listed.output
    assert secret not in listed.output
    rotated = run("webhook", "rotate-secret", endpoint_id[:8], "--workspace", "Acme")
    assert rotated.exit_code == 0 and "whsec_" in rotated.output and secret not in rotated.output
    bad = run("webhook", "add", "http://127.0.0.1:9/", "--workspace", "Acme", "--type", "nope", private=True)
    assert bad.exit_code == 1 and "Unknown event type" in bad.output
    assert run("webhook", "redeliver", "--workspace", "Acme").exit_code == 1
    queued = run("webhook", "redeliver", "--workspace", "Acme", "--since", "2000-01-01T00:00:00Z")
    assert queued.exit_code == 0 and "Queued 0 delivery(ies)." in queued.output  # no member.created yet
    assert run("webhook", "remove", endpoint_id, "--workspace", "Acme").exit_code == 0
    assert endpoint_id not in run("webhook", "list", "--workspace", "Acme").output


def test_tail_and_purge(run) -> None:  # type: ignore[no-untyped-def]
    tailed = run("events", "tail", "Acme", "--all", "--no-follow")
    assert tailed.exit_code == 0, tailed.output
    [line] = tailed.output.splitlines()
    event = json.loads(line)
    assert event["type"] == "workspace.sync_changed" and event["actor"]["type"] == "system"
    assert run("events", "tail", "Acme", "--no-follow").output == ""  # from now on: nothing yet
    purged = run("events", "purge")
    assert purged.exit_code == 0 and "Deleted 0 event(s) older than 30 days." in purged.output
