"""OpenID Connect single sign-on: OIDC columns on sso_connection, the oidc_request table

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-02

sso_connection gains the OIDC client (client id, sealed client secret, token endpoint, its
client authentication method, jwks_uri, accepted ID token algorithms); its SAML-only columns
(metadata_xml, certificate_not_after) become nullable, since an OIDC connection has neither.
oidc_request holds each issued authorization request (SHA-256 of state, nonce, PKCE verifier),
single use and short-lived.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OIDC_COLUMNS = (
    ("oidc_client_id", sa.String(length=255)),
    ("oidc_client_secret", sa.Text()),
    ("oidc_token_endpoint", sa.String(length=2048)),
    ("oidc_token_auth_method", sa.String(length=32)),
    ("oidc_jwks_uri", sa.String(length=2048)),
    ("oidc_algorithms", sa.String(length=255)),
)


def upgrade() -> None:
    with op.batch_alter_table("sso_connection", schema=None) as batch_op:
        batch_op.alter_column("metadata_xml", existing_type=sa.Text(), nullable=True)
        batch_op.alter_column("certificate_not_after", existing_type=sa.DateTime(), nullable=True)
        for name, type_ in OIDC_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))

    op.create_table(
        "oidc_request",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.Column("consumed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_oidc_request_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_request")),
    )
    with op.batch_alter_table("oidc_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_request_expires"), ["expires"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_request_expires"))
    op.drop_table("oidc_request")
    op.execute("DELETE FROM sso_connection WHERE kind = 'oidc'")
    with op.batch_alter_table("sso_connection", schema=None) as batch_op:
        for name, _ in reversed(OIDC_COLUMNS):
            batch_op.drop_column(name)
        batch_op.alter_column("certificate_not_after", existing_type=sa.DateTime(), nullable=False)
        batch_op.alter_column("metadata_xml", existing_type=sa.Text(), nullable=False)
