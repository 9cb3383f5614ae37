"""Alembic environment: runs on the connection handed over in ``config.attributes``."""

from alembic import context

from superset_mcp_jwt.oauth.migrations import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
