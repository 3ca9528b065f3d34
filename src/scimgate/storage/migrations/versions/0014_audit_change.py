"""audit_event.change: what a SCIM write changed; an index for the per-client health aggregates

Revision ID: 0014
Revises: 0008
Create Date: 2026-12-02

``change`` holds the facts the provisioning log's sentences are made of (services.changes): the
kind of change, the resource's display name, before/after values of non-secret attributes and
the member counts of a group change. ``ix_audit_event_workspace_client_at_status`` serves the
health card (services.health): the last request per client and the 24-hour counts read from the
index alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0008"
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


def downgrade() -> None:
    with op.batch_alter_table("audit_event", recreate="never") as batch_op:
        batch_op.drop_index("ix_audit_event_workspace_client_at_status")
        batch_op.drop_column("change")
