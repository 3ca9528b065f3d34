"""The layering rule of ARCHITECTURE.md holds: each layer imports only the ones below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "scimgate"

# layer -> the scimgate layers it must never import
FORBIDDEN = {
    "scim": {"services", "storage", "http", "admin", "cli", "app", "simulate"},
    "storage": {"services", "http", "admin", "cli", "app", "simulate"},
    "services": {"http", "admin", "cli", "app", "simulate"},
    "simulate": {"services", "storage", "http", "admin", "app", "scim"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name == "scimgate" or name.startswith("scimgate.")}


def _layer_files() -> list[tuple[str, Path]]:
    return [(layer, path) for layer in FORBIDDEN for path in sorted((PACKAGE / layer).rglob("*.py"))]


@pytest.mark.parametrize(("layer", "path"), _layer_files(), ids=lambda v: str(v).rsplit("scimgate/", 1)[-1])
def test_layer_imports_only_downward(layer: str, path: Path) -> None:
    """A module of ``layer`` imports no scimgate module of a layer above it (ARCHITECTURE.md)."""
    bad = {name for name in _imports(path) if name.split(".")[1:2] and name.split(".")[1] in FORBIDDEN[layer]}
    assert not bad, f"{path.name} ({layer}) imports {sorted(bad)}"
