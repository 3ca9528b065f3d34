"""Migrations run both ways on SQLite and PostgreSQL; trigram indexes serve co/sw/ew (issue 3 §1)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, insert, inspect, select, text

from scimgate.scim.params import parse_list_query
from scimgate.scim.schema import user_schema
from scimgate.services.resources import compile_where
from scimgate.storage import migrate
from scimgate.storage.db import make_engine
from scimgate.storage.mapping import USER_MAPPING
from scimgate.storage.models import Member, Workspace, utcnow

TRIGRAM_INDEXES = {
    "ix_member_user_name_lower_trgm",
    "ix_member_display_name_lower_trgm",
    "ix_member_email_value_lower_trgm",
    "ix_scim_group_display_name_lower_trgm",
}


@pytest.fixture(scope="module")
def engine(database_url: str) -> Engine:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _index_names(engine: Engine) -> set[str]:
    inspector = inspect(engine)
    return {ix["name"] for table in inspector.get_table_names() for ix in inspector.get_indexes(table)}


def test_upgrade_downgrade_upgrade(engine: Engine, backend: str) -> None:
    """upgrade head -> downgrade base -> upgrade head leaves the full schema (Alembic, both dialects)."""
    migrate.upgrade(engine)
    assert migrate.is_at_head(engine)
    first = set(inspect(engine).get_table_names())
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert migrate.is_at_head(engine)
    assert set(inspect(engine).get_table_names()) == first
    assert {"member", "member_email", "scim_group", "rate_bucket"} <= first


def test_trigram_indexes_only_on_postgresql(engine: Engine, backend: str) -> None:
    """Revision 0002 adds the GIN trigram indexes on PostgreSQL and nothing on SQLite."""
    migrate.upgrade(engine)
    present = _index_names(engine) & TRIGRAM_INDEXES
    assert present == (TRIGRAM_INDEXES if backend == "postgres" else set())


def test_downgrade_0002_drops_trigram_indexes(engine: Engine, backend: str) -> None:
    """Downgrading to 0001 removes the trigram indexes, upgrading restores them."""
    migrate.upgrade(engine)
    migrate.downgrade(engine, "0001")
    assert _index_names(engine) & TRIGRAM_INDEXES == set()
    migrate.upgrade(engine)
    assert migrate.is_at_head(engine)


@pytest.mark.parametrize("filter_text", [
    'userName co "ser1234"', 'userName sw "user1234"', 'userName ew "1234@example.com"',
    'displayName co "person 1234"', 'emails.value co "r1234@"', 'emails[value ew "1234@example.com"]',
])
def test_substring_filters_use_trigram_index(engine: Engine, backend: str, filter_text: str) -> None:
    """co/sw/ew compile to LIKE ... ESCAPE on lower columns, served by the trigram index (pg_trgm F.35)."""
    if backend != "postgres":
        pytest.skip("trigram indexes are PostgreSQL-only")
    migrate.upgrade(engine)
    workspace_id = _populated_workspace(engine)
    where = compile_where(parse_list_query({"filter": filter_text}), user_schema(), USER_MAPPING)
    assert where is not None
    statement = select(Member.id).where(Member.workspace_id == workspace_id, where)
    compiled = statement.compile(engine)
    assert "ESCAPE" in compiled.string.upper()
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params)
        plan = "\n".join(row[0] for row in rows)
    assert "_trgm" in plan, plan
    assert "Seq Scan on member" not in plan, plan


_POPULATED: dict[str, str] = {}


def _populated_workspace(engine: Engine, rows: int = 20000) -> str:
    """A workspace with ``rows`` members, each with one email (generated once per database), analysed."""
    if str(engine.url) in _POPULATED:
        return _POPULATED[str(engine.url)]
    workspace_id = str(uuid.uuid4())
    with engine.begin() as connection:
        connection.execute(insert(Workspace).values(
            id=workspace_id, name=workspace_id, name_lower=workspace_id, scim_sync_active=True,
            group_sync_active=True, allow_any_domain=True, audit_retention_days=30, created=utcnow()))
        connection.execute(text(
            "INSERT INTO member (id, workspace_id, user_name, user_name_lower, display_name,"
            " display_name_lower, active, version, document, created, last_modified)"
            " SELECT gen_random_uuid()::text, :ws, 'user' || i || '@example.com',"
            " 'user' || i || '@example.com', 'Person ' || i, 'person ' || i, true, 1,"
            " jsonb_build_object('userName', 'user' || i), now(), now()"
            " FROM generate_series(1, :rows) AS i"), {"ws": workspace_id, "rows": rows})
        connection.execute(text(
            "INSERT INTO member_email (workspace_id, member_id, position, value, value_lower, \"primary\")"
            " SELECT workspace_id, id, 0, user_name, user_name_lower, true"
            " FROM member WHERE workspace_id = :ws"),
            {"ws": workspace_id})
        connection.execute(text("ANALYZE member"))
        connection.execute(text("ANALYZE member_email"))
    _POPULATED[str(engine.url)] = workspace_id
    return workspace_id
