"""From verified claims to a Flask-AppBuilder user, through the security manager."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from .bounded import BoundedMap
from .errors import Reason, TokenError
from .settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """Who a valid token speaks for: the FAB user, its user name and id, and the claims.

    ``user`` is None when the identity came from :class:`IdentityCache`.
    """

    user: Any
    username: str
    claims: Mapping[str, Any]
    user_id: Optional[int] = None

    @classmethod
    def _of_cached_user(cls, username: str, claims: Mapping[str, Any], user_id: Optional[int]) -> "Identity":
        """The identity of a cached user: the same frozen object, built without the dataclass's
        per-field ``object.__setattr__`` (the repeated-token path builds one per request)."""
        identity = object.__new__(cls)
        identity.__dict__.update(user=None, username=username, claims=claims, user_id=user_id)
        return identity


class IdentityCache:
    """Users resolved per (issuer, user claim), remembered for ``ttl`` seconds.

    Holds user names and ids only, never ORM objects, so nothing can detach or
    leak between sessions; deactivating a user or changing the mapping takes
    effect within ``ttl``. Off when ``ttl`` is 0 or a custom resolver is set
    (a resolver may look at any claim). Bounded to ``max_entries``.
    """

    def __init__(
        self,
        settings: Settings,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = 0.0 if settings.user_resolver is not None else settings.user_cache_seconds
        self._user_claim = settings.user_claim
        self._clock = clock
        self._entries: BoundedMap[tuple[Any, Any], tuple[str, Optional[int], float]] = BoundedMap(
            max_entries
        )

    def get(self, claims: Mapping[str, Any]) -> Optional[Identity]:
        if not self._ttl:
            return None
        entry = self._entries.get((claims["iss"], claims[self._user_claim]))
        if entry is None or entry[2] <= self._clock():
            return None
        return Identity._of_cached_user(entry[0], claims, entry[1])

    def put(self, identity: Identity) -> None:
        if not self._ttl:
            return
        key = (identity.claims["iss"], identity.claims[self._user_claim])
        self._entries.put(key, (identity.username, identity.user_id, self._clock() + self._ttl))


def resolve_identity(
    claims: Mapping[str, Any], settings: Settings, security_manager: Any
) -> Identity:
    """Map verified claims to an active user, or raise :class:`TokenError`.

    With ``MCP_JWT_USER_RESOLVER`` set, it is called as
    ``resolver(claims, security_manager)`` and returns a user, a user name, or
    None or False (deny). Otherwise the ``MCP_JWT_USER_CLAIM`` claim is looked up as a
    user name and, if it contains ``@`` and ``MCP_JWT_EMAIL_FALLBACK`` is on, as
    an email address. Only active users are accepted. Runs in an app context.
    """
    try:
        return _resolve(claims, settings, security_manager)
    except TokenError as error:
        error.claims = dict(claims)
        raise


def _resolve(claims: Mapping[str, Any], settings: Settings, security_manager: Any) -> Identity:
    value = claims[settings.user_claim]
    if settings.user_resolver is not None:
        try:
            resolved = settings.user_resolver(claims, security_manager)
        except Exception as exc:
            logger.error(
                "MCP_JWT_USER_RESOLVER raised %s; the request is denied",
                exc.__class__.__name__,
                exc_info=settings.debug_errors,
            )
            raise TokenError(Reason.RESOLVER_FAILED, "the user resolver raised") from None
        if isinstance(resolved, str):
            user = security_manager.find_user(username=resolved)
        elif resolved is None or resolved is False:
            user = None
        elif isinstance(getattr(resolved, "username", None), str):
            user = resolved
        else:
            logger.error(
                "MCP_JWT_USER_RESOLVER returned a %s, not a user, user name or None; "
                "the request is denied",
                type(resolved).__name__,
            )
            raise TokenError(Reason.RESOLVER_FAILED, "the user resolver returned no user")
        how = "MCP_JWT_USER_RESOLVER"
    else:
        user = security_manager.find_user(username=value)
        if user is None and settings.email_fallback and "@" in value:
            user = security_manager.find_user(email=value)
        how = f"claim {settings.user_claim!r}"
    if user is None:
        raise TokenError(Reason.UNKNOWN_USER, f"no Superset user for {how} = {value!r}")
    if not getattr(user, "is_active", False):
        raise TokenError(Reason.INACTIVE_USER, f"user {user.username!r} is inactive")
    return Identity(
        user=user, username=user.username, claims=claims, user_id=getattr(user, "id", None)
    )
