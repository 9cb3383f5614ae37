"""OAuthStore on a real SQLite file: migrations, clients, single-use codes and refresh families."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from superset_mcp_jwt.oauth import migrations
from superset_mcp_jwt.oauth.store import (
    OAuthStore,
    StoreUnavailable,
    TABLES,
    TablesMissing,
    secret_hash,
)
from tests.unit.oauth_fixtures import REDIRECT, Clock, make_client, make_store

S256_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Any, clock: Clock) -> OAuthStore:
    store = make_store(tmp_path, clock)
    store.save_client(make_client())
    return store


def new_code(store: OAuthStore, code: str = "code-1", username: str = "alice", scope: str = "mcp:read") -> Any:
    store.save_code(code, "client-1", username, REDIRECT, scope, S256_CHALLENGE, "S256",
                    "https://mcp.example.com/mcp", ttl=60)
    return store.find_code(code)


def test_upgrade_is_idempotent_and_uses_its_own_version_table(tmp_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert migrations.current_revision(engine) is None
    migrations.upgrade(engine)
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision()
    tables = set(sa.inspect(engine).get_table_names())
    assert {table.name for table in TABLES} | {"superset_mcp_jwt_alembic_version"} == tables
    assert "alembic_version" not in tables  # Superset's own version table is left alone


def test_missing_tables_are_a_typed_error_naming_the_command(tmp_path: Any, clock: Clock) -> None:
    store = make_store(tmp_path, clock, upgrade=False)
    with pytest.raises(TablesMissing) as raised:
        store.get_client("client-1")
    assert "superset mcp-jwt db upgrade" in str(raised.value)


def test_clients_round_trip_and_count(store: OAuthStore) -> None:
    client = store.get_client("client-1")
    assert client == make_client()
    assert store.get_client("client-2") is None
    long_id = "https://app.example.com/" + "x" * 1500 + "/client.json"
    store.save_client(make_client(long_id, name="Long"))
    assert store.get_client(long_id).client_name == "Long"
    assert store.count_clients("dcr") == 2 and store.count_clients("cimd") == 0
    store.save_client(make_client(long_id, name="Renamed"))  # replace, not a second row
    assert store.count_clients("dcr") == 2
    assert store.get_client(long_id).client_name == "Renamed"


def test_codes_are_stored_hashed(store: OAuthStore) -> None:
    new_code(store, "plain-secret-code")
    with store.engine.connect() as c:
        hashes = [row[0] for row in c.execute(sa.text("select code_hash from superset_mcp_jwt_oauth_codes"))]
    assert hashes == [secret_hash("plain-secret-code")]
    assert store.find_code("other") is None


def test_a_code_is_redeemed_once(store: OAuthStore) -> None:
    code = new_code(store)
    grant = store.redeem_code(code, "Claude Code", access_ttl=3600, refresh_ttl=86400)
    assert grant is not None
    assert store.redeem_code(code, "Claude Code", 3600, 86400) is None
    assert store.family_of_code(code.code_hash) == grant.family_id
    [connection] = store.live_families("alice")
    assert (connection.id, connection.client_id, connection.scopes) == (grant.family_id, "client-1", ("mcp:read",))


def test_an_expired_code_is_not_redeemed(store: OAuthStore, clock: Clock) -> None:
    code = new_code(store)
    clock.now += 61
    assert store.redeem_code(code, "Claude Code", 3600, 86400) is None


def test_concurrent_redemptions_have_one_winner(store: OAuthStore) -> None:
    code = new_code(store)
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def redeem() -> None:
        barrier.wait()
        results.append(store.redeem_code(code, "Claude Code", 3600, 86400))

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([r for r in results if r is not None]) == 1


def test_rotation_spends_the_old_token_and_keeps_the_family(store: OAuthStore) -> None:
    first = store.redeem_code(new_code(store), "Claude Code", 3600, 86400)
    record = store.find_refresh_token(first.refresh_token)
    assert record.family_id == first.family_id and record.username == "alice" and record.used_at is None
    second = store.refresh(record, 3600, 86400).grant
    assert second.family_id == first.family_id and second.refresh_token != first.refresh_token
    assert store.refresh(record, 3600, 86400).grant is None  # spent
    assert store.find_refresh_token(first.refresh_token).used_at is not None
    assert store.find_refresh_token(second.refresh_token).used_at is None


def test_an_expired_refresh_token_does_not_rotate(store: OAuthStore, clock: Clock) -> None:
    grant = store.redeem_code(new_code(store), "Claude Code", 3600, 7200)
    clock.now += 7201
    assert store.refresh(store.find_refresh_token(grant.refresh_token), 3600, 7200).grant is None
    assert store.live_families() == []


def test_revoking_a_family_returns_its_live_jtis_and_stops_rotation(store: OAuthStore, clock: Clock) -> None:
    first = store.redeem_code(new_code(store), "Claude Code", 600, 86400)
    clock.now += 700  # the first access token has expired
    second = store.refresh(store.find_refresh_token(first.refresh_token), 600, 86400).grant
    count, jtis = store.revoke_family(first.family_id)
    assert count == 1 and jtis == [(second.jti, second.access_expires_at)]
    record = store.find_refresh_token(second.refresh_token)
    assert record.family_revoked
    assert store.refresh(record, 600, 86400).grant is None
    assert store.live_families() == []


def test_rotation_racing_a_revocation_never_leaves_a_live_token(store: OAuthStore) -> None:
    """Whatever the interleaving, every jti issued by the family is in the revocation's answer."""
    for attempt in range(20):
        grant = store.redeem_code(new_code(store, f"code-{attempt}"), "Claude Code", 3600, 86400)
        issued: list[Any] = []
        revoked: list[Any] = []
        barrier = threading.Barrier(2)

        def rotate() -> None:
            barrier.wait()
            issued.append(store.refresh(store.find_refresh_token(grant.refresh_token), 3600, 86400).grant)

        def revoke() -> None:
            barrier.wait()
            revoked.extend(jti for jti, _ in store.revoke_family(grant.family_id)[1])

        threads = [threading.Thread(target=rotate), threading.Thread(target=revoke)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if issued[0] is not None:
            assert issued[0].jti in revoked
            assert store.find_refresh_token(issued[0].refresh_token).family_revoked


def test_revoke_user_spends_codes_and_revokes_only_their_families(store: OAuthStore) -> None:
    alice = store.redeem_code(new_code(store, "a1"), "Claude Code", 3600, 86400)
    pending = new_code(store, "a2")
    bob = store.redeem_code(new_code(store, "b1", username="bob"), "Claude Code", 3600, 86400)
    count, jtis = store.revoke_user_families("alice")
    assert count == 1 and [j for j, _ in jtis] == [alice.jti]
    assert store.redeem_code(pending, "Claude Code", 3600, 86400) is None
    assert [c.id for c in store.live_families()] == [bob.family_id]
    # Only one's own connection by id:
    assert store.revoke_user_families("alice", bob.family_id)[0] == 0
    assert store.revoke_user_families("bob", bob.family_id)[0] == 1


def test_clients_list_counts_connections_and_delete_revokes(store: OAuthStore) -> None:
    grant = store.redeem_code(new_code(store), "Claude Code", 3600, 86400)
    [info] = store.list_clients()
    assert (info.client_id, info.kind, info.connections, info.redirect_uris) == ("client-1", "dcr", 1, (REDIRECT,))
    count, jtis = store.delete_client("client-1")
    assert count == 1 and [j for j, _ in jtis] == [grant.jti]
    assert store.get_client("client-1") is None and store.list_clients() == []
    assert store.live_families() == []


def test_other_database_failures_are_store_unavailable(tmp_path: Any, clock: Clock) -> None:
    store = make_store(tmp_path, clock)
    with store.engine.begin() as c:
        c.execute(sa.text("CREATE TRIGGER refuse BEFORE INSERT ON superset_mcp_jwt_oauth_codes "
                          "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"))
    with pytest.raises(StoreUnavailable) as raised:
        new_code(store)
    assert not isinstance(raised.value, TablesMissing) and "disk says no" not in str(raised.value)


def at(epoch: float) -> Any:
    import datetime

    return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)


def redeem(store: OAuthStore, code: str, client_id: str = "client-1", username: str = "alice",
           access_ttl: int = 3600, refresh_ttl: int = 86400) -> Any:
    store.save_code(code, client_id, username, REDIRECT, "mcp:read mcp:write", S256_CHALLENGE, "S256",
                    "https://mcp.example.com/mcp", ttl=60)
    return store.redeem_code(store.find_code(code), f"App {client_id}", access_ttl, refresh_ttl)


def test_connections_list_every_field_newest_first_and_rotation_marks_only_its_family(
    store: OAuthStore, clock: Clock
) -> None:
    from superset_mcp_jwt.oauth.models import Connection

    t0 = clock.now
    first = redeem(store, "c1")
    clock.now += 10
    second = redeem(store, "c2")
    clock.now += 10
    theirs = redeem(store, "c3", username="bob")
    clock.now += 100
    store.refresh(store.find_refresh_token(first.refresh_token), 3600, 86400).grant
    expected = [
        Connection(id=second.family_id, client_id="client-1", client_name="App client-1", username="alice",
                   scopes=("mcp:read", "mcp:write"), created_at=at(t0 + 10), last_used_at=at(t0 + 10)),
        Connection(id=first.family_id, client_id="client-1", client_name="App client-1", username="alice",
                   scopes=("mcp:read", "mcp:write"), created_at=at(t0), last_used_at=at(t0 + 120)),
    ]
    assert store.live_families("alice") == expected
    assert [c.id for c in store.live_families()] == [theirs.family_id, second.family_id, first.family_id]


def test_a_connection_never_used_reads_without_a_last_use(store: OAuthStore) -> None:
    grant = redeem(store, "c1")
    with store.engine.begin() as c:  # the column is nullable
        c.execute(sa.text("update superset_mcp_jwt_oauth_families set last_used_at = null"))
    [connection] = store.live_families()
    assert connection.id == grant.family_id and connection.last_used_at is None


def test_a_family_is_live_only_through_its_own_unspent_unexpired_refresh_token(
    store: OAuthStore, clock: Clock
) -> None:
    short = redeem(store, "c1", refresh_ttl=100)
    long = redeem(store, "c2", refresh_ttl=86400)
    # The successor of this one expires before the spent original would have.
    rotated = redeem(store, "c3", refresh_ttl=86400)
    store.refresh(store.find_refresh_token(rotated.refresh_token), 3600, 50).grant
    clock.now += 100  # short's refresh token expires exactly now
    assert [c.id for c in store.live_families()] == [long.family_id]
    assert store.refresh(store.find_refresh_token(short.refresh_token), 3600, 86400).grant is None
    assert short.family_id != long.family_id


def test_revoking_after_the_access_token_expired_returns_no_jti(store: OAuthStore, clock: Clock) -> None:
    grant = redeem(store, "c1", access_ttl=600)
    clock.now += 600  # its exp is now: the token is no longer accepted
    assert store.revoke_family(grant.family_id) == (1, [])


def test_the_clients_list_is_oldest_first_with_every_field_and_its_own_connection_count(
    store: OAuthStore,
) -> None:
    import dataclasses
    import datetime

    from superset_mcp_jwt.oauth.models import ClientInfo

    def day(n: int) -> datetime.datetime:
        return datetime.datetime(2027, 1, n, tzinfo=datetime.timezone.utc)

    store.save_client(dataclasses.replace(make_client("client-2", name="Later"), created_at=day(3)))
    store.save_client(dataclasses.replace(make_client("client-0", name="Earlier"), created_at=day(1) - datetime.timedelta(days=1)))
    redeem(store, "a", "client-1")
    redeem(store, "b", "client-1", username="bob")
    redeem(store, "c", "client-0")
    assert store.list_clients() == [
        ClientInfo(client_id="client-0", client_name="Earlier", kind="dcr", redirect_uris=(REDIRECT,),
                   created_at=datetime.datetime(2026, 12, 31, tzinfo=datetime.timezone.utc), connections=1),
        ClientInfo(client_id="client-1", client_name="Claude Code", kind="dcr", redirect_uris=(REDIRECT,),
                   created_at=day(1), connections=2),
        ClientInfo(client_id="client-2", client_name="Later", kind="dcr", redirect_uris=(REDIRECT,),
                   created_at=day(3), connections=0),
    ]


def test_deleting_a_client_spends_only_its_own_pending_codes(store: OAuthStore, clock: Clock) -> None:
    store.save_client(make_client("client-2"))
    redeemed = redeem(store, "used", "client-1")
    store.save_code("pending", "client-1", "alice", REDIRECT, "mcp:read", S256_CHALLENGE, "S256", "r", ttl=60)
    store.save_code("other", "client-2", "alice", REDIRECT, "mcp:read", S256_CHALLENGE, "S256", "r", ttl=60)
    used_at = store.find_code("used").used_at
    clock.now += 5
    assert store.delete_client("client-1")[0] == 1 and redeemed is not None
    assert store.find_code("pending").used_at == store.now()
    assert store.find_code("used").used_at == used_at  # a spent code keeps when it was spent
    assert store.find_code("other").used_at is None


def test_revoking_a_user_spends_only_their_pending_codes(store: OAuthStore, clock: Clock) -> None:
    redeem(store, "used")
    store.save_code("pending", "client-1", "alice", REDIRECT, "mcp:read", S256_CHALLENGE, "S256", "r", ttl=60)
    store.save_code("bobs", "client-1", "bob", REDIRECT, "mcp:read", S256_CHALLENGE, "S256", "r", ttl=60)
    used_at = store.find_code("used").used_at
    clock.now += 5
    store.revoke_user_families("alice")
    assert store.find_code("pending").used_at == store.now()
    assert store.find_code("used").used_at == used_at
    assert store.find_code("bobs").used_at is None


def test_a_client_document_expiry_round_trips(store: OAuthStore) -> None:
    import dataclasses
    import datetime

    expires = datetime.datetime(2027, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    client = dataclasses.replace(make_client("https://app.example.com/client.json"), kind="cimd", expires_at=expires)
    store.save_client(client)
    assert store.get_client(client.client_id) == client
    assert store.get_client("client-1").expires_at is None


def access_jtis(store: OAuthStore) -> set[str]:
    with store.engine.connect() as c:
        return {row[0] for row in c.execute(sa.text("select jti from superset_mcp_jwt_oauth_access_tokens"))}


def test_access_token_records_last_exactly_as_long_as_their_token_is_accepted(
    tmp_path: Any, clock: Clock
) -> None:
    """A token is accepted until exp + leeway: a revocation must find it until then, and no longer."""
    store = make_store(tmp_path, clock, leeway=30)
    store.save_client(make_client())
    first = redeem(store, "a", access_ttl=60)
    clock.now += 60 + 29  # past exp, 1 s of leeway left
    second = redeem(store, "b", access_ttl=60)  # each issuance sweeps the table
    assert access_jtis(store) == {first.jti, second.jti}
    assert store.revoke_family(first.family_id) == (1, [(first.jti, first.access_expires_at + 30)])
    clock.now += 1  # exp + leeway: the first token is refused from now on
    third = redeem(store, "c", access_ttl=60)
    assert access_jtis(store) == {second.jti, third.jti}
    assert store.revoke_family(second.family_id) == (1, [(second.jti, second.access_expires_at + 30)])


def test_spent_and_expired_codes_are_swept_a_day_after_they_expire(store: OAuthStore, clock: Clock) -> None:
    new_code(store, "old")  # expires at now + 60
    clock.now += 60 + 86400  # exactly a day past its expiry: kept
    new_code(store, "new")
    assert store.find_code("old") is not None
    clock.now += 1
    new_code(store, "newer")
    assert store.find_code("old") is None
    assert store.find_code("new") is not None and store.find_code("newer") is not None


def test_a_code_reads_back_every_field_it_was_saved_with(store: OAuthStore, clock: Clock) -> None:
    store.save_code("c", "client-1", "alice", REDIRECT, "mcp:read mcp:sql", S256_CHALLENGE, "S256",
                    "https://mcp.example.com/mcp", ttl=60)
    code = store.find_code("c")
    assert (code.code_hash, code.client_id, code.username, code.redirect_uri, code.scope) == (
        secret_hash("c"), "client-1", "alice", REDIRECT, "mcp:read mcp:sql")
    assert (code.code_challenge, code.code_challenge_method, code.resource) == (
        S256_CHALLENGE, "S256", "https://mcp.example.com/mcp")
    assert (code.expires_at, code.used_at, code.family_id) == (int(clock.now) + 60, None, None)
    grant = store.redeem_code(code, "Claude Code", 3600, 86400)
    spent = store.find_code("c")
    assert (spent.used_at, spent.family_id) == (int(clock.now), grant.family_id)


def test_a_code_is_redeemable_until_the_second_it_expires(store: OAuthStore, clock: Clock) -> None:
    code = new_code(store)  # ttl 60
    clock.now += 59
    assert store.redeem_code(code, "Claude Code", 3600, 86400) is not None
    late = new_code(store, "late")
    clock.now += 60  # its expires_at is now
    assert store.redeem_code(late, "Claude Code", 3600, 86400) is None


def test_refresh_tokens_carry_256_random_bits(store: OAuthStore) -> None:
    grant = store.redeem_code(new_code(store), "Claude Code", 3600, 86400)
    assert len(grant.refresh_token) == 43  # 32 bytes, base64url without padding


def test_names_longer_than_their_column_are_cut_to_255_characters(store: OAuthStore) -> None:
    long_name = "N" * 300
    store.save_client(make_client("client-long", name=long_name))
    assert store.get_client("client-long").client_name == "N" * 255
    code = new_code(store)
    store.redeem_code(code, long_name, 3600, 86400)
    [connection] = store.live_families("alice")
    assert connection.client_name == "N" * 255


def test_a_conflict_saving_a_client_is_retried_once_then_store_unavailable(
    store: OAuthStore,
) -> None:
    """Another replica inserting the same client makes the insert fail: the second try updates
    its row. A conflict that does not go away ends as StoreUnavailable, after exactly two tries."""
    with store.engine.begin() as c:
        c.execute(sa.text("CREATE TRIGGER conflict BEFORE INSERT ON superset_mcp_jwt_oauth_clients "
                          "BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed'); END"))
    inserts: list[str] = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO superset_mcp_jwt_oauth_clients"):
            inserts.append(statement)

    with pytest.raises(StoreUnavailable) as raised:
        store.save_client(make_client("client-new"))
    assert str(raised.value) == "IntegrityError" and len(inserts) == 2
    store.save_client(make_client("client-1", name="Renamed"))  # an existing row: an update, no insert
    assert store.get_client("client-1").client_name == "Renamed" and len(inserts) == 2


def test_eight_concurrent_presentations_of_one_token_all_get_a_grant_in_its_family(store: OAuthStore) -> None:
    """One rotation and seven grace answers, whatever the interleaving; each new token is live."""
    grant = store.redeem_code(new_code(store), "Claude Code", 3600, 86400)
    record = store.find_refresh_token(grant.refresh_token)
    outcomes: list[Any] = []
    barrier = threading.Barrier(8)

    def present() -> None:
        barrier.wait()
        outcomes.append(store.refresh(record, 3600, 86400, grace_seconds=60, grace_reuses=20))

    threads = [threading.Thread(target=present) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kinds = sorted(o.kind.value for o in outcomes)
    assert kinds == ["grace"] * 7 + ["rotated"]
    tokens = {o.grant.refresh_token for o in outcomes}
    assert len(tokens) == 8 and {o.grant.family_id for o in outcomes} == {grant.family_id}
    for token in tokens:
        issued = store.find_refresh_token(token)
        assert issued.used_at is None and not issued.family_revoked
    with store.engine.connect() as c:
        answers = c.execute(sa.text(
            "SELECT grace_answers FROM superset_mcp_jwt_oauth_refresh_tokens WHERE token_hash = :h"),
            {"h": secret_hash(grant.refresh_token)}).scalar()
    assert answers == 7


def test_a_refresh_outcome_says_what_happened(store: OAuthStore, clock: Clock) -> None:
    from superset_mcp_jwt.oauth.store import Refresh

    grant = store.redeem_code(new_code(store), "Claude Code", 3600, 86400)
    record = store.find_refresh_token(grant.refresh_token)
    rotated = store.refresh(record, 3600, 86400, 60, 1)
    assert (rotated.kind, rotated.since_rotation, rotated.jtis) == (Refresh.ROTATED, None, [])
    clock.now += 5
    grace = store.refresh(record, 3600, 86400, 60, 1)
    assert (grace.kind, grace.since_rotation, grace.grace_answers) == (Refresh.GRACE, 5, 1)
    exhausted = store.refresh(record, 3600, 86400, 60, 1)
    assert (exhausted.kind, exhausted.grant, exhausted.jtis) == (Refresh.EXHAUSTED, None, [])
    assert store.live_families() != []  # nothing revoked
    clock.now += 55
    replayed = store.refresh(record, 3600, 86400, 60, 1)
    assert (replayed.kind, replayed.since_rotation, replayed.grant) == (Refresh.REPLAYED, 60, None)
    assert {jti for jti, _ in replayed.jtis} == {grant.jti, rotated.grant.jti, grace.grant.jti}
    assert store.live_families() == []
    assert store.refresh(record, 3600, 86400, 60, 1).kind is Refresh.REFUSED  # the family is gone


def test_a_spent_token_past_its_own_expiry_gets_no_grace_answer(store: OAuthStore, clock: Clock) -> None:
    from superset_mcp_jwt.oauth.store import Refresh

    grant = store.redeem_code(new_code(store), "Claude Code", 3600, 3600)
    record = store.find_refresh_token(grant.refresh_token)
    clock.now += 3590
    assert store.refresh(record, 3600, 3600, 60, 5).kind is Refresh.ROTATED
    clock.now += 20  # 20 s after the rotation, 10 s after the token's own expiry
    assert store.refresh(record, 3600, 3600, 60, 5).kind is Refresh.REFUSED
    assert store.live_families() != []
