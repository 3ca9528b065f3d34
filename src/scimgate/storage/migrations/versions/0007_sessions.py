"""session: server-side, revocable sign-in sessions of admins and members

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-02

Rows are keyed by the SHA-256 of the cookie's token (the token is never stored); an index on
(workspace_id, subject_kind, subject_id) serves "end every session of this admin/member", one on
expires_at the purge of dead rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"],
                                name=op.f("fk_session_workspace_id_workspace"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session")),
    )
    op.create_index("ix_session_workspace_subject", "session", ["workspace_id", "subject_kind", "subject_id"])
    op.create_index("ix_session_expires_at", "session", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_session_expires_at", table_name="session")
    op.drop_index("ix_session_workspace_subject", table_name="session")
    op.drop_table("session")
