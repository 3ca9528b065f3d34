"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_event",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("workspace_id", sa.String(length=36), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=True),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("scim_type", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("client", sa.String(length=16), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_workspace_at", ["workspace_id", "at"], unique=False)
        batch_op.create_index(
            "ix_audit_event_workspace_resource", ["workspace_id", "resource_id"], unique=False
        )

    op.create_table(
        "rate_bucket",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_bucket")),
    )
    op.create_table(
        "workspace",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_lower", sa.String(length=200), nullable=False),
        sa.Column("scim_sync_active", sa.Boolean(), nullable=False),
        sa.Column("group_sync_active", sa.Boolean(), nullable=False),
        sa.Column("allow_any_domain", sa.Boolean(), nullable=False),
        sa.Column("audit_retention_days", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace")),
        sa.UniqueConstraint("name_lower", name=op.f("uq_workspace_name_lower")),
    )
    op.create_table(
        "admin_account",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_lower", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_admin_account_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_account")),
        sa.UniqueConstraint(
            "workspace_id", "email_lower", name=op.f("uq_admin_account_workspace_id_email_lower")
        ),
    )
    op.create_table(
        "email_domain",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("challenge", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("verified_by", sa.String(length=16), nullable=True),
        sa.Column("verified_detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_email_domain_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_domain")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_email_domain_workspace_id_name")),
    )
    op.create_table(
        "member",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("user_name", sa.String(length=512), nullable=False),
        sa.Column("user_name_lower", sa.String(length=512), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column("display_name", sa.String(length=512), nullable=True),
        sa.Column("display_name_lower", sa.String(length=512), nullable=True),
        sa.Column("given_name", sa.String(length=512), nullable=True),
        sa.Column("family_name", sa.String(length=512), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_modified", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_member_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member")),
        sa.UniqueConstraint(
            "workspace_id", "user_name_lower", name=op.f("uq_member_workspace_id_user_name_lower")
        ),
    )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index(
            "ix_member_workspace_display_name_lower", ["workspace_id", "display_name_lower"], unique=False
        )
        batch_op.create_index(
            "ix_member_workspace_external_id", ["workspace_id", "external_id"], unique=False
        )
        batch_op.create_index("ix_member_workspace_id_id", ["workspace_id", "id"], unique=False)

    op.create_table(
        "scim_group",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=512), nullable=False),
        sa.Column("display_name_lower", sa.String(length=512), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_modified", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_scim_group_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_group")),
        sa.UniqueConstraint(
            "workspace_id", "display_name_lower", name=op.f("uq_scim_group_workspace_id_display_name_lower")
        ),
    )
    with op.batch_alter_table("scim_group", schema=None) as batch_op:
        batch_op.create_index(
            "ix_scim_group_workspace_external_id", ["workspace_id", "external_id"], unique=False
        )

    op.create_table(
        "scim_token",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_scim_token_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_token")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_scim_token_token_sha256")),
    )
    with op.batch_alter_table("scim_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scim_token_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "agent",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_agent_member_id_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_agent_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent")),
    )
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.create_index("ix_agent_workspace_member", ["workspace_id", "member_id"], unique=False)

    op.create_table(
        "chat",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_chat_member_id_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_chat_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat")),
    )
    with op.batch_alter_table("chat", schema=None) as batch_op:
        batch_op.create_index("ix_chat_workspace_member", ["workspace_id", "member_id"], unique=False)

    op.create_table(
        "group_member",
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("member_type", sa.String(length=8), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["scim_group.id"],
            name=op.f("fk_group_member_group_id_scim_group"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "member_id", name=op.f("pk_group_member")),
    )
    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.create_index("ix_group_member_member_id", ["member_id"], unique=False)

    op.create_table(
        "member_email",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("value_lower", sa.String(length=512), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=True),
        sa.Column("primary", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_member_email_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_email")),
    )
    with op.batch_alter_table("member_email", schema=None) as batch_op:
        batch_op.create_index("ix_member_email_member_id", ["member_id"], unique=False)
        batch_op.create_index(
            "ix_member_email_workspace_value_lower", ["workspace_id", "value_lower"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("member_email", schema=None) as batch_op:
        batch_op.drop_index("ix_member_email_workspace_value_lower")
        batch_op.drop_index("ix_member_email_member_id")

    op.drop_table("member_email")
    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.drop_index("ix_group_member_member_id")

    op.drop_table("group_member")
    with op.batch_alter_table("chat", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_workspace_member")

    op.drop_table("chat")
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_workspace_member")

    op.drop_table("agent")
    with op.batch_alter_table("scim_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scim_token_workspace_id"))

    op.drop_table("scim_token")
    with op.batch_alter_table("scim_group", schema=None) as batch_op:
        batch_op.drop_index("ix_scim_group_workspace_external_id")

    op.drop_table("scim_group")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_index("ix_member_workspace_id_id")
        batch_op.drop_index("ix_member_workspace_external_id")
        batch_op.drop_index("ix_member_workspace_display_name_lower")

    op.drop_table("member")
    op.drop_table("email_domain")
    op.drop_table("admin_account")
    op.drop_table("workspace")
    op.drop_table("rate_bucket")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_workspace_resource")
        batch_op.drop_index("ix_audit_event_workspace_at")

    op.drop_table("audit_event")
