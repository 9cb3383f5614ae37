"""One validated settings object, read once from a Flask config mapping."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from .errors import ConfigError
from .values import boolean, number
from .keys import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, check_jwks_uri, load_public_key
from .oauth.config import OAUTH_DEFAULTS, OAuthSettings, parse_oauth_settings

logger = logging.getLogger(__name__)

#: The example secret printed in Superset's MCP documentation. It is public,
#: so a deployment that uses it accepts tokens anyone can sign.
PUBLISHED_EXAMPLE_SECRET = "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="

#: Our own keys and their defaults; Superset's documented keys are read as they are.
DEFAULTS: dict[str, Any] = {
    "MCP_AUTH_ENABLED": False,
    "MCP_DEV_USERNAME": None,
    "MCP_JWT_ALGORITHM": "HS256",
    "MCP_JWT_SECRET": None,
    "MCP_JWT_ISSUER": None,
    "MCP_JWT_AUDIENCE": None,
    "MCP_JWT_DEBUG_ERRORS": False,
    "MCP_REQUIRED_SCOPES": [],
    "MCP_JWT_LEEWAY": 30,
    "MCP_JWT_USER_CLAIM": "sub",
    "MCP_JWT_EMAIL_FALLBACK": True,
    "MCP_JWT_USER_RESOLVER": None,
    "MCP_JWT_PROTECTED_BLUEPRINTS": ["mcp"],
    "MCP_JWT_REALM": "superset-mcp",
    "MCP_JWT_TOKEN_PAGE": True,
    "MCP_JWT_TOKEN_PAGE_MAX_TTL": 7 * 86400,
    "MCP_JWT_SERVER_URL": None,
    "MCP_JWT_AUDIT_ACTION_LOG": True,
    "MCP_JWT_TOKEN_CACHE_SIZE": 4096,
    "MCP_JWT_USER_CACHE_SECONDS": 5,
    "MCP_JWKS_CACHE_SECONDS": 300,
    "MCP_JWKS_REFETCH_COOLDOWN": 30,
    "MCP_JWKS_TIMEOUT": 5,
    "MCP_JWKS_STALE_SECONDS": 86400,
    "MCP_JWT_REVOCATION_STORE": None,
    "MCP_JWT_REVOCATION_MEMO_SECONDS": 2,
    **OAUTH_DEFAULTS,
}


_MAX_LEEWAY_SECONDS = 600

UserResolver = Callable[[Mapping[str, Any], Any], Any]


@dataclass(frozen=True)
class Settings:
    """Everything the extension needs, validated. Build it with :meth:`from_config`."""

    auth_enabled: bool
    algorithm: str
    secret: bytes = field(repr=False)
    issuer: str
    audiences: frozenset[str]
    leeway: float
    user_claim: str
    email_fallback: bool
    user_resolver: Optional[UserResolver]
    required_scopes: tuple[str, ...]
    protected_blueprints: frozenset[str]
    realm: str
    debug_errors: bool
    dev_username: Optional[str]
    token_page: bool = False
    token_page_max_ttl: int = 0
    server_url: str = ""
    audit_action_log: bool = False
    secrets: tuple[bytes, ...] = field(default=(), repr=False)
    public_key: Any = field(default=None, repr=False)
    jwks_uri: Optional[str] = None
    jwks_cache_seconds: float = 300.0
    jwks_cooldown_seconds: float = 30.0
    jwks_timeout_seconds: float = 5.0
    jwks_stale_seconds: float = 86400.0
    revocation_store: Any = None
    revocation_memo_seconds: float = 2.0
    token_cache_size: int = 0
    user_cache_seconds: float = 0.0
    #: The OAuth authorization server's settings; None when ``MCP_OAUTH_ENABLED`` is off.
    oauth: Optional[OAuthSettings] = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], oauth_switch_shared: bool = False) -> "Settings":
        """Read and validate the ``MCP_*`` keys; raise :class:`ConfigError` on anything unsafe.

        ``oauth_switch_shared``: another authorization server in the app reads
        ``MCP_OAUTH_ENABLED`` too (Superset's own; see ``oauth.config.own_server_switch``).
        """

        def get(key: str) -> Any:
            value = config.get(key, DEFAULTS[key])
            return DEFAULTS[key] if value is None and key not in _NULLABLE else value

        auth_enabled = boolean(get("MCP_AUTH_ENABLED"), "MCP_AUTH_ENABLED")
        debug_errors = boolean(get("MCP_JWT_DEBUG_ERRORS"), "MCP_JWT_DEBUG_ERRORS")
        dev_username = get("MCP_DEV_USERNAME")
        if dev_username is not None and not (isinstance(dev_username, str) and dev_username):
            raise ConfigError("MCP_DEV_USERNAME", "must be a user name or None")
        realm = _non_empty_str(get("MCP_JWT_REALM"), "MCP_JWT_REALM")
        if '"' in realm or "\\" in realm:
            raise ConfigError("MCP_JWT_REALM", "must not contain quotes or backslashes")
        protected = _str_list(
            get("MCP_JWT_PROTECTED_BLUEPRINTS"),
            "MCP_JWT_PROTECTED_BLUEPRINTS",
            allow_empty=True,
            allow_single=False,
        )
        resolver = get("MCP_JWT_USER_RESOLVER")
        if resolver is not None and not callable(resolver):
            raise ConfigError("MCP_JWT_USER_RESOLVER", "must be a callable or None")

        if not auth_enabled:
            # Refuses this package's OAuth server without auth.
            parse_oauth_settings(config, auth_enabled=False, algorithm="", shared_switch=oauth_switch_shared)
            return cls(
                auth_enabled=False,
                algorithm="",
                secret=b"",
                issuer="",
                audiences=frozenset(),
                leeway=0.0,
                user_claim="sub",
                email_fallback=False,
                user_resolver=None,
                required_scopes=(),
                protected_blueprints=frozenset(protected),
                realm=realm,
                debug_errors=debug_errors,
                dev_username=dev_username,
            )

        if dev_username is not None:
            raise ConfigError(
                "MCP_DEV_USERNAME",
                "must be None when MCP_AUTH_ENABLED is True; otherwise every MCP "
                "caller could act as that user",
            )
        algorithm = get("MCP_JWT_ALGORITHM")
        if not isinstance(algorithm, str) or algorithm.lower() == "none":
            raise ConfigError(
                "MCP_JWT_ALGORITHM", "unsigned tokens (alg none) are never accepted"
            )
        if algorithm not in HMAC_ALGORITHMS and algorithm not in ASYMMETRIC_ALGORITHMS:
            raise ConfigError(
                "MCP_JWT_ALGORITHM",
                "unsupported algorithm; use one of "
                + ", ".join([*HMAC_ALGORITHMS, *sorted(ASYMMETRIC_ALGORITHMS)]),
            )
        secrets: tuple[bytes, ...] = ()
        public_key = jwks_uri = None
        given = [k for k in ("MCP_JWT_SECRET", "MCP_JWT_PUBLIC_KEY", "MCP_JWKS_URI") if config.get(k)]
        if algorithm in HMAC_ALGORITHMS:
            # Key-confusion guard: an HMAC algorithm takes only a shared secret.
            for key in ("MCP_JWT_PUBLIC_KEY", "MCP_JWKS_URI"):
                if key in given:
                    raise ConfigError(key, f"cannot be used with {algorithm}, which takes MCP_JWT_SECRET")
            secrets = _secrets(config.get("MCP_JWT_SECRET"), algorithm)
        else:
            if "MCP_JWT_SECRET" in given:
                raise ConfigError(
                    "MCP_JWT_SECRET",
                    f"cannot be used with {algorithm}; set MCP_JWT_PUBLIC_KEY or MCP_JWKS_URI",
                )
            if len(given) != 1:
                raise ConfigError(
                    "MCP_JWT_PUBLIC_KEY",
                    f"{algorithm} needs exactly one of MCP_JWT_PUBLIC_KEY and MCP_JWKS_URI",
                )
            if "MCP_JWT_PUBLIC_KEY" in given:
                public_key = load_public_key(algorithm, config["MCP_JWT_PUBLIC_KEY"])
            else:
                jwks_uri = check_jwks_uri(config["MCP_JWKS_URI"])
        issuer = _non_empty_str(get("MCP_JWT_ISSUER"), "MCP_JWT_ISSUER")
        audiences = _str_list(get("MCP_JWT_AUDIENCE"), "MCP_JWT_AUDIENCE")
        scopes = get("MCP_REQUIRED_SCOPES")
        if isinstance(scopes, str):
            scopes = scopes.split()
        scopes = tuple(_str_list(scopes, "MCP_REQUIRED_SCOPES", allow_empty=True))

        leeway = number(get("MCP_JWT_LEEWAY"), "MCP_JWT_LEEWAY", 0, _MAX_LEEWAY_SECONDS)

        token_page = boolean(get("MCP_JWT_TOKEN_PAGE"), "MCP_JWT_TOKEN_PAGE")
        max_ttl = number(
            get("MCP_JWT_TOKEN_PAGE_MAX_TTL"), "MCP_JWT_TOKEN_PAGE_MAX_TTL", 3600, 90 * 86400, whole=True
        )
        server_url = config.get("MCP_JWT_SERVER_URL") or (
            f"http://{config.get('MCP_SERVICE_HOST') or 'localhost'}:"
            f"{config.get('MCP_SERVICE_PORT') or 5008}/mcp"
        )
        if not isinstance(server_url, str):
            raise ConfigError("MCP_JWT_SERVER_URL", "must be the MCP server's URL")

        return cls(
            auth_enabled=True,
            algorithm=algorithm,
            secret=secrets[0] if secrets else b"",
            secrets=secrets,
            public_key=public_key,
            jwks_uri=jwks_uri,
            jwks_cache_seconds=float(
                number(get("MCP_JWKS_CACHE_SECONDS"), "MCP_JWKS_CACHE_SECONDS", 10, 86400)
            ),
            jwks_cooldown_seconds=float(
                number(get("MCP_JWKS_REFETCH_COOLDOWN"), "MCP_JWKS_REFETCH_COOLDOWN", 1, 3600)
            ),
            jwks_timeout_seconds=float(number(get("MCP_JWKS_TIMEOUT"), "MCP_JWKS_TIMEOUT", 0.5, 60)),
            jwks_stale_seconds=float(
                number(get("MCP_JWKS_STALE_SECONDS"), "MCP_JWKS_STALE_SECONDS", 0, 7 * 86400)
            ),
            revocation_store=_revocation_store(config.get("MCP_JWT_REVOCATION_STORE")),
            revocation_memo_seconds=float(
                number(get("MCP_JWT_REVOCATION_MEMO_SECONDS"), "MCP_JWT_REVOCATION_MEMO_SECONDS", 0, 5)
            ),
            issuer=issuer,
            audiences=frozenset(audiences),
            leeway=float(leeway),
            user_claim=_non_empty_str(get("MCP_JWT_USER_CLAIM"), "MCP_JWT_USER_CLAIM"),
            email_fallback=boolean(get("MCP_JWT_EMAIL_FALLBACK"), "MCP_JWT_EMAIL_FALLBACK"),
            user_resolver=resolver,
            required_scopes=scopes,
            protected_blueprints=frozenset(protected),
            realm=realm,
            debug_errors=debug_errors,
            dev_username=None,
            token_page=token_page,
            token_page_max_ttl=max_ttl,
            server_url=server_url,
            audit_action_log=boolean(get("MCP_JWT_AUDIT_ACTION_LOG"), "MCP_JWT_AUDIT_ACTION_LOG"),
            token_cache_size=number(get("MCP_JWT_TOKEN_CACHE_SIZE"), "MCP_JWT_TOKEN_CACHE_SIZE", 0, 1_000_000, whole=True),
            user_cache_seconds=float(
                number(get("MCP_JWT_USER_CACHE_SECONDS"), "MCP_JWT_USER_CACHE_SECONDS", 0, 300)
            ),
            oauth=_oauth(config, algorithm, issuer, oauth_switch_shared),
        )

    def warn_if_unauthenticated(self, config: Mapping[str, Any]) -> None:
        """Log what an operator must know when authentication is off."""
        if self.auth_enabled:
            return
        if self.dev_username:
            logger.warning(
                "MCP_AUTH_ENABLED is False: every MCP request runs as MCP_DEV_USERNAME "
                "%r without authentication. Use this for development only.",
                self.dev_username,
            )
        if config.get("MCP_JWT_SECRET"):
            logger.warning(
                "MCP_JWT_SECRET is set but MCP_AUTH_ENABLED is False: bearer tokens "
                "are not checked."
            )


def _oauth(config: Mapping[str, Any], algorithm: str, issuer: str, shared_switch: bool) -> Optional[OAuthSettings]:
    oauth = parse_oauth_settings(config, auth_enabled=True, algorithm=algorithm, shared_switch=shared_switch)
    if oauth is not None and oauth.issuer == issuer:
        # Each issuer names its own keys and audience (tokens.trusted_issuers).
        raise ConfigError(
            "MCP_OAUTH_ISSUER",
            "must differ from MCP_JWT_ISSUER: Superset's own tokens and pasted ones are told apart by issuer",
        )
    return oauth


_NULLABLE = {"MCP_DEV_USERNAME", "MCP_JWT_USER_RESOLVER", "MCP_JWT_SECRET"}


def _non_empty_str(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, "must be a non-empty string")
    return value


def _str_list(
    value: Any, key: str, allow_empty: bool = False, allow_single: bool = True
) -> list[str]:
    values = [value] if allow_single and isinstance(value, str) else value
    if (
        not isinstance(values, (list, tuple, set, frozenset))
        or (not values and not allow_empty)
        or not all(isinstance(v, str) and v.strip() for v in values)
    ):
        shape = "a non-empty string or a list of them" if allow_single else "a list of names"
        raise ConfigError(key, f"must be {shape}")
    return list(values)


def _revocation_store(value: Any) -> Any:
    """None (Superset's metadata DB in Superset, off elsewhere), False (off), or a Flask-Caching config."""
    if value is None or value is False:
        return value
    if not isinstance(value, dict) or not isinstance(value.get("CACHE_TYPE"), str):
        raise ConfigError(
            "MCP_JWT_REVOCATION_STORE",
            'must be False, None, or a Flask-Caching config such as {"CACHE_TYPE": "RedisCache", ...}',
        )
    return dict(value)


def _secrets(value: Any, algorithm: str) -> tuple[bytes, ...]:
    """``MCP_JWT_SECRET``: one secret, or a list of them newest first (rotation)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ConfigError("MCP_JWT_SECRET", "is required when MCP_AUTH_ENABLED is True")
    secrets = tuple(_secret(v, algorithm) for v in values)
    if len(set(secrets)) != len(secrets):
        raise ConfigError("MCP_JWT_SECRET", "lists the same secret twice")
    return secrets


def _secret(value: Any, algorithm: str) -> bytes:
    key = "MCP_JWT_SECRET"
    if value is None or value == "" or value == b"":
        raise ConfigError(key, "is required when MCP_AUTH_ENABLED is True")
    if isinstance(value, str):
        raw = value.encode("utf-8")
    elif isinstance(value, bytes):
        raw = value
    else:
        raise ConfigError(key, "must be a string")
    if raw.lstrip().startswith((b"-----BEGIN", b"ssh-", b"{")):
        raise ConfigError(key, "looks like a PEM/SSH/JWK key; an HMAC algorithm needs a random secret")
    if raw.strip() == PUBLISHED_EXAMPLE_SECRET.encode():
        raise ConfigError(
            key,
            "is the example secret published in Superset's documentation; anyone "
            "can sign tokens with it. Generate your own: openssl rand -base64 48",
        )
    minimum = HMAC_ALGORITHMS[algorithm]
    if len(raw) < minimum:
        raise ConfigError(
            key,
            f"is {len(raw)} bytes; {algorithm} needs at least {minimum} random bytes "
            "(RFC 7518 §3.2). Generate one with: openssl rand -base64 48",
        )
    return raw
