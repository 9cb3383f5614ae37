"""Revision 0003 (clients: auth method, secret and registration-token hashes, sweep time) on SQLite
and PostgreSQL, with rows present: upgrade, downgrade, upgrade again, every row kept.

Rows are written with plain SQL at 0002 (the store always writes today's schema),
then read by today's store at head. PostgreSQL is a database of its own in the
session's throw-away cluster: no Superset process is started.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from superset_mcp_jwt.oauth import migrations
from superset_mcp_jwt.oauth.models import Client, secret_hash
from superset_mcp_jwt.oauth.store import OAuthStore, client_key

CLIENTS = "superset_mcp_jwt_oauth_clients"
NEW_COLUMNS = ["token_endpoint_auth_method", "client_secret_hash", "registration_token_hash", "sweep_at"]
NOW = 1_800_000_000


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[sa.engine.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"m0003_{uuid.uuid4().hex[:8]}")
    engine = sa.create_engine(url, poolclass=NullPool)
    yield engine
    engine.dispose()


def columns(engine: sa.engine.Engine) -> list[str]:
    return [column["name"] for column in sa.inspect(engine).get_columns(CLIENTS)]


def indexes(engine: sa.engine.Engine) -> dict[str, bool]:
    return {index["name"]: bool(index["unique"]) for index in sa.inspect(engine).get_indexes(CLIENTS)}


def seed_at_0002(engine: sa.engine.Engine) -> None:
    """A public client with one live connection, as the code before revision 0003 wrote them."""
    key = client_key("old-client")
    statements = [
        f"INSERT INTO {CLIENTS} (client_key, client_id, client_name, redirect_uris, kind, created_at, expires_at)"
        f" VALUES ('{key}', 'old-client', 'Claude Code', '[\"http://127.0.0.1:9/cb\"]', 'dcr', {NOW}, NULL)",
        "INSERT INTO superset_mcp_jwt_oauth_families (id, client_key, client_id, client_name, username, scope,"
        f" created_at, last_used_at) VALUES ('fam1', '{key}', 'old-client', 'Claude Code', 'alice', 'mcp:read',"
        f" {NOW}, {NOW})",
        "INSERT INTO superset_mcp_jwt_oauth_refresh_tokens (token_hash, family_id, created_at, expires_at)"
        f" VALUES ('{secret_hash('old-refresh')}', 'fam1', {NOW}, {NOW + 86400})",
    ]
    with engine.begin() as c:
        for statement in statements:
            c.execute(sa.text(statement))


def test_0003_upgrade_and_downgrade_keep_every_row(engine: sa.engine.Engine) -> None:
    migrations.upgrade(engine, "0002")
    before = columns(engine)
    seed_at_0002(engine)

    migrations.upgrade(engine, "0003")
    assert columns(engine) == before + NEW_COLUMNS
    assert indexes(engine) == {f"ix_{CLIENTS}_registration_token_hash": True, f"ix_{CLIENTS}_sweep_at": False}
    with engine.connect() as c:
        row = c.execute(sa.text(f"SELECT {', '.join(NEW_COLUMNS)} FROM {CLIENTS}")).one()
    # Every client of 0002 was public; none has a registration token; the sweep looks at it first.
    assert tuple(row) == ("none", None, None, 0)

    migrations.upgrade(engine)
    store = OAuthStore(engine, clock=lambda: NOW + 60, leeway=0)
    old = store.get_client("old-client")
    assert old is not None and old.token_endpoint_auth_method == "none" and not old.confidential
    record = store.find_refresh_token("old-refresh")
    assert record is not None and store.refresh(record, 3600, 86400).grant is not None
    created = datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc)
    store.save_client(Client("new-client", "Claude", ("https://claude.ai/api/mcp/auth_callback",), "dcr", created,
                             token_endpoint_auth_method="client_secret_post",
                             client_secret_hash=secret_hash("s"), registration_token_hash=secret_hash("t")))
    assert store.client_by_registration_token("t").client_id == "new-client"
    assert store.sweep_clients(7200, 30 * 86400) == 0  # both looked at: one is used, one is new

    migrations.downgrade(engine, "0002")
    assert columns(engine) == before and indexes(engine) == {}
    with engine.connect() as c:
        assert c.execute(sa.text(f"SELECT client_id FROM {CLIENTS} ORDER BY client_id")).scalars().all() == [
            "new-client", "old-client"]
        assert c.execute(sa.text("SELECT count(*) FROM superset_mcp_jwt_oauth_refresh_tokens")).scalar() == 2

    migrations.upgrade(engine)
    store = OAuthStore(engine, clock=lambda: NOW + 120, leeway=0)
    # The downgrade took the secret with it: the client is public now and cannot pass as confidential.
    again = store.get_client("new-client")
    assert again.token_endpoint_auth_method == "none" and again.client_secret_hash is None
    assert store.client_by_registration_token("t") is None
    assert [f.username for f in store.live_families()] == ["alice"]


def test_two_clients_may_both_lack_a_registration_token(engine: sa.engine.Engine) -> None:
    """The unique index on registration_token_hash allows any number of NULLs (clients from before 0003)."""
    migrations.upgrade(engine)
    store = OAuthStore(engine, clock=lambda: NOW, leeway=0)
    created = datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc)
    for client_id in ("a", "b"):
        store.save_client(Client(client_id, client_id, ("http://127.0.0.1/cb",), "dcr", created))
    assert store.count_clients("dcr") == 2
    store.save_client(Client("c", "c", ("http://127.0.0.1/cb",), "dcr", created, registration_token_hash="h"))
    with pytest.raises(Exception):  # one token, one client
        store.save_client(Client("d", "d", ("http://127.0.0.1/cb",), "dcr", created, registration_token_hash="h"))
