"""RevocationList: jti and subject revocation through a shared store, with a per-process snapshot."""

from __future__ import annotations

import pytest

from superset_mcp_jwt.errors import Reason, TokenError
from superset_mcp_jwt.revocation import RevocationList


class Store:
    """What two processes share (a dict standing in for Redis or the metadata DB)."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}
        self.reads = 0

    def get(self, key):
        self.reads += 1
        return self.data.get(key)

    def set(self, key, value, timeout=None):
        self.data[key] = value
        return True


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def claims(**extra):
    return {"sub": "alice", "jti": "j1", "iat": 1000, **extra}


def revoked(rl: RevocationList, c) -> bool:
    try:
        rl.check(c)
    except TokenError as error:
        assert error.reason is Reason.REVOKED and error.claims["sub"] == c["sub"]
        return True
    return False


def test_revoked_jti():
    rl = RevocationList(Store(), memo_seconds=0, wall=lambda: 2000)
    rl.revoke_jti("j1", until=5000)
    assert revoked(rl, claims())
    assert not revoked(rl, claims(jti="j2"))


@pytest.mark.parametrize("iat, expected", [(1999, True), (2000, True), (2001, False), (None, True)])
def test_revoked_subject_covers_tokens_issued_up_to_now(iat, expected):
    rl = RevocationList(Store(), memo_seconds=0, wall=lambda: 2000)
    rl.revoke_subject("alice")
    c = claims(jti="other")
    if iat is None:
        del c["iat"]
    else:
        c["iat"] = iat
    assert revoked(rl, c) is expected
    assert not revoked(rl, claims(sub="bob"))


def test_a_revocation_reaches_another_process_within_the_memo_time():
    store, clock = Store(), Clock()
    here = RevocationList(store, memo_seconds=2, clock=clock, wall=lambda: 2000)
    there = RevocationList(store, memo_seconds=2, clock=clock, wall=lambda: 2000)
    assert not revoked(there, claims())  # memoised: not revoked
    here.revoke_jti("j1", until=5000)
    clock.now += 1.9
    assert not revoked(there, claims())  # still inside the memo
    clock.now += 0.2
    assert revoked(there, claims())


def test_one_store_read_per_interval_whatever_the_tokens():
    store, clock = Store(), Clock()
    rl = RevocationList(store, memo_seconds=2, clock=clock)
    for n in range(100):
        rl.check(claims(jti=f"j{n}", sub=f"user{n % 7}"))  # every token first-seen
    assert store.reads == 1
    clock.now += 2
    rl.check(claims(jti="another"))
    assert store.reads == 2


def test_known_not_revoked_never_reads_the_store():
    store, clock = Store(), Clock()
    rl = RevocationList(store, memo_seconds=2, clock=clock, wall=lambda: 2000)
    assert rl.known_not_revoked(claims()) is False  # nothing memoised yet: unknown
    assert store.reads == 0
    rl.check(claims())
    assert rl.known_not_revoked(claims()) is True
    rl.revoke_subject("alice")
    clock.now += 3
    rl.known_not_revoked(claims())
    assert not rl.known_not_revoked(claims()) and revoked(rl, claims())


class FailingStore(Store):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def get(self, key):
        if self.down:
            self.reads += 1
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return super().get(key)


def outage(rl: RevocationList, c) -> TokenError:
    with pytest.raises(TokenError) as caught:
        rl.check(c)
    return caught.value


def test_a_store_outage_is_503_never_a_guess_and_recovers_by_itself():
    store, clock = FailingStore(), Clock()
    rl = RevocationList(store, memo_seconds=2, clock=clock, wall=lambda: 2000)
    rl.check(claims())
    store.down = True
    clock.now += 2  # the snapshot is due for a refresh
    error = outage(rl, claims())
    assert error.reason is Reason.STORE_UNAVAILABLE and error.status == 503
    assert error.cause == "ConnectionError" and "127.0.0.1" not in error.cause
    assert rl.known_not_revoked(claims()) is False
    reads = store.reads
    again = outage(rl, claims(jti="j9"))
    assert again.reason is Reason.STORE_UNAVAILABLE and again.cause == "ConnectionError"
    assert store.reads == reads  # within the retry pause: no connection attempt per request
    store.down = False
    clock.now += 1.0
    rl.check(claims())  # recovered without a restart
    assert rl.known_not_revoked(claims())


def test_a_malformed_state_is_an_outage_not_a_pass():
    store = Store()
    store.data["revocations-v1"] = ["not", "a", "mapping"]
    rl = RevocationList(store, memo_seconds=0)
    assert outage(rl, claims()).reason is Reason.STORE_UNAVAILABLE


def test_the_whole_state_is_one_key_and_expired_jtis_are_dropped():
    store, now = Store(), [2000.0]
    rl = RevocationList(store, memo_seconds=0, wall=lambda: now[0])
    rl.revoke_jti("old", until=2100)
    rl.revoke_subject("bob")
    now[0] = 2200  # old's token has expired (+60 s grace)
    rl.revoke_jti("new", until=5000)
    assert list(store.data) == ["revocations-v1"]
    assert store.data["revocations-v1"] == {"jti": {"new": 5060.0}, "sub": {"bob": 2000.0}}


def test_a_revocation_lost_to_a_concurrent_write_is_written_again():
    class RacingStore(Store):
        """The first write is overwritten by another process's write of the state it read."""

        def __init__(self) -> None:
            super().__init__()
            self.races = 1

        def set(self, key, value, timeout=None):
            stale = self.data.get(key)
            super().set(key, value, timeout)
            if self.races:
                self.races -= 1
                self.data[key] = stale if stale is not None else {"jti": {}, "sub": {"bob": 1.0}}

    store = RacingStore()
    rl = RevocationList(store, memo_seconds=0, wall=lambda: 2000)
    rl.revoke_jti("j1", until=5000)
    assert revoked(rl, claims())


def test_this_process_sees_its_own_revocation_at_once():
    store, clock = Store(), Clock()
    rl = RevocationList(store, memo_seconds=60, clock=clock, wall=lambda: 2000)
    assert not revoked(rl, claims())
    rl.revoke_jti("j1", until=5000)
    assert revoked(rl, claims())


def test_revoked_error_detail():
    rl = RevocationList(Store(), memo_seconds=0, wall=lambda: 2000)
    rl.revoke_jti("j1", until=5000)
    with pytest.raises(TokenError) as info:
        rl.check(claims())
    assert info.value.detail == "token (jti 'j1', sub 'alice') was revoked"


def test_outage_details_name_the_problem_for_the_operator():
    """The detail (logged with MCP_JWT_DEBUG_ERRORS) says what is wrong with the store's state."""
    store, clock = Store(), Clock()
    rl = RevocationList(store, memo_seconds=0, clock=clock)
    store.data["revocations-v1"] = ["not", "a", "mapping"]
    assert outage(rl, claims()).detail == "TypeError: the revocation state is not a mapping"
    clock.now += 1.0  # past the retry pause
    store.data["revocations-v1"] = {"jti": {}, "sub": ["alice"]}
    assert outage(rl, claims()).detail == "TypeError: the revocation state's 'sub' is not a mapping"
    # Within the retry pause the store is not asked again, and the detail says why.
    again = outage(rl, claims())
    assert again.detail == "the revocation store failed moments ago" and again.cause == "TypeError"


@pytest.mark.parametrize("state", [{"sub": {"alice": 2000.0}}, {"jti": {"j1": 5060.0}}, {}])
def test_a_state_missing_one_map_reads_as_that_map_empty(state):
    store = Store()
    store.data["revocations-v1"] = state
    rl = RevocationList(store, memo_seconds=0, wall=lambda: 2000)
    assert revoked(rl, claims()) is bool(state)
    assert not revoked(rl, claims(sub="bob", jti="j2"))


def test_a_revocation_never_shortens_an_earlier_one():
    store, now = Store(), [2000.0]
    rl = RevocationList(store, memo_seconds=0, wall=lambda: now[0])
    rl.revoke_jti("j1", until=5000)
    rl.revoke_jti("j1", until=3000)  # the same token revoked again, with an earlier exp
    rl.revoke_subject("alice")
    now[0] = 1500.0  # the wall clock stepped back
    assert rl.revoke_subject("alice") == 1500.0
    assert store.data["revocations-v1"] == {"jti": {"j1": 5060.0}, "sub": {"alice": 2000.0}}
    assert revoked(rl, claims(jti="other", iat=1999))


def test_the_state_is_kept_longer_than_any_token_lives():
    """The store's own default expiry (Flask-Caching: often 300 s) must not drop revocations."""

    class RecordingStore(Store):
        def set(self, key, value, timeout=None):
            self.timeouts.append(timeout)
            return super().set(key, value, timeout)

    store = RecordingStore()
    store.timeouts = []
    rl = RevocationList(store, memo_seconds=0, wall=lambda: 2000)
    rl.revoke_jti("j1", until=5000)
    rl.revoke_subject("bob")
    assert store.timeouts == [400 * 86400, 400 * 86400]


def test_a_jti_record_is_dropped_exactly_when_its_grace_ends():
    store, now = Store(), [2000.0]
    rl = RevocationList(store, memo_seconds=0, wall=lambda: now[0])
    rl.revoke_jti("ends-now", until=2140)  # kept until 2200
    rl.revoke_jti("ends-later", until=2141)  # kept until 2201
    now[0] = 2200.0
    rl.revoke_jti("new", until=5000)
    assert store.data["revocations-v1"]["jti"] == {"ends-later": 2201.0, "new": 5060.0}


def test_a_revocation_always_lost_to_concurrent_writes_is_an_error_not_a_silent_pass():
    class LosingStore(Store):
        def set(self, key, value, timeout=None):
            self.sets = getattr(self, "sets", 0) + 1  # another process always wins

    store = LosingStore()
    rl = RevocationList(store, memo_seconds=0, wall=lambda: 2000)
    with pytest.raises(RuntimeError) as info:
        rl.revoke_jti("j1", until=5000)
    assert str(info.value) == "the revocation store kept losing this revocation to concurrent writes"
    assert store.sets == 5


def test_threads_waiting_for_a_refresh_use_its_answer_instead_of_reading_again():
    import threading

    a_reading, b_checking = threading.Event(), threading.Event()

    class SlowStore(Store):
        def get(self, key):
            if threading.current_thread().name == "A":
                a_reading.set()
                assert b_checking.wait(5)  # B is on its way to the lock while A reads
            return super().get(key)

    class SignallingClock(Clock):
        def __call__(self) -> float:
            if threading.current_thread().name == "B":
                b_checking.set()
            return self.now

    store, clock = SlowStore(), SignallingClock()
    rl = RevocationList(store, memo_seconds=2, clock=clock)
    rl.check(claims())
    clock.now += 2  # the snapshot is due for a refresh
    errors = []

    def check():
        try:
            rl.check(claims())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    a = threading.Thread(target=check, name="A")
    a.start()
    assert a_reading.wait(5)
    b = threading.Thread(target=check, name="B")
    b.start()
    a.join(5)
    b.join(5)
    assert not errors and store.reads == 2  # the first check, then A's refresh only
