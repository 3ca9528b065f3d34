"""CLI commands that write name the database they wrote to; ``token revoke`` without
``--prefix`` (every token: provisioning stops) asks first or needs ``--yes`` (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from scimgate.cli import app


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``scimgate …`` on a fresh migrated SQLite file in tmp_path with one workspace, Acme."""
    env = {"SCIMGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), env=env, input=input)

    assert invoke("db", "upgrade").exit_code == 0
    assert invoke("workspace", "create", "Acme").exit_code == 0
    return invoke


def _live(run) -> int:  # type: ignore[no-untyped-def]
    return run("token", "list", "Acme").output.count("\tlive")


def test_a_write_names_its_database(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """token create ends with the absolute database it wrote to; a read (list) does not."""
    created = run("token", "create", "Acme")
    assert created.exit_code == 0
    assert f"Database: sqlite:///{(tmp_path / 'cli.db').resolve()}" in created.output
    assert "Database:" not in run("workspace", "list").output


def test_revoke_all_asks_and_no_keeps_the_tokens(run) -> None:  # type: ignore[no-untyped-def]
    """Answering no to 'Revoke all …?' aborts (exit 1) and every token stays live."""
    run("token", "create", "Acme")
    run("token", "create", "Acme")
    answered = run("token", "revoke", "Acme", input="n\n")
    assert answered.exit_code == 1
    assert "Revoke all 2 live SCIM token(s) of Acme?" in answered.output
    assert _live(run) == 2


def test_revoke_all_with_yes_or_a_yes_answer(run) -> None:  # type: ignore[no-untyped-def]
    """``y`` at the question, or --yes without one, revokes every token."""
    run("token", "create", "Acme")
    assert run("token", "revoke", "Acme", input="y\n").exit_code == 0
    assert _live(run) == 0
    run("token", "create", "Acme")
    result = run("token", "revoke", "Acme", "--yes")
    assert result.exit_code == 0 and "Revoked 1 token(s)." in result.output and "?" not in result.output
    assert _live(run) == 0


def test_revoke_one_prefix_does_not_ask(run) -> None:  # type: ignore[no-untyped-def]
    """--prefix revokes that token only, with no question."""
    run("token", "create", "Acme")
    run("token", "create", "Acme")
    prefix = run("token", "list", "Acme").output.split("…")[0]
    result = run("token", "revoke", "Acme", "--prefix", prefix)
    assert result.exit_code == 0 and "?" not in result.output
    assert _live(run) == 1
