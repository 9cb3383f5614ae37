"""Revocation shared by every replica: revoked ``jti``s and subjects in a shared store.

Core: the store is any Flask-Caching-style object with ``get`` and ``set``
(Superset's metadata database by default, Redis to scale out). The whole
revocation state is one small value under one key, so each process keeps a
snapshot of it in memory and reads the store once per memo interval, whatever
the token rate; the memo interval bounds how long a revocation takes to reach
every process. A store that cannot be read is never taken as "not revoked".
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from .errors import Reason, TokenError

logger = logging.getLogger(__name__)

#: The one store key holding the whole state (the store adds its own prefix).
STATE_KEY = "revocations-v1"
_KEEP_SUBJECT_SECONDS = 400 * 86400  # longer than any token lifetime we would issue
#: A jti record outlives its token's ``exp`` by this much (clock skew, leeway).
_JTI_GRACE_SECONDS = 60
#: After a failed store read, requests are answered 503 for this long without
#: trying the store again (so an outage costs no connection attempt per request).
RETRY_SECONDS = 1.0
_WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class _Snapshot:
    jtis: Mapping[str, float]  # jti -> wall time until which the record is kept
    subjects: Mapping[str, float]  # subject -> tokens issued up to this wall time are revoked
    fresh_until: float  # monotonic

    def revoked(self, claims: Mapping[str, Any]) -> bool:
        jti = claims.get("jti")
        if isinstance(jti, str) and jti in self.jtis:
            return True
        before = self.subjects.get(claims["sub"])
        if before is None:
            return False
        iat = claims.get("iat")
        return iat is None or iat <= before


class RevocationList:
    """``revoke_jti``/``revoke_subject`` write to the store; ``check`` reads a snapshot of it.

    The snapshot is refreshed by at most one thread at a time, at most once per
    ``memo_seconds``; ``memo_seconds=0`` reads the store on every check.
    """

    def __init__(
        self,
        store: Any,
        memo_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._memo_seconds = memo_seconds
        self._clock, self._wall = clock, wall
        self._snapshot: Optional[_Snapshot] = None
        self._failed_until = float("-inf")
        self._failure = ""  # the last failed read's exception class
        self._lock = threading.Lock()

    def revoke_jti(self, jti: str, until: float) -> None:
        """Revoke the token with this ``jti``; ``until``: when it stops being accepted (exp + leeway)."""
        keep = until + _JTI_GRACE_SECONDS
        self._update("jti", jti, lambda old: max(old or keep, keep))

    def revoke_subject(self, subject: str) -> float:
        """Revoke every token for ``subject`` issued up to now (no ``iat``: revoked too)."""
        before = self._wall()
        self._update("sub", subject, lambda old: max(old or before, before))
        return before

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise :class:`TokenError`: ``revoked``, or ``store_unavailable`` (503) on a store failure."""
        if self._current().revoked(claims):
            raise _revoked(claims)

    def known_not_revoked(self, claims: Mapping[str, Any]) -> bool:
        """True only if the in-memory snapshot, still fresh, says the token is not revoked."""
        snapshot = self._snapshot
        return (
            snapshot is not None
            and self._clock() < snapshot.fresh_until
            and not snapshot.revoked(claims)
        )

    def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and self._clock() < snapshot.fresh_until:
            return snapshot
        with self._lock:  # one reader per process; the others wait for its answer
            snapshot = self._snapshot
            started = self._clock()
            if snapshot is not None and started < snapshot.fresh_until:
                return snapshot
            if started < self._failed_until:  # failed moments ago: no new attempt per request
                error = TokenError(Reason.STORE_UNAVAILABLE, "the revocation store failed moments ago")
                error.cause = self._failure
                raise error
            try:
                jtis, subjects = _parse(self._store.get(STATE_KEY))
            except Exception as exc:  # network, database, bad data: never guess "not revoked"
                self._failed_until = self._clock() + RETRY_SECONDS
                self._failure = exc.__class__.__name__
                raise TokenError.outage(Reason.STORE_UNAVAILABLE, exc) from None
            snapshot = _Snapshot(jtis, subjects, started + self._memo_seconds)
            self._snapshot = snapshot
            return snapshot

    def _update(self, kind: str, key: str, merge: Callable[[Optional[float]], float]) -> None:
        """Read-modify-write the state; read it back, and retry if a concurrent write lost ours."""
        for _ in range(_WRITE_ATTEMPTS):
            jtis, subjects = _parse(self._store.get(STATE_KEY))
            now = self._wall()
            jtis = {j: until for j, until in jtis.items() if until > now}  # expired tokens
            entries = jtis if kind == "jti" else subjects
            entries[key] = merge(entries.get(key))
            wanted = entries[key]
            self._store.set(
                STATE_KEY, {"jti": jtis, "sub": subjects}, timeout=_KEEP_SUBJECT_SECONDS
            )
            written = _parse(self._store.get(STATE_KEY))[0 if kind == "jti" else 1]
            if written.get(key, float("-inf")) >= wanted:
                with self._lock:
                    self._snapshot = None  # this process sees its own revocation at once
                return
        raise RuntimeError("the revocation store kept losing this revocation to concurrent writes")


def _parse(state: Any) -> tuple[dict[str, float], dict[str, float]]:
    """The state's two maps; an absent state is empty, a malformed one an error."""
    if state is None:
        return {}, {}
    if not isinstance(state, dict):
        raise TypeError("the revocation state is not a mapping")

    def entries(name: str) -> dict[str, float]:
        value = state.get(name, {})
        if not isinstance(value, dict):
            raise TypeError(f"the revocation state's {name!r} is not a mapping")
        return {str(k): float(v) for k, v in value.items()}

    return entries("jti"), entries("sub")


def _revoked(claims: Mapping[str, Any]) -> TokenError:
    error = TokenError(Reason.REVOKED, f"token (jti {claims.get('jti')!r}, sub {claims['sub']!r}) was revoked")
    error.claims = dict(claims)
    return error
