"""Clients table: confidential clients, RFC 7592 registration access tokens, the sweep.

Adds to ``superset_mcp_jwt_oauth_clients``: ``token_endpoint_auth_method``
(``none`` for every existing client: all were public), ``client_secret_hash``
and ``registration_token_hash`` (SHA-256 hex; none for existing clients, which
therefore cannot use RFC 7592), and ``sweep_at`` (when the sweep next looks at
the client; 0 for existing clients: looked at on the first registration after
the upgrade). Rows are kept both ways; the downgrade drops the four columns
(and, with them, the secrets of confidential clients: the code before this
revision knew only public clients; such a client comes back public after an
upgrade, its secret refused, and registers again).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLE = "superset_mcp_jwt_oauth_clients"
INDEXED = {"registration_token_hash": True, "sweep_at": False}  # column -> unique


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("token_endpoint_auth_method", sa.String(32), nullable=False,
                                   server_default="none"))
        batch.add_column(sa.Column("client_secret_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("registration_token_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("sweep_at", sa.BigInteger, nullable=False, server_default="0"))
    for column, unique in INDEXED.items():
        op.create_index(f"ix_{TABLE}_{column}", TABLE, [column], unique=unique)


def downgrade() -> None:
    for column in INDEXED:
        op.drop_index(f"ix_{TABLE}_{column}", table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:
        for column in ("sweep_at", "registration_token_hash", "client_secret_hash", "token_endpoint_auth_method"):
            batch.drop_column(column)
