"""Rename release 0.1.0's ``mcp_oauth_*`` tables to ``superset_mcp_jwt_oauth_*``, rows kept.

Superset's own MCP OAuth work creates ``mcp_oauth_clients`` and
``mcp_oauth_refresh_tokens``; the day a Superset release does, ``superset db
upgrade`` must find neither our tables nor our index and key names there. The
tables are renamed in place (every client, family, code and token stays), and so
are their indexes and, on PostgreSQL, their primary-key constraints.

A database that got 0001 from this release already has the new names: nothing
to do. Which case applies is told by our new tables being there, never by the
old names (which may one day be Superset's own tables).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("clients", "families", "codes", "refresh_tokens", "access_tokens")
#: The indexed columns of each table (``ix_<table>_<column>``).
INDEXES = {
    "families": ("client_key", "username"),
    "codes": ("client_key", "username", "expires_at"),
    "refresh_tokens": ("family_id", "expires_at"),
    "access_tokens": ("family_id", "expires_at"),
}


def table(name: str, legacy: bool = False) -> str:
    """``name``'s table: this project's prefix, or release 0.1.0's ``mcp_oauth_``."""
    return ("mcp_oauth_" if legacy else "superset_mcp_jwt_oauth_") + name


def upgrade() -> None:
    if table("clients") in sa.inspect(op.get_bind()).get_table_names():
        return  # created under today's names by 0001
    _rename(from_legacy=True)


def downgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    taken = [table(name, legacy=True) for name in TABLES if table(name, legacy=True) in present]
    if taken:
        raise RuntimeError(
            f"cannot downgrade below 0002: the table(s) {', '.join(taken)} exist, and are not "
            "superset-mcp-jwt's (Superset's own MCP OAuth tables?); the 0.1.0 names are taken"
        )
    _rename(from_legacy=False)


def _rename(from_legacy: bool) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in TABLES:
        old, new = table(name, legacy=from_legacy), table(name, legacy=not from_legacy)
        for column in INDEXES.get(name, ()):
            op.drop_index(f"ix_{old}_{column}", table_name=old)
        op.rename_table(old, new)
        if postgresql:
            op.execute(f'ALTER TABLE "{new}" RENAME CONSTRAINT "{old}_pkey" TO "{new}_pkey"')
        for column in INDEXES.get(name, ()):
            op.create_index(f"ix_{new}_{column}", new, [column])
