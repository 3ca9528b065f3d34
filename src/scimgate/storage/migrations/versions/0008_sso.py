"""SAML single sign-on: connections, subject bindings, issued requests, the assertion replay cache

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

sso_connection holds a workspace's IdP metadata and switches; sso_binding binds an IdP subject
to a member (unique per subject and per member); sso_request the AuthnRequest IDs issued (single
use); sso_assertion_seen the assertion IDs accepted, shared by every worker.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sso_assertion_seen",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("assertion_id", sa.String(length=256), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_sso_assertion_seen_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "assertion_id", name=op.f("pk_sso_assertion_seen")),
    )
    with op.batch_alter_table("sso_assertion_seen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_assertion_seen_expires"), ["expires"], unique=False)

    op.create_table(
        "sso_connection",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("idp_entity_id", sa.String(length=1024), nullable=False),
        sa.Column("idp_sso_url", sa.String(length=2048), nullable=False),
        sa.Column("metadata_xml", sa.Text(), nullable=False),
        sa.Column("certificate_not_after", sa.DateTime(), nullable=False),
        sa.Column("lookup", sa.String(length=16), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("allow_idp_initiated", sa.Boolean(), nullable=False),
        sa.Column("skew_seconds", sa.Integer(), nullable=False),
        sa.Column("tested_at", sa.DateTime(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_sso_connection_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_connection")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_sso_connection_workspace_id")),
    )
    op.create_table(
        "sso_request",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.Column("consumed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_sso_request_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_request")),
    )
    with op.batch_alter_table("sso_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_request_expires"), ["expires"], unique=False)

    op.create_table(
        "sso_binding",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.String(length=1024), nullable=False),
        sa.Column("stable", sa.Boolean(), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_sign_in", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sso_connection.id"],
            name=op.f("fk_sso_binding_connection_id_sso_connection"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_sso_binding_member_id_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_sso_binding_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_binding")),
        sa.UniqueConstraint("workspace_id", "member_id", name=op.f("uq_sso_binding_workspace_id_member_id")),
        sa.UniqueConstraint("workspace_id", "subject", name=op.f("uq_sso_binding_workspace_id_subject")),
    )


def downgrade() -> None:
    op.drop_table("sso_binding")
    with op.batch_alter_table("sso_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_request_expires"))

    op.drop_table("sso_request")
    op.drop_table("sso_connection")
    with op.batch_alter_table("sso_assertion_seen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_assertion_seen_expires"))

    op.drop_table("sso_assertion_seen")
