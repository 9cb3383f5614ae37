"""The OAuth tables' migrations on real SQLite files: 0.1.0's names renamed with every row kept.

Superset's own MCP OAuth work creates ``mcp_oauth_clients`` and
``mcp_oauth_refresh_tokens``; release 0.1.0 of this package used those names
(and ``mcp_oauth_*`` for the rest). Revision 0002 moves every table, index and
key to the ``superset_mcp_jwt_oauth_`` prefix. (PostgreSQL and a real
Superset upgrade: tests/superset/test_oauth_e2e.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from superset_mcp_jwt.oauth import migrations
from superset_mcp_jwt.oauth.store import TABLE_PREFIX, TABLES, OAuthStore
from tests.unit.oauth_fixtures import REDIRECT, Clock, make_client

LEGACY = ("mcp_oauth_clients", "mcp_oauth_families", "mcp_oauth_codes", "mcp_oauth_refresh_tokens",
          "mcp_oauth_access_tokens")


def release_0_1_0_schema(engine: sa.engine.Engine) -> None:
    """The tables exactly as release 0.1.0's revision 0001 created them, and its version row."""
    m = sa.MetaData()
    sa.Table("mcp_oauth_clients", m,
             sa.Column("client_key", sa.String(64), primary_key=True),
             sa.Column("client_id", sa.String(2048), nullable=False),
             sa.Column("client_name", sa.String(255), nullable=False),
             sa.Column("redirect_uris", sa.Text, nullable=False),
             sa.Column("kind", sa.String(8), nullable=False),
             sa.Column("created_at", sa.BigInteger, nullable=False),
             sa.Column("expires_at", sa.BigInteger, nullable=True))
    sa.Table("mcp_oauth_families", m,
             sa.Column("id", sa.String(32), primary_key=True),
             sa.Column("client_key", sa.String(64), nullable=False, index=True),
             sa.Column("client_id", sa.String(2048), nullable=False),
             sa.Column("client_name", sa.String(255), nullable=False),
             sa.Column("username", sa.String(255), nullable=False, index=True),
             sa.Column("scope", sa.String(255), nullable=False),
             sa.Column("created_at", sa.BigInteger, nullable=False),
             sa.Column("last_used_at", sa.BigInteger, nullable=True),
             sa.Column("revoked_at", sa.BigInteger, nullable=True))
    sa.Table("mcp_oauth_codes", m,
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
             sa.Column("family_id", sa.String(32), nullable=True))
    sa.Table("mcp_oauth_refresh_tokens", m,
             sa.Column("token_hash", sa.String(64), primary_key=True),
             sa.Column("family_id", sa.String(32), nullable=False, index=True),
             sa.Column("created_at", sa.BigInteger, nullable=False),
             sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
             sa.Column("used_at", sa.BigInteger, nullable=True))
    sa.Table("mcp_oauth_access_tokens", m,
             sa.Column("jti", sa.String(64), primary_key=True),
             sa.Column("family_id", sa.String(32), nullable=False, index=True),
             sa.Column("expires_at", sa.BigInteger, nullable=False, index=True))
    version = sa.Table("superset_mcp_jwt_alembic_version", m,
                       sa.Column("version_num", sa.String(32), primary_key=True))
    m.create_all(engine)
    with engine.begin() as c:
        c.execute(version.insert().values(version_num="0001"))


def schema(engine: sa.engine.Engine) -> dict[str, Any]:
    """Every table with its columns (name, type, nullable) and its index names."""
    inspector = sa.inspect(engine)
    return {
        name: (
            [(col["name"], str(col["type"]), col["nullable"]) for col in inspector.get_columns(name)],
            sorted(index["name"] for index in inspector.get_indexes(name)),
        )
        for name in sorted(inspector.get_table_names())
    }


def sqlite_names(engine: sa.engine.Engine) -> list[str]:
    """Every table and index name in the file (SQLite's own catalogue)."""
    with engine.connect() as c:
        return [row[0] for row in c.execute(sa.text("SELECT name FROM sqlite_master"))]


def connect_alice(store: OAuthStore) -> tuple[str, str]:
    """A client and one connection of alice's through the store: (client_id, refresh token)."""
    store.save_client(make_client())
    store.save_code("code-1", "client-1", "alice", REDIRECT, "mcp:read", "c" * 43, "S256",
                    "https://mcp.example.com/mcp", ttl=60)
    grant = store.redeem_code(store.find_code("code-1"), "Claude Code", 3600, 86400)
    assert grant is not None
    return "client-1", grant.refresh_token


def test_a_fresh_database_gets_only_project_names(tmp_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrations.upgrade(engine)
    names = sqlite_names(engine)
    assert not [name for name in names if "mcp_oauth_" in name and TABLE_PREFIX not in name]
    assert {table.name for table in TABLES} <= set(names)
    # What the migrations build is what the store expects: columns and indexes.
    built = schema(engine)
    for table in TABLES:
        columns, indexes = built[table.name]
        assert [c[0] for c in columns] == [c.name for c in table.columns]
        assert indexes == sorted(index.name for index in table.indexes)


def test_release_0_1_0_tables_are_renamed_and_every_connection_still_works(tmp_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    release_0_1_0_schema(engine)
    before = schema(engine)
    # Rows in 0.1.0's tables: renamed by 0002, written by today's store (at head), taken
    # back to 0.1.0's columns and renamed back by the downgrade to 0001.
    clock = Clock()
    migrations.upgrade(engine)
    client_id, refresh_token = connect_alice(OAuthStore(engine, clock=clock, leeway=0))
    migrations.downgrade(engine, "0001")
    assert schema(engine) == before  # the downgrade restores 0.1.0's schema exactly
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM mcp_oauth_refresh_tokens")).scalar() == 1

    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision()
    assert not [name for name in sqlite_names(engine) if name.startswith(("mcp_oauth_", "ix_mcp_oauth_"))]
    store = OAuthStore(engine, clock=clock, leeway=0)
    assert [c.client_id for c in store.list_clients()] == [client_id]
    record = store.find_refresh_token(refresh_token)
    assert record is not None and record.username == "alice" and not record.family_revoked
    assert store.refresh(record, 3600, 86400).grant is not None  # the same token still refreshes
    assert [c.username for c in store.live_families()] == ["alice"]


def test_upgrade_downgrade_upgrade_keeps_the_rows(tmp_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'cycle.db'}")
    migrations.upgrade(engine)
    client_id, refresh_token = connect_alice(OAuthStore(engine, clock=Clock(), leeway=0))
    for _ in range(2):
        migrations.downgrade(engine, "0001")
        assert set(LEGACY) <= set(sa.inspect(engine).get_table_names())
        migrations.upgrade(engine)
    store = OAuthStore(engine, clock=Clock(), leeway=0)
    assert store.find_refresh_token(refresh_token) is not None
    assert store.get_client(client_id) is not None
    migrations.downgrade(engine, "base")
    assert sa.inspect(engine).get_table_names() == ["superset_mcp_jwt_alembic_version"]


def superset_own_oauth_table(engine: sa.engine.Engine) -> None:
    """A table shaped like Superset's own MCP OAuth work's (superset/mcp_oauth/models.py)."""
    with engine.begin() as c:
        c.execute(sa.text("CREATE TABLE mcp_oauth_clients (id INTEGER PRIMARY KEY, client_id VARCHAR(255), "
                          "client_secret_hash VARCHAR(255), redirect_uris TEXT)"))
        c.execute(sa.text("CREATE INDEX ix_mcp_oauth_clients_client_id ON mcp_oauth_clients (client_id)"))
        c.execute(sa.text("INSERT INTO mcp_oauth_clients VALUES (1, 'theirs', 'h', '[]')"))


def test_supersets_own_tables_are_left_alone(tmp_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'both.db'}")
    superset_own_oauth_table(engine)
    migrations.upgrade(engine)
    store = OAuthStore(engine, clock=Clock(), leeway=0)
    connect_alice(store)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT client_id FROM mcp_oauth_clients")).all() == [("theirs",)]
    # 0.1.0's names are taken: a downgrade says so and changes nothing.
    with pytest.raises(RuntimeError, match="mcp_oauth_clients"):
        migrations.downgrade(engine, "0001")
    assert migrations.current_revision(engine) == migrations.head_revision()
    assert store.get_client("client-1") is not None


def check_revision_0004(engine: sa.engine.Engine) -> None:
    """Rows present: a connection made at 0003 (the revision before it) refreshes at head (its token
    counted from 0, then counted), and a downgrade to 0003 keeps every row and index, without the column."""
    migrations.upgrade(engine, "0003")
    at_0003 = schema(engine)
    clock = Clock()
    _, refresh_token = connect_alice(OAuthStore(engine, clock=clock, leeway=0))
    migrations.upgrade(engine)
    store = OAuthStore(engine, clock=clock, leeway=0)
    record = store.find_refresh_token(refresh_token)
    assert [store.refresh(record, 3600, 86400, 60, 5).kind.value for _ in range(2)] == ["rotated", "grace"]
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT grace_answers FROM superset_mcp_jwt_oauth_refresh_tokens "
                                 "ORDER BY grace_answers DESC")).scalars().all() == [1, 0, 0]
    migrations.downgrade(engine, "0003")
    assert schema(engine) == at_0003
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM superset_mcp_jwt_oauth_refresh_tokens")).scalar() == 3
    migrations.upgrade(engine)
    assert OAuthStore(engine, clock=clock, leeway=0).find_refresh_token(refresh_token) is not None


def test_revision_0004_adds_the_grace_counter_to_existing_tokens_and_takes_it_back(tmp_path: Any) -> None:
    """On SQLite (PostgreSQL: tests/superset/test_oauth_production.py)."""
    check_revision_0004(sa.create_engine(f"sqlite:///{tmp_path / 'grace.db'}"))
