"""audit_event.change: what a SCIM write changed; an index for the per-client health aggregates;
setup_link: the links an admin sends to an IT colleague for the guided setup; alert_sent: one
row per alert condition and period (scimgate.alerts)

Revision ID: 0014
Revises: 0008
Create Date: 2026-12-02

``change`` holds the facts the provisioning log's sentences are made of (services.changes): the
kind of change, the resource's display name, before/after values of non-secret attributes and
the member counts of a group change. ``ix_audit_event_workspace_client_at_status`` serves the
health card (services.health): the last request per client and the 24-hour counts read from the
index alone. ``setup_link`` holds the SHA-256 of each link's secret, never the secret
(services.setup_links).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", recreate="never") as batch_op:
        batch_op.add_column(sa.Column(
            "change", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ))
        batch_op.create_index("ix_audit_event_workspace_client_at_status",
                              ["workspace_id", "client", "at", "status"], unique=False)
    op.create_table(
        "setup_link",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("idp", sa.String(length=16), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"],
                                name=op.f("fk_setup_link_workspace_id_workspace"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setup_link")),
    )
    op.create_index("ix_setup_link_workspace_expires_at", "setup_link", ["workspace_id", "expires_at"])
    op.create_table(
        "alert_sent",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("condition", sa.String(length=128), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"],
                                name=op.f("fk_alert_sent_workspace_id_workspace"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_sent")),
        sa.UniqueConstraint("workspace_id", "condition", "period",
                            name=op.f("uq_alert_sent_workspace_id_condition_period")),
    )


def downgrade() -> None:
    op.drop_table("alert_sent")
    op.drop_index("ix_setup_link_workspace_expires_at", table_name="setup_link")
    op.drop_table("setup_link")
    with op.batch_alter_table("audit_event", recreate="never") as batch_op:
        batch_op.drop_index("ix_audit_event_workspace_client_at_status")
        batch_op.drop_column("change")
