"""The sweep of unused and idle registrations, on a real SQLite store with its clock moved by hand.

Every boundary is checked one second before and at the time: an unused
registration goes ``unused_after`` seconds after it registered; a client whose
connections all ended goes ``idle_after`` seconds after the last one ended; a
cached metadata document goes when its cache time has passed; a client with a
live connection never goes.
"""

from __future__ import annotations

import datetime
from typing import Any, Optional

import pytest
import sqlalchemy as sa

from superset_mcp_jwt.oauth.models import Client
from superset_mcp_jwt.oauth.store import OAuthStore, clients_table
from tests.unit.oauth_fixtures import REDIRECT, Clock, make_store

UNUSED, IDLE = 7200, 30 * 86400
ACCESS_TTL, REFRESH_TTL = 3600, 10 * 86400


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Any, clock: Clock) -> OAuthStore:
    return make_store(tmp_path, clock)


def utc(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)


def register(store: OAuthStore, clock: Clock, client_id: str, kind: str = "dcr",
             cache_seconds: Optional[int] = None) -> None:
    expires = utc(clock.now + cache_seconds) if cache_seconds is not None else None
    store.save_client(Client(client_id, client_id, (REDIRECT,), kind, utc(clock.now), expires))  # type: ignore[arg-type]


def connect(store: OAuthStore, client_id: str, code: str = "code") -> Any:
    """A connection of alice's through ``client_id``: its refresh token's grant."""
    store.save_code(code, client_id, "alice", REDIRECT, "mcp:read", "c" * 43, "S256", "https://mcp/mcp", ttl=60)
    grant = store.redeem_code(store.find_code(code), client_id, ACCESS_TTL, REFRESH_TTL)
    assert grant is not None
    return grant


def sweep(store: OAuthStore) -> int:
    return store.sweep_clients(UNUSED, IDLE)


def kept(store: OAuthStore, *client_ids: str) -> list[str]:
    return [client_id for client_id in client_ids if store.get_client(client_id) is not None]


def sweep_at(store: OAuthStore, client_id: str) -> int:
    with store.engine.connect() as c:
        return c.execute(sa.select(clients_table.c.sweep_at).where(clients_table.c.client_id == client_id)).scalar()


def test_an_unused_registration_goes_after_unused_after(store: OAuthStore, clock: Clock) -> None:
    start = clock.now
    register(store, clock, "unused")
    assert sweep(store) == 0 and sweep_at(store, "unused") == start + UNUSED  # looked at once, put off
    clock.now = start + UNUSED - 1
    assert sweep(store) == 0 and kept(store, "unused") == ["unused"]
    clock.now = start + UNUSED
    assert sweep(store) == 1 and kept(store, "unused") == []


def test_a_used_client_stays_while_its_connection_lives(store: OAuthStore, clock: Clock) -> None:
    start = clock.now
    register(store, clock, "used")
    grant = connect(store, "used")
    clock.now = start + UNUSED
    assert sweep(store) == 0 and sweep_at(store, "used") == clock.now + IDLE
    record = store.find_refresh_token(grant.refresh_token)
    for _ in range(3):  # refreshed every few days: it lives on, and so does the client
        clock.now += 5 * 86400
        record = store.find_refresh_token(store.refresh(record, ACCESS_TTL, REFRESH_TTL).grant.refresh_token)
    clock.now = sweep_at(store, "used")
    assert sweep(store) == 0 and kept(store, "used") == ["used"]


def test_a_client_goes_idle_after_after_its_last_connection_was_revoked(store: OAuthStore, clock: Clock) -> None:
    register(store, clock, "revoked")
    first, second = connect(store, "revoked", "c1"), connect(store, "revoked", "c2")
    clock.now += 100
    store.revoke_family(first.family_id)
    clock.now += 50
    store.revoke_family(second.family_id)
    ended = clock.now
    clock.now = ended + UNUSED
    assert sweep(store) == 0 and sweep_at(store, "revoked") == ended + IDLE
    clock.now = ended + IDLE - 1
    with store.engine.begin() as c:  # looked at again a second early (as if by an older schedule)
        c.execute(sa.update(clients_table).values(sweep_at=clock.now))
    assert sweep(store) == 0 and sweep_at(store, "revoked") == ended + IDLE
    clock.now = ended + IDLE
    assert sweep(store) == 1 and kept(store, "revoked") == []


def test_a_connection_that_expired_ends_when_its_refresh_token_did(store: OAuthStore, clock: Clock) -> None:
    register(store, clock, "expired")
    grant = connect(store, "expired")
    ended = grant.refresh_expires_at
    clock.now = ended - 1
    assert sweep(store) == 0 and sweep_at(store, "expired") == clock.now + IDLE  # still live: put off
    clock.now = ended
    with store.engine.begin() as c:
        c.execute(sa.update(clients_table).values(sweep_at=clock.now))
    assert sweep(store) == 0 and sweep_at(store, "expired") == ended + IDLE
    clock.now = ended + IDLE
    assert sweep(store) == 1


def test_a_cached_document_goes_when_its_cache_time_has_passed(store: OAuthStore, clock: Clock) -> None:
    url, used = "https://client.example/meta.json", "https://used.example/meta.json"
    register(store, clock, url, "cimd", cache_seconds=3600)
    register(store, clock, used, "cimd", cache_seconds=3600)
    connect(store, used)
    start = clock.now
    clock.now = start + 3599
    assert sweep(store) == 0
    clock.now = start + 3600
    assert sweep(store) == 1 and kept(store, url, used) == [used]  # a live connection keeps it
    assert sweep_at(store, used) == clock.now + IDLE


def test_a_refetched_document_is_looked_at_again_when_its_new_copy_expires(store: OAuthStore, clock: Clock) -> None:
    url = "https://client.example/meta.json"
    register(store, clock, url, "cimd", cache_seconds=3600)
    clock.now += 3600
    register(store, clock, url, "cimd", cache_seconds=3600)  # fetched again on its next use
    assert sweep(store) == 0 and sweep_at(store, url) == clock.now + 3600


def test_a_sweep_looks_at_a_bounded_number_oldest_first(store: OAuthStore, clock: Clock) -> None:
    ids = [f"storm-{n}" for n in range(7)]
    for client_id in ids:
        register(store, clock, client_id)
        clock.now += 1
    clock.now += UNUSED
    assert store.sweep_clients(UNUSED, IDLE, limit=3) == 3
    assert kept(store, *ids) == ids[3:]
    assert store.sweep_clients(UNUSED, IDLE, limit=3) == 3
    assert sweep(store) == 1 and store.count_clients("dcr") == 0


def test_nothing_due_means_nothing_changes(store: OAuthStore, clock: Clock) -> None:
    register(store, clock, "a")
    sweep(store)
    before = sweep_at(store, "a")
    assert sweep(store) == 0 and sweep_at(store, "a") == before


def test_a_removed_clients_pending_codes_are_spent(store: OAuthStore, clock: Clock) -> None:
    start = clock.now
    register(store, clock, "late")
    clock.now = start + UNUSED - 30
    store.save_code("pending", "late", "alice", REDIRECT, "mcp:read", "c" * 43, "S256", "https://mcp/mcp", ttl=60)
    clock.now = start + UNUSED
    assert sweep(store) == 1
    assert store.find_code("pending").used_at == clock.now
    assert store.redeem_code(store.find_code("pending"), "late", ACCESS_TTL, REFRESH_TTL) is None


def test_a_client_that_got_a_connection_after_it_was_looked_at_stays(store: OAuthStore, clock: Clock) -> None:
    """The removal checks again what it decided on: a connection made meanwhile keeps the client."""
    start = clock.now
    register(store, clock, "racing")
    clock.now = start + UNUSED
    real = store._connection_ends

    def connected_meanwhile(*args: Any) -> Any:
        answer = real(*args)
        with store.engine.begin() as c:  # another replica redeems a code right after the look
            c.execute(sa.text(
                "INSERT INTO superset_mcp_jwt_oauth_families (id, client_key, client_id, client_name, username,"
                " scope, created_at, last_used_at) SELECT 'f1', client_key, client_id, 'x', 'alice', 'mcp:read',"
                f" {clock.now}, {clock.now} FROM superset_mcp_jwt_oauth_clients"
            ))
        return answer

    store._connection_ends = connected_meanwhile  # type: ignore[method-assign]
    assert sweep(store) == 0
    del store._connection_ends
    assert kept(store, "racing") == ["racing"]


def test_the_count_after_a_sweep_is_what_is_left(store: OAuthStore, clock: Clock) -> None:
    for n in range(5):
        register(store, clock, f"flood-{n}")
    register(store, clock, "https://doc.example/m.json", "cimd", cache_seconds=60)
    clock.now += UNUSED
    register(store, clock, "new")
    assert store.count_clients("dcr") == 6 and store.count_clients("cimd") == 1
    assert sweep(store) == 6
    assert store.count_clients("dcr") == 1 and store.count_clients("cimd") == 0
