"""Core authentication: bearer header values in, an :class:`Identity` (and audit lines) out.

Knows neither Flask nor FastMCP: the faces hand it header values, the caller's
User-Agent and a security manager to look users up with.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Sequence

from .bounded import BoundedMap
from .errors import Reason, TokenError
from .identity import Identity, IdentityCache, resolve_identity
from .oauth.resource import challenge
from .recorder import NULL_RECORDER, Recorder
from .revocation import RevocationList
from .settings import Settings
from .tokens import TokenVerifier, bearer_token

logger = logging.getLogger("superset_mcp_jwt")

#: ``action_log(user_id, record)``: where audit records go besides the server log.
ActionLog = Callable[[Optional[int], dict[str, Any]], None]


class Authenticator:
    """Verifies a request's token, checks revocation, resolves the user, audits the outcome."""

    def __init__(
        self,
        settings: Settings,
        verifier: TokenVerifier,
        revocations: Optional[RevocationList] = None,
        action_log: Optional[ActionLog] = None,
        recorder: Recorder = NULL_RECORDER,
    ) -> None:
        self.settings = settings
        self.verifier = verifier
        #: Revoked tokens and subjects shared by every replica, if a store is configured.
        self.revocations = revocations
        #: Superset's event logger (its action log), when there is one. Must be
        #: cheap: it is called on the request path.
        self.action_log = action_log
        #: Where accepted and rejected tokens are counted (Superset's STATS_LOGGER).
        self.recorder = recorder
        self._identities = IdentityCache(settings)
        #: The parameters of every ``WWW-Authenticate`` challenge the faces send.
        self.challenge = challenge(settings)
        self._rejections_logged: BoundedMap[tuple[int, Reason], None] = BoundedMap(4096)
        self._accepted_logged: BoundedMap[int, bool] = BoundedMap(max(settings.token_cache_size, 4096))

    def authenticate(
        self,
        authorization: Sequence[str],
        security_manager: Any,
        client: Optional[str] = None,
        need_user: bool = True,
    ) -> Identity:
        """Turn a request's ``Authorization`` header values into an :class:`Identity`.

        Raises :class:`TokenError` when the request must be refused. Either way
        one audit line is logged (``client`` is the caller's User-Agent, if any).
        With ``need_user=False`` the identity may come from the short-lived
        :class:`IdentityCache` (``user`` is then None). Needs an app context
        (the user lookup goes through ``security_manager``).
        """
        token = None
        try:
            token = bearer_token(authorization)
            claims = self.verifier.verify(token)
            if self.revocations is not None:
                self.revocations.check(claims)
            identity = None if need_user else self._identities.get(claims)
            if identity is None:
                try:
                    identity = resolve_identity(claims, self.settings, security_manager)
                except TokenError:
                    raise
                except Exception as exc:  # the metadata DB is down: 503, never 500
                    raise TokenError.outage(Reason.DATABASE_UNAVAILABLE, exc) from None
                self._identities.put(identity)
        except TokenError as error:
            self._audit_rejection(error, token, _Printable(client))
            raise
        self._audit_acceptance(identity, token, client)
        return identity

    def authenticate_from_cache(
        self, authorization: Sequence[str], client: Optional[str] = None
    ) -> Optional[Identity]:
        """The identity of a valid token whose user is cached, else None.

        Pure memory, no app context, no I/O: the fast path for repeated tokens,
        and for first-seen ones when the keys are local (HMAC secrets or a PEM
        key) and the user and the revocation snapshot are in memory. Anything
        else, rejections included, returns None and is left to
        :meth:`authenticate`, which also logs it.
        """
        try:
            token = bearer_token(authorization)
            if self.verifier.keys_may_block and not self.verifier.is_cached(token):
                return None
            claims = self.verifier.verify(token)
        except TokenError:
            return None
        if self.revocations is not None and not self.revocations.known_not_revoked(claims):
            return None
        identity = self._identities.get(claims)
        if identity is not None:
            self._audit_acceptance(identity, token, client)
        return identity

    def _audit_acceptance(self, identity: Identity, token: str, client: Optional[str]) -> None:
        self.recorder.token_accepted()
        jti = identity.claims.get("jti")
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "MCP bearer token accepted: user=%s jti=%s client=%s",
                identity.username, _Printable(jti if isinstance(jti, str) else None), _Printable(client),
            )
        # The action log (a database write, queued) records a token's first
        # acceptance in this process, not every request: an AI client sends
        # bursts with one token.
        key = hash(token)
        if (
            self.action_log is not None
            and self._accepted_logged.get(key) is None
            and self._accepted_logged.add(key, True)
        ):
            self.action_log(
                identity.user_id,
                {"outcome": "accepted", "user": identity.username, "jti": jti, "client": str(_Printable(client))},
            )

    def _audit_rejection(self, error: TokenError, token: Optional[str], client: "_Printable") -> None:
        self.recorder.token_rejected(error.reason)
        level = logging.INFO if error.reason is Reason.MISSING_TOKEN else logging.WARNING
        detail = f" ({error.cause})" if error.cause else ""
        if self.settings.debug_errors:
            detail = f": {error.detail}"
        logger.log(level, "MCP bearer token rejected: %s%s client=%s", error.reason.code, detail, client)
        # Only tokens signed with our key reach the action log, once per token
        # and reason, so neither junk nor a retrying client can flood it; an
        # outage (503) says nothing about the token.
        if (
            self.action_log is not None
            and error.reason.signed
            and error.status != 503
            and error.claims is not None
            and self._rejections_logged.add((hash(token), error.reason), None)
        ):
            self.action_log(
                None,
                {"outcome": "rejected", "reason": error.reason.code,
                 "jti": error.claims.get("jti"), "client": str(client)},
            )


class _Printable:
    """A caller-supplied label, made safe for one log line when (and only if) it is logged."""

    __slots__ = ("_text",)

    def __init__(self, text: Optional[str]) -> None:
        self._text = text

    def __str__(self) -> str:
        if not self._text:
            return "-"
        cleaned = "".join(c if " " <= c <= "~" else "?" for c in self._text[:80])
        return repr(cleaned)
