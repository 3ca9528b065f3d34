"""PostgreSQL trigram indexes for co/sw/ew filters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

The filter compiler turns ``co``, ``sw`` and ``ew`` (RFC 7644 §3.4.2.2) into
``lower_column LIKE :pattern ESCAPE '\\'`` on the lower-cased twin columns. A B-tree index only
serves a left-anchored LIKE under the C collation; a GIN index with ``gin_trgm_ops`` (pg_trgm,
PostgreSQL docs F.35 "pg_trgm", section "Index Support") serves LIKE with a wildcard at either
end, so those filters do not scan the table. SQLite has no equivalent: there this revision does
nothing (its tables are small enough for the embedded default).

pg_trgm is a "trusted" extension since PostgreSQL 13, so the database owner may create it. The
downgrade drops the indexes and leaves the extension in place (other objects may use it).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TRIGRAM_INDEXES = (
    ("ix_member_user_name_lower_trgm", "member", "user_name_lower"),
    ("ix_member_display_name_lower_trgm", "member", "display_name_lower"),
    ("ix_member_email_value_lower_trgm", "member_email", "value_lower"),
    ("ix_scim_group_display_name_lower_trgm", "scim_group", "display_name_lower"),
)


def _is_postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    if not _is_postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in TRIGRAM_INDEXES:
        op.create_index(name, table, [column], postgresql_using="gin",
                        postgresql_ops={column: "gin_trgm_ops"})


def downgrade() -> None:
    if not _is_postgresql():
        return
    for name, table, _column in TRIGRAM_INDEXES:
        op.drop_index(name, table_name=table)
