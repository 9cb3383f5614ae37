"""The OAuth authorization server's tables: clients, codes, families, refresh and access tokens.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mcp_oauth_clients",
        sa.Column("client_key", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(2048), nullable=False),
        sa.Column("client_name", sa.String(255), nullable=False),
        sa.Column("redirect_uris", sa.Text, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "mcp_oauth_families",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("client_key", sa.String(64), nullable=False, index=True),
        sa.Column("client_id", sa.String(2048), nullable=False),
        sa.Column("client_name", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False, index=True),
        sa.Column("scope", sa.String(255), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "mcp_oauth_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("client_key", sa.String(64), nullable=False, index=True),
        sa.Column("client_id", sa.String(2048), nullable=False),
        sa.Column("username", sa.String(255), nullable=False, index=True),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("scope", sa.String(255), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("code_challenge_method", sa.String(10), nullable=False),
        sa.Column("resource", sa.String(2048), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
        sa.Column("used_at", sa.BigInteger, nullable=True),
        sa.Column("family_id", sa.String(32), nullable=True),
    )
    op.create_table(
        "mcp_oauth_refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("family_id", sa.String(32), nullable=False, index=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
        sa.Column("used_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "mcp_oauth_access_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("family_id", sa.String(32), nullable=False, index=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
    )


def downgrade() -> None:
    for table in (
        "mcp_oauth_access_tokens", "mcp_oauth_refresh_tokens", "mcp_oauth_codes",
        "mcp_oauth_families", "mcp_oauth_clients",
    ):
        op.drop_table(table)
