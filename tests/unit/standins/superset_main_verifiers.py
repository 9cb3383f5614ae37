"""Stand-ins for Superset main's own MCP token verifiers: the JWT one, API keys and guest tokens.

``CompositeTokenVerifier`` is shaped like apache/superset
``superset/mcp_service/composite_token_verifier.py`` as the index stores its
newest copy (guest tokens offered before the JWT verifier, API keys by prefix
validated against FAB at the transport and stamped with the namespaced
pass-through claims; the index did not name that copy's commit: the oldest,
fec56c7c1532037d6c5c0a15ac4099d98ce02696, only passes API keys through).
The per-key ``ApiKey.scopes`` of PR #42297 go on the access token's scopes.
``USERS_BY_API_KEY`` stands in for FAB's API-key table: key -> (username, scopes).
"""

from __future__ import annotations

from typing import Any

from fastmcp.server.auth import AccessToken

API_KEY_PASSTHROUGH_CLAIM = "_superset_mcp_api_key_passthrough"
API_KEY_VALIDATED_USERNAME_CLAIM = "_superset_mcp_validated_username"
GUEST_TOKEN_CLAIM = "_superset_mcp_guest_token"
USERS_BY_API_KEY: dict[str, tuple[str, list[str]]] = {}


class JWTVerifier:
    """Superset's JWT verifier (built from the MCP_JWT_* keys); not exercised here."""

    def __init__(self, config: Any) -> None:
        self.config = config


class GuestTokenVerifier:
    def __init__(self, app: Any) -> None:
        self.app = app


class CompositeTokenVerifier:
    def __init__(self, jwt_verifier: Any, api_key_prefixes: list[str], app: Any = None,
                 guest_verifier: Any = None) -> None:
        self.jwt_verifier = jwt_verifier
        self.api_key_prefixes = tuple(api_key_prefixes)
        self.app = app
        self.guest_verifier = guest_verifier

    def verify_api_key(self, token: str) -> AccessToken | None:
        if not token.startswith(self.api_key_prefixes) or token not in USERS_BY_API_KEY:
            return None
        username, scopes = USERS_BY_API_KEY[token]
        return AccessToken(token=token, client_id="api_key", scopes=list(scopes), claims={
            API_KEY_PASSTHROUGH_CLAIM: True, API_KEY_VALIDATED_USERNAME_CLAIM: username,
        })
