"""RevocationList: jti and subject revocation through a shared store, with a per-process memo."""

from __future__ import annotations

import pytest

from superset_mcp_jwt.errors import Reason, TokenError
from superset_mcp_jwt.revocation import RevocationList


class Store:
    """What two processes share (a dict standing in for Redis or the metadata DB)."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}
        self.reads = 0
        self.keys_read: list[str] = []
        self.timeouts: dict[str, object] = {}

    def get(self, key):
        self.reads += 1
        self.keys_read.append(key)
        return self.data.get(key)

    def set(self, key, value, timeout=None):
        self.data[key] = value
        self.timeouts[key] = timeout
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


def test_memo_keeps_the_store_off_the_hot_path():
    store, clock = Store(), Clock()
    rl = RevocationList(store, memo_seconds=2, clock=clock)
    for _ in range(100):
        rl.check(claims())
    assert store.reads == 2  # one jti and one subject read


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


# --------------------------------------------------------------------------- records and memo edges


@pytest.mark.parametrize("until, timeout", [(5000, 3060), (2000.9, 60), (1000, 1)])
def test_a_revoked_jti_is_kept_until_its_token_expires_plus_a_minute(until, timeout):
    store = Store()
    RevocationList(store, memo_seconds=0, wall=lambda: 2000).revoke_jti("j1", until=until)
    assert store.data == {"jti:j1": True}
    assert store.timeouts == {"jti:j1": timeout}  # at least 1 s: 0 would mean "forever" to some stores


def test_a_revoked_subject_records_when_and_is_kept_400_days():
    store = Store()
    assert RevocationList(store, memo_seconds=0, wall=lambda: 2000.5).revoke_subject("alice") == 2000.5
    assert store.data == {"sub:alice": 2000.5}
    assert store.timeouts == {"sub:alice": 400 * 86400}


@pytest.mark.parametrize("jti", [None, 7])
def test_a_token_without_a_string_jti_is_looked_up_by_subject_only(jti):
    store = Store()
    store.data["jti:7"] = store.data["jti:None"] = True
    c = claims()
    if jti is None:
        del c["jti"]
    else:
        c["jti"] = jti
    assert not revoked(RevocationList(store, memo_seconds=0), c)
    assert store.keys_read == ["sub:alice"]


def test_known_not_revoked_needs_both_answers_memoised():
    store, clock = Store(), Clock()
    rl = RevocationList(store, memo_seconds=2, clock=clock)
    rl.check(claims())  # memoises jti:j1 and sub:alice
    assert rl.known_not_revoked(claims(sub="bob")) is False  # jti known, subject not
    assert rl.known_not_revoked(claims(jti="j2")) is False  # subject known, jti not
    assert store.reads == 2


def test_the_memo_expires_exactly_after_memo_seconds():
    store, clock = Store(), Clock()
    rl = RevocationList(store, memo_seconds=0.5, clock=clock)
    rl.check(claims())
    clock.now += 0.4999
    rl.check(claims())
    assert store.reads == 2  # a fractional memo works
    clock.now = 0.5
    rl.check(claims())
    assert store.reads == 4  # not one tick longer than documented


def test_the_memo_is_bounded():
    store, clock = Store(), Clock()
    rl = RevocationList(store, memo_seconds=5, clock=clock)
    for n in range(32768):  # two entries each: 65536, the bound
        rl.check({"sub": f"u{n}", "jti": f"j{n}"})
    assert store.reads == 65536
    probe = {"sub": "u0", "jti": "j1"}  # the second-oldest entry, sub:u0, and a later one
    assert rl.known_not_revoked(probe)  # all still memoised
    rl.check({"sub": "u-new", "jti": "j-new"})  # two more: the oldest two leave
    assert not rl.known_not_revoked(probe)
    assert rl.known_not_revoked({"sub": "u1", "jti": "j1"})


def test_revoked_error_detail():
    rl = RevocationList(Store(), memo_seconds=0, wall=lambda: 2000)
    rl.revoke_jti("j1", until=5000)
    with pytest.raises(TokenError) as info:
        rl.check(claims())
    assert info.value.detail == "token (jti 'j1', sub 'alice') was revoked"
