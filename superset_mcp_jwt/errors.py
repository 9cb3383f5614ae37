"""The two error types: a rejected token, and a configuration that must not start."""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional


class Reason(Enum):
    """Why a request's bearer token was rejected.

    The value is the stable reason code written to logs; ``status`` and ``error``
    give the HTTP status and the RFC 6750 ``error`` attribute of the response;
    ``signed`` says the token's signature had been verified when it was refused.
    """

    MISSING_TOKEN = ("missing_token", 401, None, False)
    INVALID_REQUEST = ("invalid_request", 400, "invalid_request", False)
    TOKEN_TOO_LARGE = ("token_too_large", 401, "invalid_token", False)
    MALFORMED_TOKEN = ("malformed_token", 401, "invalid_token", False)
    UNSUPPORTED_HEADER = ("unsupported_header", 401, "invalid_token", False)
    BAD_ALGORITHM = ("bad_algorithm", 401, "invalid_token", False)
    BAD_SIGNATURE = ("bad_signature", 401, "invalid_token", False)
    UNKNOWN_KEY = ("unknown_key", 401, "invalid_token", False)
    KEYS_UNAVAILABLE = ("keys_unavailable", 503, "temporarily_unavailable", False)
    #: The revocation store (``MCP_JWT_REVOCATION_STORE``, by default the metadata DB) failed.
    STORE_UNAVAILABLE = ("store_unavailable", 503, "temporarily_unavailable", True)
    #: The metadata database failed while the token's user was looked up.
    DATABASE_UNAVAILABLE = ("database_unavailable", 503, "temporarily_unavailable", True)
    MISSING_CLAIM = ("missing_claim", 401, "invalid_token", True)
    BAD_CLAIM = ("bad_claim", 401, "invalid_token", True)
    EXPIRED = ("expired", 401, "invalid_token", True)
    NOT_YET_VALID = ("not_yet_valid", 401, "invalid_token", True)
    ISSUED_IN_FUTURE = ("issued_in_future", 401, "invalid_token", True)
    BAD_ISSUER = ("bad_issuer", 401, "invalid_token", True)
    BAD_AUDIENCE = ("bad_audience", 401, "invalid_token", True)
    BAD_SUBJECT = ("bad_subject", 401, "invalid_token", True)
    UNKNOWN_USER = ("unknown_user", 401, "invalid_token", True)
    INACTIVE_USER = ("inactive_user", 401, "invalid_token", True)
    RESOLVER_FAILED = ("resolver_failed", 401, "invalid_token", True)
    REVOKED = ("revoked", 401, "invalid_token", True)
    INSUFFICIENT_SCOPE = ("insufficient_scope", 403, "insufficient_scope", True)

    def __init__(self, code: str, status: int, error: Optional[str], signed: bool) -> None:
        self.code = code
        self.status = status
        self.error = error
        self.signed = signed


# What a client is told. Deliberately the same for every reason of one kind:
# the precise reason (which could reveal, e.g., that a user name exists) stays
# in the server log.
_CLIENT_DESCRIPTION = {
    None: "A bearer token is required.",
    "invalid_request": "The Authorization header is malformed.",
    "invalid_token": "The access token is invalid or expired.",
    "insufficient_scope": "The access token lacks a required scope.",
    "temporarily_unavailable": "Tokens cannot be verified right now; try again later.",
}
_RFC6750_ERRORS = {"invalid_request", "invalid_token", "insufficient_scope"}
#: ``Retry-After`` (seconds) on every 503: a dependency is down, not the token.
RETRY_AFTER_SECONDS = 5


class TokenError(Exception):
    """A bearer token was rejected.

    ``reason`` is stable and safe to log; ``detail`` explains the rejection to an
    operator and may quote claim values, so it is logged only when
    ``MCP_JWT_DEBUG_ERRORS`` is on and never sent to the client.
    """

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(reason.code)
        self.reason = reason
        self.detail = detail
        #: The verified claims, when the signature held (``reason.signed``).
        self.claims: Optional[dict[str, Any]] = None
        #: Safe to log at the default level: for an outage, the failing exception's class.
        self.cause = ""

    @classmethod
    def outage(cls, reason: Reason, exc: BaseException) -> "TokenError":
        """A dependency failed: ``reason`` (a 503), noting only the exception's class."""
        error = cls(reason, f"{exc.__class__.__name__}: {exc}")
        error.cause = exc.__class__.__name__
        return error

    @property
    def status(self) -> int:
        return self.reason.status

    def www_authenticate(
        self, realm: str, resource_metadata: Optional[str] = None, scope: Optional[str] = None
    ) -> str:
        """The ``WWW-Authenticate`` header value for this rejection (RFC 6750 §3).

        ``resource_metadata`` (RFC 9728 §5.1) and ``scope`` tell an OAuth client
        where to get a token and what to ask for; callers pass values free of quotes.
        """
        parts = [f'realm="{realm}"']
        if self.reason.error in _RFC6750_ERRORS:
            parts.append(f'error="{self.reason.error}"')
            parts.append(f'error_description="{_CLIENT_DESCRIPTION[self.reason.error]}"')
        if resource_metadata:
            parts.append(f'resource_metadata="{resource_metadata}"')
        if scope:
            parts.append(f'scope="{scope}"')
        return "Bearer " + ", ".join(parts)

    def headers(
        self, realm: str, resource_metadata: Optional[str] = None, scope: Optional[str] = None
    ) -> dict[str, str]:
        """Response headers: the challenge, ``no-store``, and ``Retry-After`` on a 503."""
        headers = {
            "WWW-Authenticate": self.www_authenticate(realm, resource_metadata, scope),
            "Cache-Control": "no-store",
        }
        if self.status == 503:
            headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return headers

    def body(self) -> dict[str, str]:
        """A generic JSON body: never the reason detail, a claim or a key."""
        return {
            "error": self.reason.error or "unauthorized",
            "error_description": _CLIENT_DESCRIPTION[self.reason.error],
        }


class ConfigError(Exception):
    """The configuration is unsafe or invalid: the application must not start.

    The message names the config key and the fix; it never contains a secret.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"superset-mcp-jwt: {key}: {problem}")
        self.key = key
