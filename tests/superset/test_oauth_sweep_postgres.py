"""The sweep on PostgreSQL, where replicas really run it at once: two sweeps share the work
(SKIP LOCKED) and a removal by RFC 7592 or the CLI racing a sweep never deadlocks.

A database of its own in the session's throw-away cluster; no Superset process.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from superset_mcp_jwt.oauth import migrations
from superset_mcp_jwt.oauth.models import Client
from superset_mcp_jwt.oauth.store import OAuthStore
from tests.superset.oauth_http import at_once

NOW = 1_800_000_000
UNUSED, IDLE = 7200, 30 * 86400


@pytest.fixture
def store(postgres: Any) -> Iterator[OAuthStore]:
    engine = sa.create_engine(postgres.create_database(f"sweep_{uuid.uuid4().hex[:8]}"), pool_size=10)
    migrations.upgrade(engine)
    yield OAuthStore(engine, clock=lambda: NOW + UNUSED, leeway=0)
    engine.dispose()


def storm(store: OAuthStore, count: int) -> list[str]:
    """``count`` registrations made UNUSED seconds ago that never redeemed a code (each has one pending)."""
    created = datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc)
    ids = [f"storm-{n}" for n in range(count)]
    for client_id in ids:
        store.save_client(Client(client_id, client_id, ("http://127.0.0.1/cb",), "dcr", created))
        store.save_code(f"code-{client_id}", client_id, "alice", "http://127.0.0.1/cb", "mcp:read", "c" * 43,
                        "S256", "https://mcp/mcp", ttl=600)
    return ids


def test_two_sweeps_at_once_remove_each_client_once(store: OAuthStore) -> None:
    storm(store, 60)
    for _ in range(5):  # rounds: the two sweeps start together each time
        results = at_once(*[lambda: store.sweep_clients(UNUSED, IDLE, limit=20)] * 2)
        assert all(isinstance(result, int) for result in results), results
        if store.count_clients("dcr") == 0:
            break
    assert store.count_clients("dcr") == 0


def test_a_removal_racing_a_sweep_never_deadlocks(store: OAuthStore) -> None:
    ids = storm(store, 40)
    calls = [lambda: store.sweep_clients(UNUSED, IDLE)] + [
        (lambda client_id=client_id: store.delete_client(client_id)) for client_id in ids[::-1][:8]
    ]
    results = at_once(*calls)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert store.count_clients("dcr") == 0
