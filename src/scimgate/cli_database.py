"""The database unit of work every ``scimgate`` command runs in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from scimgate.config import Settings
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.db import make_engine, normalise_url, session_factory, transaction
from scimgate.storage.migrate import is_behind

HINT = ("run `scimgate db upgrade` (or `make serve`) in the project folder, or point SCIMGATE_DATABASE_URL "
        "at the server's database")


WRITES = ("INSERT", "UPDATE", "DELETE")


def database_name(url: str) -> str:
    """How a command names the database it used: the absolute file of a SQLite URL, the URL
    without its password otherwise (``postgresql+psycopg://scimgate@db/scimgate``)."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return f"sqlite:///{Path(parsed.database or '').resolve()}"
    return parsed.render_as_string(hide_password=True)


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
    rolls back, is printed in red on stderr and exits with status 1. A transaction that wrote
    (INSERT, UPDATE or DELETE) ends with ``Database: <name>`` on stderr, so an operator whose
    server runs on another database than the shell's sees where the change went.
    """
    url = Settings().database_url
    engine = open_database(url)
    wrote: list[str] = []

    def _note_write(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith(WRITES):
            wrote.append(statement)

    event.listen(engine, "before_cursor_execute", _note_write)
    try:
        with transaction(session_factory(engine)) as session:
            yield session
        if wrote:
            typer.echo(f"Database: {database_name(url)}", err=True)
    except WorkspaceError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
