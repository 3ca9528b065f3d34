"""Settings: the admin session key is never a built-in default."""

from __future__ import annotations

import stat
from pathlib import Path

from scimgate.config import Settings, resolve_secret_key


def test_secret_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    """Without SCIMGATE_SECRET_KEY a random key is made, stored 0600, and reused by every process."""
    settings = Settings(secret_key="", secret_key_file=str(tmp_path / "var" / "secret_key"))
    first = resolve_secret_key(settings)
    assert len(first) >= 32
    assert resolve_secret_key(settings) == first
    mode = stat.S_IMODE((tmp_path / "var" / "secret_key").stat().st_mode)
    assert mode == 0o600
    other = Settings(secret_key="", secret_key_file=str(tmp_path / "elsewhere"))
    assert resolve_secret_key(other) != first


def test_configured_secret_key_wins(tmp_path: Path) -> None:
    """SCIMGATE_SECRET_KEY is used as given and no file is written."""
    settings = Settings(secret_key="k" * 40, secret_key_file=str(tmp_path / "secret_key"))
    assert resolve_secret_key(settings) == "k" * 40
    assert not (tmp_path / "secret_key").exists()
