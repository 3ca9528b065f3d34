"""indexes for sorted paging and meta date filters

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

RFC 7644 §3.4.2.3/§3.4.2.4: a sorted list orders by the sort key and then by ``id`` (so pages are
stable), and reads one page at an offset. An index ending with ``id`` gives that whole order:

- ``member (workspace_id, user_name_lower, id)``: ``sortBy=userName`` (the usual sort) is read in
  index order, and the page's ids come from an index-only scan (the list query selects the
  page's ids first, then the rows), instead of a sort of the whole workspace;
- ``member (workspace_id, created, id)`` and ``(workspace_id, last_modified, id)``:
  ``sortBy=meta.created``/``meta.lastModified`` and the ``meta.lastModified gt "..."`` filters of
  incremental imports.

Plain B-tree indexes, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_member_workspace_user_name_lower_id", ["workspace_id", "user_name_lower", "id"]),
    ("ix_member_workspace_created_id", ["workspace_id", "created", "id"]),
    ("ix_member_workspace_last_modified_id", ["workspace_id", "last_modified", "id"]),
)


def upgrade() -> None:
    for name, columns in INDEXES:
        op.create_index(name, "member", columns)


def downgrade() -> None:
    for name, _columns in INDEXES:
        op.drop_index(name, table_name="member")
