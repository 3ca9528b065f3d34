"""workspace.entra_replace_creates: the explicit Entra compatibility switch for PATCH replace

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

RFC 7644 §3.5.2.3: a ``replace`` whose value filter matches nothing is 400 ``noTarget``. Entra
relies on the element being created instead (docs/identity-providers.md §2.4 e); a workspace admin opts in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspace", recreate="never") as batch_op:  # a recreate cascades deletes
        batch_op.add_column(
            sa.Column("entra_replace_creates", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("workspace", recreate="never") as batch_op:  # a recreate cascades deletes
        batch_op.drop_column("entra_replace_creates")
