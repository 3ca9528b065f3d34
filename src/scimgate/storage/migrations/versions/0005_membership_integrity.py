"""group_member points at something, enforced by the database

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``group_member`` gains ``user_id`` (foreign key to ``member``) and ``nested_group_id`` (foreign
key to ``scim_group``), both ``ON DELETE CASCADE``, and a check that the one of them the row's
``member_type`` names equals ``member_id``: a membership row can no longer outlive the user or
group it names (issue 13: a DELETE racing a PATCH on PostgreSQL left such rows). The table is
rebuilt (SQLite cannot add a foreign key otherwise) by copying its rows aside into a plain table
and back; rows that already name nothing are dropped on the way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEPT = "group_member_0005_copy"
COLUMNS = "group_id, member_id, workspace_id, member_type, created"
REFERENCE = (
    "(member_type = 'User' AND user_id = member_id AND nested_group_id IS NULL)"
    " OR (member_type = 'Group' AND nested_group_id = member_id AND user_id IS NULL)"
)


def _keep_memberships() -> None:
    """Copy the membership rows into a plain table and drop ``group_member`` (its indexes go with it)."""
    op.execute(f"CREATE TABLE {KEPT} AS SELECT {COLUMNS} FROM group_member")
    op.drop_table("group_member")


def _group_member(*extra: sa.schema.SchemaItem) -> None:
    op.create_table(
        "group_member",
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        *extra,
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("member_type", sa.String(length=8), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["scim_group.id"],
                                name=op.f("fk_group_member_group_id_scim_group"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "member_id", name=op.f("pk_group_member")),
    )
    op.create_index("ix_group_member_member_id", "group_member", ["member_id"], unique=False)


def upgrade() -> None:
    _keep_memberships()
    _group_member(
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("nested_group_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["member.id"], name=op.f("fk_group_member_user_id_member"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["nested_group_id"], ["scim_group.id"],
                                name=op.f("fk_group_member_nested_group_id_scim_group"), ondelete="CASCADE"),
        sa.CheckConstraint(REFERENCE, name=op.f("ck_group_member_member_reference")),
    )
    op.create_index("ix_group_member_user_id", "group_member", ["user_id"], unique=False)
    op.create_index("ix_group_member_nested_group_id", "group_member", ["nested_group_id"], unique=False)
    op.execute(
        f"INSERT INTO group_member ({COLUMNS}, user_id, nested_group_id) "
        f"SELECT {COLUMNS}, CASE WHEN member_type = 'User' THEN member_id END, "
        f"CASE WHEN member_type = 'Group' THEN member_id END FROM {KEPT} AS kept "
        "WHERE (member_type = 'User' AND EXISTS (SELECT 1 FROM member WHERE member.id = kept.member_id)) "
        "OR (member_type = 'Group' AND EXISTS "
        "(SELECT 1 FROM scim_group WHERE scim_group.id = kept.member_id))"
    )
    op.drop_table(KEPT)


def downgrade() -> None:
    _keep_memberships()
    _group_member()
    op.execute(f"INSERT INTO group_member ({COLUMNS}) SELECT {COLUMNS} FROM {KEPT}")
    op.drop_table(KEPT)

