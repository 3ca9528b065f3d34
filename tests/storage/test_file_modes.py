"""The SQLite database is owner-only like the secret key beside it (storage.db.create_private_file):
the file and the ``-wal``, ``-shm`` and ``-writer.lock`` files SQLite and scimgate make beside it
are created 0600, whatever the process umask allows. (PostgreSQL keeps no file of ours.)"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from scimgate.services import workspaces
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, session_factory, transaction


def test_sqlite_database_and_its_side_files_are_created_0600(tmp_path: Path) -> None:
    """Under a permissive umask (022) every file of a new database is mode 0600."""
    database = tmp_path / "var" / "scimgate.db"
    old = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{database}")
        migrate.upgrade(engine)
        with transaction(session_factory(engine)) as session:
            workspaces.create_workspace(session, "Modes")
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm"), Path(f"{database}-writer.lock")]
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in files}
        engine.dispose()
    finally:
        os.umask(old)
    assert modes == {path.name: 0o600 for path in files}


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    """A database file the operator made keeps the mode they gave it (no chmod behind their back)."""
    database = tmp_path / "scimgate.db"
    database.touch(mode=0o640)
    database.chmod(0o640)
    make_engine(f"sqlite:///{database}").dispose()
    assert stat.S_IMODE(database.stat().st_mode) == 0o640
