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
