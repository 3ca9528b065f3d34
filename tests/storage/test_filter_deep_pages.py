"""Paging past ``DEEP_OFFSET`` (ids first, then rows) gives the same pages as shallow paging.

RFC 7644 §3.4.2.4 (startIndex/count over one stable order), §3.4.2.3 (sortBy, ties by id); on
SQLite and PostgreSQL through the storage layer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert

from scimgate.scim.params import parse_list_query
from scimgate.scim.schema import user_schema
from scimgate.services import workspaces
from scimgate.services.resources import compile_order, compile_where
from scimgate.storage import members, migrate
from scimgate.storage.db import make_engine, session_factory, transaction
from scimgate.storage.mapping import USER_MAPPING
from scimgate.storage.models import Member, utcnow

SIZE = members.DEEP_OFFSET + 150


@pytest.fixture(scope="module")
def filled(database_url: str) -> Iterator[tuple[Engine, str]]:
    """A workspace of SIZE members whose displayNames repeat (ties for sortBy)."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    now = utcnow()
    with transaction(sessions) as session:
        workspace_id = workspaces.create_workspace(session, "deep-" + uuid.uuid4().hex[:8]).id
        rows = [{"id": str(uuid.uuid4()), "workspace_id": workspace_id, "user_name": f"U{n:05}@example.com",
                 "user_name_lower": f"u{n:05}@example.com", "display_name": f"Team {n % 7}",
                 "display_name_lower": f"team {n % 7}", "document": {"userName": f"U{n:05}@example.com"},
                 "active": n % 3 != 0, "version": 1, "created": now, "last_modified": now}
                for n in range(SIZE)]
        session.execute(insert(Member), rows)
    yield engine, workspace_id
    engine.dispose()


def _page(engine: Engine, workspace_id: str, params: dict[str, str], offset: int, limit: int) -> list[str]:
    query = parse_list_query(params)
    with transaction(session_factory(engine)) as session:
        where = compile_where(query, user_schema(), USER_MAPPING, workspace_id=workspace_id)
        order = compile_order(query, user_schema(), USER_MAPPING)
        return [m.id for m in members.query(session, workspace_id, where, order, offset, limit)[1]]


@pytest.mark.parametrize("params", [
    {}, {"sortBy": "userName"}, {"sortBy": "displayName", "sortOrder": "descending"},
    {"sortBy": "displayName", "filter": "active eq true"},
])
def test_deep_pages_continue_the_shallow_order(filled: tuple[Engine, str], params: dict[str, str]) -> None:
    """Pages beyond DEEP_OFFSET are exactly the continuation of one full ordered read (§3.4.2.4)."""
    engine, workspace_id = filled
    everything = _page(engine, workspace_id, params, 0, SIZE)
    deep = members.DEEP_OFFSET
    for offset in (deep - 10, deep, deep + 37):
        assert _page(engine, workspace_id, params, offset, 20) == everything[offset:offset + 20]
