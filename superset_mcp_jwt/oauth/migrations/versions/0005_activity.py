"""The MCP activity table: one row per MCP tool call, and the indexes the activity view reads.

A table of this project's own (``superset_mcp_jwt_activity``): Superset's
``logs`` table is never altered, so ``superset db upgrade`` has nothing to
fight. Each index starts with the column a filter of the view names and ends
with the time, so every query is a range scan of one index: the time range
alone (with the outcome, for the time chart), one user, one client, one tool.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "superset_mcp_jwt_activity"
INDEXES = {
    "started_at_outcome": ("started_at", "outcome"),
    "user_id_started_at": ("user_id", "started_at"),
    "client_key_started_at": ("client_key", "started_at"),
    "tool_started_at": ("tool", "started_at"),
}


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("client_key", sa.String(64), nullable=True),
        sa.Column("client_id", sa.String(2048), nullable=True),
        sa.Column("client_name", sa.String(255), nullable=True),
        sa.Column("jti", sa.String(255), nullable=True),
        sa.Column("scopes", sa.String(1024), nullable=False),
        sa.Column("tool", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),
        sa.Column("user_agent", sa.String(255), nullable=True),
    )
    for name, columns in INDEXES.items():
        op.create_index(f"ix_{TABLE}_{name}", TABLE, list(columns))


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(f"ix_{TABLE}_{name}", table_name=TABLE)
    op.drop_table(TABLE)
