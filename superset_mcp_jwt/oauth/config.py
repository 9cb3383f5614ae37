"""The ``MCP_OAUTH_*`` keys, read once into :class:`OAuthSettings` (fail closed)."""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from limits import parse_many

from ..errors import ConfigError
from ..keys import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, is_loopback_host, load_private_key
from ..values import boolean, number
from .models import allow_list_problem

logger = logging.getLogger(__name__)

#: The scopes this authorization server grants (see ``tokens.SCOPE_METHODS``).
SUPPORTED_SCOPES = ("mcp:read", "mcp:write", "mcp:sql", "mcp:all")

#: The documented default of ``MCP_OAUTH_ALLOWED_REDIRECT_URIS``: the callbacks of
#: the hosted MCP clients, matched exactly. Clients that listen on loopback
#: (Claude Code, Cursor desktop, VS Code desktop, mcp-remote, MCP Inspector) need
#: no entry: ``http://127.0.0.1``, ``http://localhost`` and ``http://[::1]`` on
#: any port are always allowed.
KNOWN_CLIENT_REDIRECT_URIS: tuple[str, ...] = (
    # Claude.ai, Claude Desktop, Claude mobile (custom connectors). Anthropic's
    # "Building custom connectors via remote MCP servers" (support.claude.com,
    # article 11503834) and claude.com/docs/connectors/building/authentication:
    # the callback is claude.ai's and may move to claude.com; allow both.
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
    # ChatGPT apps / connectors (developers.openai.com/apps-sdk/build/auth): the
    # stable callback, used when the authorization server advertises RFC 9207
    # `iss` support (ours does). Older connections used a per-connection
    # https://chatgpt.com/connector/oauth/{callback_id}, which no exact-match
    # list can cover: such a connection is re-created, or its exact URL added.
    "https://chatgpt.com/connector_platform_oauth_redirect",
    # VS Code (microsoft/vscode, MCP dynamic client registration; also the
    # redirect its docs ask identity providers to allow): the web redirector of
    # VS Code and VS Code Insiders. Its loopback http://127.0.0.1:33418/ is
    # covered by the loopback rule.
    "https://vscode.dev/redirect",
    "https://insiders.vscode.dev/redirect",
    # Cursor (cursor.com/docs/mcp): web and cloud agents use this callback; the
    # desktop app uses http://localhost:8787/callback (loopback); older desktop
    # versions used the private-use scheme below (RFC 8252 §7.1).
    "https://www.cursor.com/agents/mcp/oauth/callback",
    "cursor://anysphere.cursor-mcp/oauth/callback",
)

OAUTH_DEFAULTS: dict[str, Any] = {
    "MCP_OAUTH_ENABLED": False,
    "MCP_JWT_OAUTH_SERVER": None,
    "MCP_OAUTH_ISSUER": None,
    "MCP_OAUTH_RESOURCE": None,
    "MCP_OAUTH_PRIVATE_KEY": None,
    "MCP_OAUTH_ACCESS_TOKEN_TTL": 3600,
    "MCP_OAUTH_REFRESH_TOKEN_TTL": 30 * 86400,
    "MCP_OAUTH_AUTHORIZATION_CODE_TTL": 60,
    "MCP_OAUTH_DEFAULT_SCOPES": ["mcp:all"],
    "MCP_OAUTH_ALLOWED_REDIRECT_URIS": list(KNOWN_CLIENT_REDIRECT_URIS),
    "MCP_OAUTH_DYNAMIC_REGISTRATION": True,
    "MCP_OAUTH_CLIENT_METADATA_DOCUMENTS": True,
    "MCP_OAUTH_MAX_CLIENTS": 10000,
    "MCP_OAUTH_CIMD_TIMEOUT": 5,
    "MCP_OAUTH_CIMD_MAX_BYTES": 65536,
    "MCP_OAUTH_CIMD_CACHE_SECONDS": 3600,
    "MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES": False,
    # Refresh rotation without false logouts: a rotated-out refresh token presented again
    # this soon after its rotation gets new tokens in its family (0: strict single use).
    "MCP_OAUTH_REFRESH_TOKEN_GRACE_SECONDS": 60,
    "MCP_OAUTH_REFRESH_TOKEN_GRACE_REUSES": 20,
    # Registration storms (issue 17): unused registrations go after hours, idle ones after days.
    "MCP_OAUTH_UNUSED_CLIENT_TTL": 2 * 3600,
    "MCP_OAUTH_IDLE_CLIENT_TTL": 30 * 86400,
    # Per client address (as Superset sees it), in the `limits` notation Flask-Limiter uses.
    "MCP_OAUTH_RATE_LIMIT_REGISTRATION": "60 per minute",
    "MCP_OAUTH_RATE_LIMIT_TOKEN": "600 per minute",
    "MCP_OAUTH_RATE_LIMIT_REVOCATION": "120 per minute",
    "MCP_OAUTH_RATE_LIMIT_CONSENT": "60 per minute",
    "MCP_OAUTH_RATE_LIMIT_AUTHORIZATION": "120 per minute",
}

#: Which endpoints each ``MCP_OAUTH_RATE_LIMIT_*`` key limits (see ``oauth_views``).
RATE_LIMIT_KEYS = {
    "registration": "MCP_OAUTH_RATE_LIMIT_REGISTRATION",  # RFC 7591 and RFC 7592 requests
    "token": "MCP_OAUTH_RATE_LIMIT_TOKEN",
    "revocation": "MCP_OAUTH_RATE_LIMIT_REVOCATION",
    "consent": "MCP_OAUTH_RATE_LIMIT_CONSENT",  # the consent form's POST
    "authorization": "MCP_OAUTH_RATE_LIMIT_AUTHORIZATION",  # the authorization request's GET
}


@dataclass(frozen=True)
class OAuthSettings:
    """The authorization server's settings, validated. Build with :func:`parse_oauth_settings`."""

    enabled: bool
    issuer: str
    resource: str
    private_key: Any = field(default=None, repr=False)
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 86400
    authorization_code_ttl: int = 60
    default_scopes: tuple[str, ...] = ("mcp:all",)
    allowed_redirect_uris: tuple[str, ...] = KNOWN_CLIENT_REDIRECT_URIS
    dynamic_registration: bool = True
    client_metadata_documents: bool = True
    max_clients: int = 10000
    cimd_timeout: float = 5.0
    cimd_max_bytes: int = 65536
    cimd_cache_seconds: int = 3600
    cimd_allow_private_addresses: bool = False
    #: Seconds after its rotation a refresh token is still answered (0: strict single use).
    refresh_grace_seconds: int = 60
    #: How many answers one rotated-out refresh token gets within that window.
    refresh_grace_reuses: int = 20
    #: Seconds after which a registration that never redeemed a code is removed.
    unused_client_ttl: int = 2 * 3600
    #: Seconds after its last connection ended that a registered client is removed.
    idle_client_ttl: int = 30 * 86400
    #: Endpoint group (:data:`RATE_LIMIT_KEYS`) -> its per-address limit, e.g. ``"60 per minute"``.
    rate_limits: tuple[tuple[str, str], ...] = ()
    #: Every scope the server grants (metadata ``scopes_supported``).
    scopes_supported: tuple[str, ...] = SUPPORTED_SCOPES

    @property
    def asymmetric(self) -> bool:
        """True when access tokens are signed with ``private_key`` (and a JWKS is published)."""
        return self.private_key is not None


def own_server_switch(config: Mapping[str, Any], shared_switch: bool = False) -> tuple[bool, str]:
    """Whether this package's authorization server is on, and the key that decides it.

    ``MCP_JWT_OAUTH_SERVER`` decides when it is set. Unset, ``MCP_OAUTH_ENABLED``
    does, unless another authorization server in the app reads that key too
    (``shared_switch``: Superset's own), in which case this one stays off.
    """
    ours = config.get("MCP_JWT_OAUTH_SERVER")
    if ours is not None:
        return boolean(ours, "MCP_JWT_OAUTH_SERVER"), "MCP_JWT_OAUTH_SERVER"
    enabled = config.get("MCP_OAUTH_ENABLED")
    enabled = boolean(False if enabled is None else enabled, "MCP_OAUTH_ENABLED")
    return enabled and not shared_switch, "MCP_OAUTH_ENABLED"


def parse_oauth_settings(
    config: Mapping[str, Any], auth_enabled: bool, algorithm: str, shared_switch: bool = False
) -> Optional[OAuthSettings]:
    """Read the ``MCP_OAUTH_*`` keys; None when OAuth is off; :class:`ConfigError` if unsafe.

    ``shared_switch``: another authorization server reads ``MCP_OAUTH_ENABLED``
    (see :func:`own_server_switch`).
    """

    def get(key: str) -> Any:
        value = config.get(key, OAUTH_DEFAULTS[key])
        return OAUTH_DEFAULTS[key] if value is None else value

    enabled, switch = own_server_switch(config, shared_switch)
    if not enabled:
        return None
    if not auth_enabled:
        raise ConfigError(switch, "needs MCP_AUTH_ENABLED = True (OAuth tokens are bearer tokens)")
    issuer = public_url(get("MCP_OAUTH_ISSUER"), "MCP_OAUTH_ISSUER")
    resource = public_url(get("MCP_OAUTH_RESOURCE"), "MCP_OAUTH_RESOURCE")

    private_key = None
    pem = config.get("MCP_OAUTH_PRIVATE_KEY")
    if algorithm in HMAC_ALGORITHMS:
        if pem:
            raise ConfigError(
                "MCP_OAUTH_PRIVATE_KEY",
                f"cannot be used with {algorithm}: OAuth tokens are signed with the newest MCP_JWT_SECRET",
            )
    elif algorithm in ASYMMETRIC_ALGORITHMS:
        private_key = _private_key(pem, algorithm)
    else:
        raise ConfigError("MCP_JWT_ALGORITHM", "unsupported algorithm for OAuth tokens")

    default_scopes = _scopes(get("MCP_OAUTH_DEFAULT_SCOPES"), "MCP_OAUTH_DEFAULT_SCOPES")
    allowed = _redirect_uris(get("MCP_OAUTH_ALLOWED_REDIRECT_URIS"))
    allow_private = boolean(
        get("MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES"), "MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES"
    )
    if allow_private:
        logger.warning(
            "MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES is True: client metadata documents may be "
            "fetched from private and loopback addresses. Use this for development only."
        )
    def whole(key: str, low: int, high: int) -> int:
        return number(get(key), key, low, high, whole=True)

    return OAuthSettings(
        enabled=True,
        issuer=issuer,
        resource=resource,
        private_key=private_key,
        access_token_ttl=whole("MCP_OAUTH_ACCESS_TOKEN_TTL", 60, 86400),
        refresh_token_ttl=whole("MCP_OAUTH_REFRESH_TOKEN_TTL", 3600, 365 * 86400),
        authorization_code_ttl=whole("MCP_OAUTH_AUTHORIZATION_CODE_TTL", 10, 600),
        default_scopes=default_scopes,
        allowed_redirect_uris=allowed,
        dynamic_registration=boolean(get("MCP_OAUTH_DYNAMIC_REGISTRATION"), "MCP_OAUTH_DYNAMIC_REGISTRATION"),
        client_metadata_documents=boolean(
            get("MCP_OAUTH_CLIENT_METADATA_DOCUMENTS"), "MCP_OAUTH_CLIENT_METADATA_DOCUMENTS"
        ),
        max_clients=whole("MCP_OAUTH_MAX_CLIENTS", 1, 10_000_000),
        cimd_timeout=float(number(get("MCP_OAUTH_CIMD_TIMEOUT"), "MCP_OAUTH_CIMD_TIMEOUT", 0.5, 30)),
        cimd_max_bytes=whole("MCP_OAUTH_CIMD_MAX_BYTES", 1024, 1048576),
        cimd_cache_seconds=whole("MCP_OAUTH_CIMD_CACHE_SECONDS", 60, 86400),
        cimd_allow_private_addresses=allow_private,
        refresh_grace_seconds=whole("MCP_OAUTH_REFRESH_TOKEN_GRACE_SECONDS", 0, 3600),
        refresh_grace_reuses=whole("MCP_OAUTH_REFRESH_TOKEN_GRACE_REUSES", 1, 1000),
        unused_client_ttl=whole("MCP_OAUTH_UNUSED_CLIENT_TTL", 300, 7 * 86400),
        idle_client_ttl=whole("MCP_OAUTH_IDLE_CLIENT_TTL", 3600, 365 * 86400),
        rate_limits=tuple((group, _rate_limit(get(key), key)) for group, key in RATE_LIMIT_KEYS.items()),
    )


def public_url(value: Any, key: str) -> str:
    """An absolute https URL (http only on loopback), no query or fragment, trailing / stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, "is required when MCP_OAUTH_ENABLED is True (a public https URL)")
    try:
        parts = urllib.parse.urlsplit(value.strip())
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ConfigError(key, "is not a valid URL") from None
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ConfigError(key, "must not have a query or fragment")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(key, "must not contain user information")
    if not host or parts.scheme not in ("https", "http"):
        raise ConfigError(key, "must be an absolute https:// URL")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigError(key, "must be an https:// URL (plain http only on loopback)")
    return value.strip().rstrip("/")


def _private_key(pem: Any, algorithm: str) -> Any:
    key = "MCP_OAUTH_PRIVATE_KEY"
    if not pem:
        raise ConfigError(key, f"is required with {algorithm}: the PEM private key that signs OAuth tokens")
    if isinstance(pem, str):
        pem = pem.encode("utf-8")
    if not isinstance(pem, bytes) or b"PRIVATE KEY" not in pem:
        raise ConfigError(key, "must be a PEM private key (-----BEGIN PRIVATE KEY-----)")
    try:
        return load_private_key(algorithm, pem)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None
    except ConfigError as exc:
        raise ConfigError(key, f"is not a private key of the kind {algorithm} needs") from exc


def _scopes(value: Any, key: str) -> tuple[str, ...]:
    scopes = value.split() if isinstance(value, str) else value
    if not isinstance(scopes, (list, tuple)) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise ConfigError(key, "must be a non-empty list of scopes")
    unknown = [s for s in scopes if s not in SUPPORTED_SCOPES]
    if unknown:
        raise ConfigError(key, f"has unsupported scope(s) {unknown}; use {', '.join(SUPPORTED_SCOPES)}")
    return tuple(dict.fromkeys(scopes))


def _rate_limit(value: Any, key: str) -> str:
    """A limit in the notation of ``limits`` (Flask-Limiter's), e.g. ``"60 per minute"``."""
    if isinstance(value, str) and value.strip():
        try:
            if all(item.amount >= 1 for item in parse_many(value)):
                return value.strip()
        except ValueError:
            pass
    raise ConfigError(key, 'must be a rate limit such as "60 per minute" or "10/second;300/hour"')


def _redirect_uris(value: Any) -> tuple[str, ...]:
    key = "MCP_OAUTH_ALLOWED_REDIRECT_URIS"
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(key, "must be a list of exact redirect URIs")
    for uri in value:
        problem = allow_list_problem(uri)
        if problem is not None:
            raise ConfigError(key, f"{uri[:80]!r}: {problem}")
    return tuple(value)
