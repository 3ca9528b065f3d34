"""``scimgate --help`` reads as prose: no ``<bool>`` type noise, no reStructuredText double
backquotes, each paragraph re-flowed (a docstring's source line breaks are not kept)."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from scimgate.cli import app


def _commands() -> list[list[str]]:
    """Every command path of the ``scimgate`` tree, groups included (``[]`` is the root)."""
    root = typer.main.get_command(app)
    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return found


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p) or "scimgate")
def test_help_has_no_markup_noise(path: list[str]) -> None:
    """Every --help: exit 0, no ``<bool>``, no double backquotes."""
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "``" not in result.output


def test_wrapped_docstring_is_one_paragraph() -> None:
    """A docstring written over two source lines is one line of help at 200 columns."""
    result = CliRunner().invoke(app, ["workspace", "entra-compat", "--help"], terminal_width=200)
    assert ("Entra compatibility (on): a PATCH replace through a value filter matching nothing creates the "
            "element instead of answering 400 noTarget") in result.output
