"""The database unit of work every ``scimgate`` command runs in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session

from scimgate.config import Settings
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.db import make_engine, session_factory, transaction


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A transaction on the configured database (``SCIMGATE_DATABASE_URL``).

    A ``WorkspaceError`` (an admin-facing mistake: unknown workspace, duplicate domain, ...)
    rolls back, is printed in red on stderr and exits with status 1.
    """
    engine = make_engine(Settings().database_url)
    try:
        with transaction(session_factory(engine)) as session:
            yield session
    except WorkspaceError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
