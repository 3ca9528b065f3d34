"""Every ``scimgate`` command that needs the database refuses a missing or un-migrated one with
one line naming it, and leaves no file behind (an operator running a command from the wrong
folder used to get a traceback and a stray empty ``./var/scimgate.db``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scimgate.cli import app
from scimgate.storage.db import make_engine

COMMANDS = [["workspace", "list"], ["token", "list", "Default"], ["token", "create", "Default"],
            ["domain", "list", "--workspace", "Default"], ["audit", "prune"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_missing_database_is_one_line_and_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          command: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, command, env={"SCIMGATE_DATABASE_URL": "sqlite:///./var/scimgate.db"})
    assert result.exit_code == 1, result.output
    assert "No scimgate database at" in result.output and str(tmp_path) in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", COMMANDS[:2], ids=" ".join)
def test_unmigrated_database_says_which_command_to_run(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "empty.db"
    make_engine(f"sqlite:///{path}").connect().close()  # an empty SQLite file: no tables
    result = CliRunner().invoke(app, command, env={"SCIMGATE_DATABASE_URL": f"sqlite:///{path}"})
    assert result.exit_code == 1, result.output
    assert "is not migrated" in result.output and "scimgate db upgrade" in result.output
