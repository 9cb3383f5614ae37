"""OAuthService: what the grants, the pages and the CLI use of the authorization server.

Core: no Flask. Issues token responses from the store's grants and the
issuer, and revokes: a revoked family's refresh tokens stop at the database,
its unexpired access tokens through the shared :class:`RevocationList` (the
one the Authenticator checks), by ``jti``.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

from ..revocation import RevocationList
from .config import OAuthSettings
from .issuer import AccessTokenIssuer
from .models import ClientInfo, Connection
from .store import CodeRecord, Grant, LiveJtis, OAuthStore, Refresh, RefreshRecord

logger = logging.getLogger("superset_mcp_jwt")


class OAuthService:
    """Token issuance and revocation over one :class:`OAuthStore`."""

    def __init__(
        self,
        store: OAuthStore,
        settings: OAuthSettings,
        issuer: AccessTokenIssuer,
        revocations: Optional[RevocationList] = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.issuer = issuer
        #: Where revoked access-token jtis go (None: they expire on their own, within the access TTL).
        self.revocations = revocations

    # --- issuance (the grants) ------------------------------------------------

    def redeem_code(self, code: CodeRecord, client_name: str) -> Optional[dict[str, Any]]:
        """The token response for a valid code, once; None if it was already used (family revoked)."""
        grant = self.store.redeem_code(
            code, client_name, self.settings.access_token_ttl, self.settings.refresh_token_ttl
        )
        if grant is None:
            self.code_replayed(code)
            return None
        logger.info(
            "MCP OAuth: tokens issued from a code: user=%s client=%s family=%s jti=%s",
            code.username, _short(code.client_id), grant.family_id, grant.jti,
        )
        return self._token_response(grant, code.username, code.scope.split(), code.client_id)

    def rotate(self, token: RefreshRecord, scopes: Sequence[str]) -> Optional[dict[str, Any]]:
        """The token response for a refresh (a new refresh token in the family); None if refused.

        Within ``MCP_OAUTH_REFRESH_TOKEN_GRACE_SECONDS`` of its rotation a spent
        token is answered too (a sibling in its family); later it is a replay,
        and its family is revoked.
        """
        settings = self.settings
        outcome = self.store.refresh(
            token, settings.access_token_ttl, settings.refresh_token_ttl,
            settings.refresh_grace_seconds, settings.refresh_grace_reuses,
        )
        grant = outcome.grant
        if outcome.kind is Refresh.ROTATED:
            logger.info(
                "MCP OAuth: refresh token rotated: user=%s client=%s family=%s jti=%s",
                token.username, _short(token.client_id), token.family_id, grant.jti,
            )
        elif outcome.kind is Refresh.GRACE:
            logger.warning(
                "MCP OAuth: refresh token presented again %ds after its rotation, within the grace "
                "window: new tokens in the same family (answer %d of at most %d): user=%s client=%s "
                "family=%s jti=%s",
                outcome.since_rotation, outcome.grace_answers, settings.refresh_grace_reuses,
                token.username, _short(token.client_id), token.family_id, grant.jti,
            )
        elif outcome.kind is Refresh.REPLAYED:
            self._replayed(token, outcome.since_rotation)
            self._stop(outcome.jtis)
        elif outcome.kind is Refresh.EXHAUSTED:
            logger.warning(
                "MCP OAuth: refresh token presented again %ds after its rotation, but its %d grace "
                "answers are used up: refused, nothing revoked: user=%s client=%s family=%s",
                outcome.since_rotation, settings.refresh_grace_reuses, token.username,
                _short(token.client_id), token.family_id,
            )
        if grant is None:
            return None
        return self._token_response(grant, token.username, scopes, token.client_id)

    def within_grace(self, token: RefreshRecord) -> bool:
        """True if a spent ``token`` was rotated out less than the grace window ago."""
        return token.used_at is not None and self.store.now() - token.used_at < self.settings.refresh_grace_seconds

    def code_replayed(self, code: CodeRecord) -> None:
        """A spent code came back: revoke the family it started (RFC 9700 §4.2.4)."""
        family_id = self.store.family_of_code(code.code_hash)
        logger.warning(
            "MCP OAuth: authorization code used twice: user=%s client=%s; revoking family %s",
            code.username, _short(code.client_id), family_id,
        )
        if family_id is not None:
            self.revoke_family(family_id)

    def refresh_replayed(self, token: RefreshRecord) -> None:
        """A spent refresh token came back after its grace window: revoke its whole family (RFC 9700 §4.14.2)."""
        since = self.store.now() - token.used_at if token.used_at is not None else None
        self._replayed(token, since)
        self.revoke_family(token.family_id)

    def _replayed(self, token: RefreshRecord, since_rotation: Optional[int]) -> None:
        logger.warning(
            "MCP OAuth: refresh token reused %s after its rotation (grace window %ds): user=%s client=%s; "
            "revoking family %s",
            f"{since_rotation}s" if since_rotation is not None else "long",
            self.settings.refresh_grace_seconds, token.username, _short(token.client_id), token.family_id,
        )

    def _token_response(
        self, grant: Grant, username: str, scopes: Sequence[str], client_id: str
    ) -> dict[str, Any]:
        issued_at = grant.access_expires_at - self.settings.access_token_ttl
        access_token = self.issuer.mint(
            username, scopes, client_id, grant.jti, issued_at, grant.access_expires_at
        )
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.settings.access_token_ttl,
            "refresh_token": grant.refresh_token,
            "scope": " ".join(scopes),
        }

    # --- revocation -----------------------------------------------------------

    def revoke_family(self, family_id: str) -> None:
        """Revoke one refresh-token family and its live access tokens."""
        self._stop(self.store.revoke_family(family_id)[1])

    def revoke_access_token(self, jti: str, expires_at: float) -> None:
        """Revoke one access token by ``jti`` (RFC 7009 for our JWTs); ``expires_at`` is its ``exp``."""
        self._stop([(jti, self.store.accepted_until(expires_at))])

    def _stop(self, jtis: LiveJtis) -> None:
        if not jtis:
            return
        if self.revocations is None:
            logger.warning(
                "MCP OAuth: no revocation store, so %d revoked access token(s) stay valid until "
                "they expire (at most MCP_OAUTH_ACCESS_TOKEN_TTL)", len(jtis),
            )
            return
        try:
            for jti, expires_at in jtis:
                self.revocations.revoke_jti(jti, until=expires_at)
        except Exception as exc:  # the refresh tokens are revoked already; never fail the request
            logger.error(
                "MCP OAuth: %d revoked access token(s) could not be written to the revocation store "
                "(%s); they stay valid until they expire (at most MCP_OAUTH_ACCESS_TOKEN_TTL)",
                len(jtis), exc.__class__.__name__,
            )

    # --- the pages and the CLI --------------------------------------------------

    def connections(self, username: Optional[str] = None) -> list[Connection]:
        """Live connections (families), newest first: one user's, or everyone's with None."""
        return self.store.live_families(username)

    def revoke_connection(self, connection_id: str, username: Optional[str] = None) -> bool:
        """Revoke one connection; with ``username``, only if it is theirs. True if one was revoked."""
        if username is None:
            count, jtis = self.store.revoke_family(connection_id)
        else:
            count, jtis = self.store.revoke_user_families(username, connection_id)
        self._stop(jtis)
        return count == 1

    def revoke_user(self, username: str) -> int:
        """Revoke every connection of ``username`` (and spend their pending codes): how many."""
        count, jtis = self.store.revoke_user_families(username)
        self._stop(jtis)
        if count:
            logger.info("MCP OAuth: %d connection(s) of user %s revoked", count, username)
        return count

    def clients(self) -> list[ClientInfo]:
        """Every stored client with its number of live connections."""
        return self.store.list_clients()

    def revoke_client(self, client_id: str) -> int:
        """Delete the client (a CIMD client is fetched anew on next use) and revoke its connections."""
        count, jtis = self.store.delete_client(client_id)
        self._stop(jtis)
        logger.info("MCP OAuth: client %s removed, %d connection(s) revoked", _short(client_id), count)
        return count


def _short(text: str) -> str:
    """A caller-chosen id, bounded and printable for one log line."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text[:100])
    return repr(cleaned)
