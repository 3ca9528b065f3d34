"""Workspace roles and leaving: member role, Recently removed, seat limit, group role mapping

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02

member.role (the role in force) and member.idp_role (the one the SCIM ``roles`` attribute
names); member.removed_at and member.removed_groups (Recently removed, the "keep" deletion
policy); scim_group.role (the role a mapped group gives); workspace.default_role, role_source,
deletion_policy, removal_keep_days and seat_limit. Columns are added in place: a batch
recreate of a table that others reference would cascade deletes on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("workspace", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("default_role", sa.String(16), nullable=False, server_default="member"))
        batch_op.add_column(sa.Column("role_source", sa.String(16), nullable=False, server_default="groups"))
        batch_op.add_column(sa.Column("deletion_policy", sa.String(8), nullable=False, server_default="keep"))
        batch_op.add_column(sa.Column("removal_keep_days", sa.Integer(), nullable=False, server_default="30"))
        batch_op.add_column(sa.Column("seat_limit", sa.Integer(), nullable=True))
    with op.batch_alter_table("member", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="member"))
        batch_op.add_column(sa.Column("idp_role", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("removed_groups", DOCUMENT, nullable=True))
    op.create_index("ix_member_workspace_role", "member", ["workspace_id", "role"])
    op.create_index("ix_member_workspace_removed_at", "member", ["workspace_id", "removed_at"])
    with op.batch_alter_table("scim_group", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(16), nullable=True))
    op.create_index("ix_scim_group_workspace_role", "scim_group", ["workspace_id", "role"])


def downgrade() -> None:
    op.drop_index("ix_scim_group_workspace_role", table_name="scim_group")
    with op.batch_alter_table("scim_group", recreate="never") as batch_op:
        batch_op.drop_column("role")
    op.drop_index("ix_member_workspace_removed_at", table_name="member")
    op.drop_index("ix_member_workspace_role", table_name="member")
    with op.batch_alter_table("member", recreate="never") as batch_op:
        for column in ("removed_groups", "removed_at", "idp_role", "role"):
            batch_op.drop_column(column)
    with op.batch_alter_table("workspace", recreate="never") as batch_op:
        for column in ("seat_limit", "removal_keep_days", "deletion_policy", "role_source", "default_role"):
            batch_op.drop_column(column)
