"""The OAuth authorization server's tables: clients, codes, families, refresh and access tokens.

Release 0.1.0 created them as ``mcp_oauth_*``; since revision 0002 a fresh
database gets this project's names at once (``superset_mcp_jwt_oauth_*``), so
it never touches a table of Superset's own MCP OAuth work. A database that
reached 0001 under 0.1.0 keeps its old names until 0002 renames them.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ("clients", "families", "codes", "refresh_tokens", "access_tokens")


def table(name: str, legacy: bool = False) -> str:
    """``name``'s table: this project's prefix, or release 0.1.0's ``mcp_oauth_``."""
    return ("mcp_oauth_" if legacy else "superset_mcp_jwt_oauth_") + name


def upgrade() -> None:
    op.create_table(
        table("clients"),
        sa.Column("client_key", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(2048), nullable=False),
        sa.Column("client_name", sa.String(255), nullable=False),
        sa.Column("redirect_uris", sa.Text, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        table("families"),
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
        table("codes"),
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
        table("refresh_tokens"),
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("family_id", sa.String(32), nullable=False, index=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
        sa.Column("used_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        table("access_tokens"),
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("family_id", sa.String(32), nullable=False, index=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
    )


def downgrade() -> None:
    # Today's names, or 0.1.0's after a downgrade from 0002 put them back.
    present = set(sa.inspect(op.get_bind()).get_table_names())
    legacy = table("clients") not in present
    for name in reversed(TABLES):
        op.drop_table(table(name, legacy=legacy))
