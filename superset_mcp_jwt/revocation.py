"""Revocation shared by every replica: revoked ``jti``s and subjects in a shared store.

Core: the store is any Flask-Caching-style object with ``get`` and ``set``
(Superset's metadata database by default, Redis to scale out). A short
per-process memo keeps the store off the hot path; it bounds how long a
revocation takes to reach every process.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Optional

from .bounded import BoundedMap
from .errors import Reason, TokenError

_KEEP_SUBJECT_SECONDS = 400 * 86400  # longer than any token lifetime we would issue


class RevocationList:
    """``revoke_jti``/``revoke_subject`` write to the store; ``check`` reads through a memo."""

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
        self._memo: BoundedMap[str, tuple[Any, float]] = BoundedMap(65536)

    def revoke_jti(self, jti: str, until: float) -> None:
        """Revoke the token with this ``jti``; the record lasts until ``until`` (its exp)."""
        self._store.set(f"jti:{jti}", True, timeout=max(1, int(until - self._wall()) + 60))

    def revoke_subject(self, subject: str) -> float:
        """Revoke every token for ``subject`` issued up to now (no ``iat``: revoked too)."""
        before = self._wall()
        self._store.set(f"sub:{subject}", before, timeout=_KEEP_SUBJECT_SECONDS)
        return before

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise :class:`TokenError` (``revoked``) if the token was revoked."""
        if self._revoked(claims, self._lookup) is True:
            raise _revoked(claims)

    def known_not_revoked(self, claims: Mapping[str, Any]) -> bool:
        """True only if the memo alone says the token is not revoked (no store access)."""
        return self._revoked(claims, self._memo_only) is False

    def _revoked(self, claims: Mapping[str, Any], read: Callable[[str], Any]) -> Optional[bool]:
        jti = claims.get("jti")
        by_jti = read(f"jti:{jti}") if isinstance(jti, str) else None
        by_sub = read(f"sub:{claims['sub']}")
        if by_jti is _UNKNOWN or by_sub is _UNKNOWN:
            return None
        if by_jti:
            return True
        if by_sub is not None:
            iat = claims.get("iat")
            return iat is None or iat <= by_sub
        return False

    def _memo_only(self, key: str) -> Any:
        entry = self._memo.get(key)
        if entry is None or entry[1] <= self._clock():
            return _UNKNOWN
        return entry[0]

    def _lookup(self, key: str) -> Any:
        value = self._memo_only(key)
        if value is _UNKNOWN:
            value = self._store.get(key)
            if self._memo_seconds > 0:
                self._memo.put(key, (value, self._clock() + self._memo_seconds))
        return value


_UNKNOWN = object()


def _revoked(claims: Mapping[str, Any]) -> TokenError:
    error = TokenError(Reason.REVOKED, f"token (jti {claims.get('jti')!r}, sub {claims['sub']!r}) was revoked")
    error.claims = dict(claims)
    return error
