"""The database unit of work every ``scimgate`` command runs in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from scimgate.config import Settings
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.db import make_engine, normalise_url, session_factory, transaction
from scimgate.storage.migrate import is_behind

HINT = ("run `scimgate db upgrade` (or `make serve`) in the project folder, or point SCIMGATE_DATABASE_URL "
        "at the server's database")


def open_database(url: str | None = None) -> Engine:
    """An engine on the configured (or given) database, which must exist and be migrated: a
    command run from another folder would otherwise create an empty ``./var/scimgate.db`` there
    and fail with a traceback. Exits with status 1 and a one-line reason instead."""
    url = url or Settings().database_url
    parsed = make_url(normalise_url(url))
    database = parsed.database or ""
    on_file = parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if on_file and not Path(database).is_file():
        typer.secho(f"No scimgate database at {Path(database).resolve()}: {HINT}.", fg="red", err=True)
        raise typer.Exit(1)
    engine = make_engine(url)
    if is_behind(engine):
        engine.dispose()
        typer.secho(f"The database at {parsed.render_as_string(hide_password=True)} is not migrated: {HINT}.",
                    fg="red", err=True)
        raise typer.Exit(1)
    return engine


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A transaction on the configured database (``SCIMGATE_DATABASE_URL``; see :func:`open_database`).

    A ``WorkspaceError`` (an admin-facing mistake: unknown workspace, duplicate domain, ...)
    rolls back, is printed in red on stderr and exits with status 1.
    """
    engine = open_database()
    try:
        with transaction(session_factory(engine)) as session:
            yield session
    except WorkspaceError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
