"""Fixtures of the storage tests: an engine on the module's migrated database (both backends)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from scimgate.storage import migrate
from scimgate.storage.db import make_engine


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on ``database_url`` (tests/conftest.py: SQLite and PostgreSQL), migrated."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
