"""Bearer-token verification: the Authorization header in, verified claims out.

Knows neither Flask nor FastMCP. The JWS layer (signature) is PyJWT's algorithm
object for the one configured algorithm; the JOSE header and the claims are
parsed here, strictly, so every failure has its own reason code.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Optional, Sequence

import jwt

from .bounded import BoundedMap
from .errors import Reason, TokenError
from .keys import HMAC_ALGORITHMS, JWKSKeys, KeySource, StaticKeys, algorithm_object, key_id, key_source
from .settings import Settings

#: Tokens longer than this are refused before any decoding (bounded work per request).
MAX_TOKEN_CHARS = 8192
#: Longer (valid) tokens are verified every time instead of cached.
MAX_CACHED_TOKEN_CHARS = 2048

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_ACCEPTED_TYP = {"jwt", "at+jwt", "application/jwt", "application/at+jwt"}
_NUMERIC_CLAIMS = ("exp", "nbf", "iat")
_MAX_NUMERIC_DATE = 2**53  # JSON's exactly representable integers; NaN and inf fail too


def bearer_token(authorization: Sequence[str]) -> str:
    """Return the token from the request's ``Authorization`` header values.

    Only the header is read: never the query string, a cookie or the body.
    """
    if not authorization:
        raise TokenError(Reason.MISSING_TOKEN, "no Authorization header")
    if len(authorization) > 1:
        raise TokenError(Reason.INVALID_REQUEST, "more than one Authorization header")
    scheme, _, rest = authorization[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise TokenError(
            Reason.MISSING_TOKEN,
            f"Authorization scheme is {scheme[:20]!r}, expected Bearer",
        )
    parts = rest.split()
    if len(parts) != 1:
        raise TokenError(
            Reason.INVALID_REQUEST,
            "Authorization: Bearer must be followed by exactly one token",
        )
    return parts[0]


class TokenVerifier:
    """Verifies compact JWS tokens against one :class:`Settings`.

    ``verify`` returns the claims of a valid token or raises :class:`TokenError`.
    """

    def __init__(self, settings: Settings) -> None:
        if not settings.auth_enabled:
            raise ValueError("TokenVerifier needs settings with auth enabled")
        self.settings = settings
        self._algorithm = algorithm_object(settings.algorithm)
        self.keys = key_source(settings)
        self._issuers = trusted_issuers(settings, self.keys)
        # Tied to this verifier, so it never outlives the settings or the secret.
        self._cache = VerifiedTokenCache(settings.token_cache_size)

    def verify(self, token: str, now: Optional[float] = None) -> dict[str, Any]:
        """Check size, shape, header, signature and claims; return the claims.

        A token verified before is answered from a bounded cache, but its time
        claims (``exp``, ``nbf``, ``iat``) are checked again on every call. The
        result is a new dict each time; nested lists and objects come back as
        tuples and read-only mappings (see :func:`thaw`).
        """
        now = time.time() if now is None else now
        frozen = self._cache.get(token)
        if frozen is None:
            claims = self._verify_signed(token)
            self._check_claims(claims, now, first_seen=True)
            frozen = freeze(claims)
            self._cache.put(token, frozen)
        else:
            self._check_claims(frozen, now, first_seen=False)
        # Each caller gets its own dict (nested values are immutable), so no
        # caller can change what the next request with this token sees.
        return dict(frozen)

    def is_cached(self, token: str) -> bool:
        """True if ``token`` was verified before and is still in the cache."""
        return self._cache.get(token) is not None

    @property
    def keys_may_block(self) -> bool:
        """True if verifying a new token may wait on the network (keys from a JWKS URL)."""
        return isinstance(self.keys, JWKSKeys)

    def _verify_signed(self, token: str) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenError(
                Reason.TOKEN_TOO_LARGE,
                f"token is {len(token)} characters, the limit is {MAX_TOKEN_CHARS}",
            )
        if not _COMPACT_JWS.fullmatch(token):
            raise TokenError(
                Reason.MALFORMED_TOKEN,
                "not a compact JWS (three base64url parts joined by dots)",
            )
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = _json_object(header_b64, "header")
        self._check_header(header)

        signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
        signature = _b64decode(signature_b64, "signature")
        candidates = self._keys_for(payload_b64).candidates(header.get("kid"))
        if not any(self._algorithm.verify(signing_input, key, signature) for key in candidates):
            raise TokenError(
                Reason.BAD_SIGNATURE,
                "signature does not match the configured key(s) (signed with another "
                "key, or the token was altered)",
            )
        return _json_object(payload_b64, "payload")

    def _keys_for(self, payload_b64: str) -> KeySource:
        """The keys of the issuer the (not yet verified) payload names: a hint, like ``kid``.

        Whichever keys verify the signature, :meth:`_check_values` then requires
        the signed ``iss`` and ``aud`` to be that same issuer's.
        """
        if len(self._issuers) == 1:
            return self.keys
        try:
            issuer = self._issuers.get(_json_object(payload_b64, "payload").get("iss"))
        except (TokenError, TypeError):  # unreadable, or an unhashable iss
            issuer = None
        return issuer.keys if issuer is not None else self.keys

    def _check_header(self, header: dict[str, Any]) -> None:
        alg = header.get("alg")
        if alg != self.settings.algorithm:
            raise TokenError(
                Reason.BAD_ALGORITHM,
                f"token alg is {_shown(alg)}, MCP_JWT_ALGORITHM is "
                f"{self.settings.algorithm!r}",
            )
        if "crit" in header or "b64" in header:
            raise TokenError(
                Reason.UNSUPPORTED_HEADER,
                "header has crit/b64 extensions, which this server does not implement",
            )
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYP):
            raise TokenError(Reason.UNSUPPORTED_HEADER, f"header typ is {_shown(typ)}, expected JWT")

    def _check_claims(self, claims: Mapping[str, Any], now: float, first_seen: bool) -> None:
        """All claim rules for a new token; only the time rules for a cached one."""
        try:
            if first_seen:
                self._check_shape(claims)
            self._check_times(claims, now)
            if first_seen:
                self._check_values(claims)
        except TokenError as error:
            error.claims = dict(claims)
            raise

    def _check_shape(self, claims: dict[str, Any]) -> None:
        for name in ("exp", "iss", "aud", "sub", self.settings.user_claim):
            if name not in claims:
                raise TokenError(Reason.MISSING_CLAIM, f"required claim {name!r} is missing")
        for name in _NUMERIC_CLAIMS:
            if name in claims and not _is_numeric_date(claims[name]):
                raise TokenError(Reason.BAD_CLAIM, f"claim {name!r} is not a NumericDate")
        if "jti" in claims and not isinstance(claims["jti"], str):
            raise TokenError(Reason.BAD_CLAIM, "claim 'jti' is not a string")

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        leeway = self.settings.leeway
        exp = claims["exp"]
        if now >= exp + leeway:
            raise TokenError(
                Reason.EXPIRED,
                f"token expired {_duration(now - exp)} ago (leeway {leeway:g}s)",
            )
        nbf = claims.get("nbf")
        if nbf is not None and now + leeway < nbf:
            raise TokenError(
                Reason.NOT_YET_VALID,
                f"token is not valid for another {_duration(nbf - now)} "
                f"(nbf; leeway {leeway:g}s)",
            )
        iat = claims.get("iat")
        if iat is not None and iat > now + leeway:
            raise TokenError(
                Reason.ISSUED_IN_FUTURE,
                f"token iat is {_duration(iat - now)} in the future (leeway {leeway:g}s); "
                "check the signing machine's clock",
            )

    def _check_values(self, claims: dict[str, Any]) -> None:
        s = self.settings
        iss = claims["iss"]
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            expected = " and ".join(f"{i.issuer_key} is {i.issuer!r}" for i in self._issuers.values())
            raise TokenError(Reason.BAD_ISSUER, f"iss is {_shown(iss)}, {expected}")
        aud = claims["aud"]
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise TokenError(Reason.BAD_CLAIM, "claim 'aud' is not a string or list of strings")
        # RFC 8707: a token is for the audiences its own issuer serves.
        if issuer.audiences.isdisjoint(audiences):
            raise TokenError(
                Reason.BAD_AUDIENCE,
                f"aud is {_shown(aud)}, {issuer.audience_key} is {sorted(issuer.audiences)!r}",
            )
        for name in {"sub", s.user_claim}:
            value = claims[name]
            if not isinstance(value, str) or not value.strip():
                raise TokenError(
                    Reason.BAD_SUBJECT, f"claim {name!r} must be a non-empty string"
                )
        missing = [scope for scope in s.required_scopes if scope not in token_scopes(claims)]
        if missing:
            raise TokenError(
                Reason.INSUFFICIENT_SCOPE,
                f"token lacks required scope(s) {missing} (MCP_REQUIRED_SCOPES)",
            )


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuer whose tokens are accepted: for which audiences, checked with which keys."""

    issuer: str
    audiences: frozenset[str]
    keys: KeySource
    #: The config keys that set ``issuer`` and ``audiences`` (named in rejection details).
    issuer_key: str = "MCP_JWT_ISSUER"
    audience_key: str = "MCP_JWT_AUDIENCE"


def trusted_issuers(settings: Settings, keys: KeySource) -> dict[str, TrustedIssuer]:
    """The configured token issuers: ``MCP_JWT_ISSUER``, and Superset itself when OAuth is on.

    Superset's OAuth tokens are for ``MCP_OAUTH_RESOURCE`` only; in HMAC modes
    they are signed with the same secrets, otherwise with ``MCP_OAUTH_PRIVATE_KEY``.
    """
    issuers = {settings.issuer: TrustedIssuer(settings.issuer, settings.audiences, keys)}
    oauth = settings.oauth
    if oauth is not None:
        own_keys = keys
        if settings.algorithm not in HMAC_ALGORITHMS:
            own_keys = StaticKeys([("", oauth.private_key.public_key())])
        issuers[oauth.issuer] = TrustedIssuer(
            oauth.issuer, frozenset({oauth.resource}), own_keys,
            issuer_key="MCP_OAUTH_ISSUER", audience_key="MCP_OAUTH_RESOURCE",
        )
    return issuers


#: Claims that :func:`sign_token` sets itself and extra claims may not override.
REGISTERED_CLAIMS = frozenset({"sub", "iss", "aud", "iat", "exp", "jti", "nbf"})


def sign_token(
    settings: Settings,
    subject: str,
    ttl_seconds: int,
    scopes: Sequence[str] = (),
    claims: Optional[Mapping[str, Any]] = None,
    now: Optional[float] = None,
    private_key: Any = None,
    kid: Optional[str] = None,
) -> str:
    """Sign a token exactly as :class:`TokenVerifier` verifies it.

    Sets ``sub``, ``iss``, ``aud``, ``iat``, ``exp`` and a random ``jti``; ``scopes``
    go into ``scope`` (space-separated); ``claims`` adds anything else. HMAC
    modes sign with the newest ``MCP_JWT_SECRET`` and stamp its ``kid``;
    asymmetric modes need ``private_key`` (and take an optional ``kid``).
    """
    if settings.algorithm in HMAC_ALGORITHMS:
        private_key, kid = settings.secrets[0], key_id(settings.secrets[0])
    elif private_key is None:
        raise ValueError(f"{settings.algorithm} tokens need a private key to sign")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    clash = REGISTERED_CLAIMS.intersection(claims or {})
    if clash:
        raise ValueError(f"claims may not set {', '.join(sorted(clash))}")
    issued = int(time.time() if now is None else now)
    audiences = sorted(settings.audiences)
    payload: dict[str, Any] = dict(claims or {})
    payload.update(
        sub=subject,
        iss=settings.issuer,
        aud=audiences[0] if len(audiences) == 1 else audiences,
        iat=issued,
        exp=issued + int(ttl_seconds),
        jti=uuid.uuid4().hex,
    )
    if scopes:
        payload["scope"] = " ".join(scopes)
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, private_key, algorithm=settings.algorithm, headers=headers)


class VerifiedTokenCache:
    """Frozen claims of tokens whose signature and static claims were verified.

    Keyed by the token itself (one spelling per token: only canonical base64url
    is accepted). Bounded: at most ``max_entries`` tokens of at most
    ``MAX_CACHED_TOKEN_CHARS`` characters; the oldest entry goes first. Only
    tokens that passed verification get in, so forged tokens cannot fill it.
    """

    def __init__(self, max_entries: int) -> None:
        self._entries: BoundedMap[str, Mapping[str, Any]] = BoundedMap(max_entries)

    def get(self, token: str) -> Optional[Mapping[str, Any]]:
        return self._entries.get(token)

    def put(self, token: str, claims: Mapping[str, Any]) -> None:
        if len(token) <= MAX_CACHED_TOKEN_CHARS:
            self._entries.put(token, claims)

    def __len__(self) -> int:
        return len(self._entries)


def _is_numeric_date(value: Any) -> bool:
    # Bounded so that arithmetic with it can neither overflow nor lose meaning.
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and -_MAX_NUMERIC_DATE < value < _MAX_NUMERIC_DATE
    )


#: Superset main's per-resource scopes ``superset:<resource>:<action>`` (apache/superset
#: PR #42297, superset/security/api_key_scopes.py): the resource of each tool permission
#: class, and the permission methods each action covers.
RESOURCE_SCOPE_NAMES: dict[str, str] = {
    "Annotation": "annotation", "Chart": "chart", "Dashboard": "dashboard", "Database": "database",
    "Dataset": "dataset", "Explore": "explore", "Query": "query", "ReportSchedule": "report",
    "Role": "role", "Row Level Security": "rls", "SavedQuery": "savedquery", "SQLLab": "sqllab",
    "Tag": "tag", "Task": "task", "Theme": "theme", "User": "user",
}
SCOPE_ACTION_METHODS: dict[str, frozenset[str]] = {
    "read": frozenset({"read", "get"}),
    "write": frozenset({"write", "update", "delete", "execute_sql_query"}),
}


#: What each ``mcp:`` scope lets a token do, as Superset MCP tool permission
#: methods (``can_<method>``); the effective right is the user's RBAC ∩ these.
#: ``superset:read`` / ``superset:write`` are the scopes newer Superset releases
#: check themselves, mapped as they map them (write covers updates, deletes and SQL).
SCOPE_METHODS: dict[str, frozenset[str]] = {
    "mcp:read": frozenset({"read"}),
    "mcp:write": frozenset({"read", "write"}),
    "mcp:sql": frozenset({"read", "execute_sql_query"}),
    "mcp:all": frozenset({"*"}),
    "superset:read": SCOPE_ACTION_METHODS["read"],
    "superset:write": SCOPE_ACTION_METHODS["write"],
}
_NARROWING_PREFIXES = ("mcp:", "superset:")


def allowed_methods(scopes: Sequence[str]) -> Optional[frozenset[str]]:
    """The tool permission methods a token's scopes allow on every tool; None when it has no narrowing scope.

    A token without any ``mcp:`` or ``superset:`` scope (the documented shape)
    acts with the user's full rights; one with such scopes only within them
    (unknown ones grant nothing; per-resource ones grant on their resource
    only, see :func:`scope_allows`).
    """
    narrowing = [s for s in scopes if s.startswith(_NARROWING_PREFIXES)]
    if not narrowing:
        return None
    return frozenset().union(*(SCOPE_METHODS.get(scope, frozenset()) for scope in narrowing))


def resource_scope(class_name: Optional[str], method: str) -> Optional[str]:
    """The per-resource scope that grants ``can_<method>`` on ``class_name``, if there is one."""
    resource = RESOURCE_SCOPE_NAMES.get(class_name) if class_name else None
    action = next((a for a, methods in SCOPE_ACTION_METHODS.items() if method in methods), None)
    return f"superset:{resource}:{action}" if resource and action else None


def scope_for_method(method: str) -> str:
    """The narrowest ``mcp:`` scope that grants tool permission ``can_<method>`` (else ``mcp:all``)."""
    granting = [
        (len(methods), name)
        for name, methods in SCOPE_METHODS.items()
        if name.startswith("mcp:") and method in methods
    ]
    return min(granting)[1] if granting else next(
        name for name, methods in SCOPE_METHODS.items() if "*" in methods
    )



def scope_allows(scopes: Sequence[str], class_name: Optional[str], method: str) -> Optional[bool]:
    """Whether the scopes let a token use ``can_<method>`` on ``class_name``; None: no narrowing scope.

    A tool without a permission class (``class_name`` None) needs the method
    on every tool, as Superset main decides (a per-resource scope reaches no
    such tool).
    """
    methods = allowed_methods(scopes)
    if methods is None:
        return None
    return "*" in methods or method in methods or resource_scope(class_name, method) in scopes


def scopes_for_superset(scopes: list[str]) -> list[str]:
    """What Superset's own scope check is shown: the access token's ``scopes``.

    Superset main checks scopes on any token that carries some (flat
    ``superset:read``/``superset:write``, or per-resource ones), else the user's
    roles alone. A token with the user's full rights shows none; a narrowed one
    its own scopes and the flat ones its rights imply, so that Superset never
    denies what ours allow. Superset's write scope is coarser than ``mcp:write``
    and ``mcp:sql`` (it covers writes, deletes and SQL): ours, checked after
    Superset's (``superset_compat.permissions``), keeps a token within its scopes.
    """
    methods = allowed_methods(scopes)
    if methods is None or "*" in methods:
        return []
    implied = [name for name in ("superset:read", "superset:write") if methods & SCOPE_METHODS[name]]
    return scopes + [name for name in implied if name not in scopes]


def freeze(value: Any) -> Any:
    """JSON data made immutable: objects become read-only mappings, arrays tuples."""
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The plain JSON form of :func:`freeze`'s result (dicts and lists again)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def token_scopes(claims: Mapping[str, Any]) -> list[str]:
    """The token's scopes, from ``scope`` (space-separated) or ``scp`` (a list)."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split()
    scp = claims.get("scp")
    if isinstance(scp, (list, tuple)):
        return [s for s in scp if isinstance(s, str)]
    if isinstance(scp, str):
        return scp.split()
    return []


def _b64decode(part: str, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raw = None
    # Only the canonical encoding is accepted, so one token has one spelling.
    if raw is None or base64.urlsafe_b64encode(raw).rstrip(b"=") != part.encode("ascii"):
        raise TokenError(Reason.MALFORMED_TOKEN, f"{what} is not canonical base64url")
    return raw


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key[:40]!r}")
        result[key] = value
    return result


def _json_object(part: str, what: str) -> dict[str, Any]:
    raw = _b64decode(part, what)
    try:
        value = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = Reason.UNSUPPORTED_HEADER if what == "header" else Reason.MALFORMED_TOKEN
        raise TokenError(reason, f"{what} is not a strict JSON object ({exc.__class__.__name__})") from None
    if not isinstance(value, dict):
        raise TokenError(Reason.MALFORMED_TOKEN, f"{what} is not a JSON object")
    # A \u escape can smuggle a lone UTF-16 surrogate, which is no Unicode text
    # (RFC 8725 §3.7): it would break later at the database, as a 500.
    if b"\\u" in raw and not _is_unicode(value):
        reason = Reason.UNSUPPORTED_HEADER if what == "header" else Reason.MALFORMED_TOKEN
        raise TokenError(reason, f"{what} has a string that is not valid Unicode")
    return value


def _is_unicode(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_is_unicode(k) and _is_unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_unicode(v) for v in value)
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _shown(value: Any) -> str:
    """A claim value for a debug log line: repr, bounded in length."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _duration(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
