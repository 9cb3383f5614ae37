"""Refresh tokens count the answers they got within the grace window after their rotation.

``grace_answers`` (0 for every existing token) is what bounds how many times
one rotated-out refresh token is answered (``MCP_OAUTH_REFRESH_TOKEN_GRACE_REUSES``).
Only this project's refresh-token table is touched, so the revision's place
relative to the other ones of the same release does not matter.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "superset_mcp_jwt_oauth_refresh_tokens"
COLUMN = "grace_answers"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column(COLUMN, sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    # Batch mode: SQLite rebuilds the table (its rows and indexes kept); PostgreSQL drops the column.
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column(COLUMN)
