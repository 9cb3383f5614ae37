"""Alembic migrations of the OAuth tables, with their own version table, run from code.

``superset mcp-jwt db upgrade`` calls :func:`upgrade`; it works from an
installed wheel (the script location is this package's directory) and is
idempotent. Superset's own ``superset db upgrade`` never touches these tables.
"""

from __future__ import annotations

import os

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

VERSION_TABLE = "superset_mcp_jwt_alembic_version"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", os.path.dirname(os.path.abspath(__file__)))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the OAuth tables in ``engine``'s database."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the OAuth tables back to ``revision`` (``"base"``: none), for a package rollback."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first upgrade)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def head_revision() -> str | None:
    """The newest revision this package ships."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def revisions() -> list[str]:
    """Every revision this package ships, oldest first."""
    return [script.revision for script in reversed(list(ScriptDirectory.from_config(_config()).walk_revisions()))]
