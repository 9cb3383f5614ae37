"""Verification keys: HMAC secrets (rotation), one public key, or a JWKS URL.

Core: no Flask, no FastMCP. The algorithm is always the configured one; a
token's ``kid`` only picks among keys we already trust, never fetches or adds one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import threading
import time
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Sequence

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.exceptions import InvalidKeyError

from .errors import ConfigError, Reason, TokenError

if TYPE_CHECKING:
    from .settings import Settings

logger = logging.getLogger(__name__)

#: HMAC algorithms and their minimum key length in bytes (RFC 7518 §3.2: the hash size).
HMAC_ALGORITHMS = {"HS256": 32, "HS384": 48, "HS512": 64}
ASYMMETRIC_ALGORITHMS = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
}
_MIN_RSA_BITS = 2048
_MAX_JWKS_BYTES = 1 << 20
#: JWKS keys are refetched in the background once this share of their TTL has passed.
REFRESH_AHEAD = 0.8


def algorithm_object(name: str) -> Algorithm:
    """PyJWT's implementation of the configured algorithm."""
    return get_default_algorithms()[name]


def key_id(secret: bytes) -> str:
    """The ``kid`` stamped on tokens signed with an HMAC secret: a short hash, not the secret."""
    return "hs-" + hashlib.sha256(b"superset-mcp-jwt kid\0" + secret).hexdigest()[:12]


class KeySource(Protocol):
    def candidates(self, kid: Any) -> Sequence[Any]:
        """Prepared keys to try for a token whose header carries ``kid``."""


class StaticKeys:
    """Keys fixed by the config: HMAC secrets newest first, or one public key.

    With several keys, a ``kid`` that names one of them selects it; any other
    ``kid`` (or none) tries them all, in order. The ``kid`` is a hint, never trusted.
    """

    def __init__(self, keys: Sequence[tuple[str, Any]]) -> None:
        self._keys = [key for _, key in keys]
        self._by_kid = {kid: key for kid, key in keys}

    def candidates(self, kid: Any) -> Sequence[Any]:
        if isinstance(kid, str) and kid in self._by_kid and len(self._keys) > 1:
            return [self._by_kid[kid]]
        return self._keys


def key_source(settings: "Settings") -> KeySource:
    """The verification keys the settings name: HMAC secrets, one public key, or a JWKS."""
    if settings.algorithm in HMAC_ALGORITHMS:
        obj = algorithm_object(settings.algorithm)
        return StaticKeys([(key_id(s), obj.prepare_key(s)) for s in settings.secrets])
    if settings.public_key is not None:
        return StaticKeys([("", settings.public_key)])
    assert settings.jwks_uri is not None
    return JWKSKeys(
        settings.jwks_uri,
        settings.algorithm,
        ttl=settings.jwks_cache_seconds,
        cooldown=settings.jwks_cooldown_seconds,
        timeout=settings.jwks_timeout_seconds,
        stale_for=settings.jwks_stale_seconds,
    )


def load_public_key(algorithm: str, pem: Any) -> Any:
    """Parse ``MCP_JWT_PUBLIC_KEY`` for ``algorithm``; raise :class:`ConfigError` if unfit."""
    key = "MCP_JWT_PUBLIC_KEY"
    if isinstance(pem, bytes):
        pem = pem.decode("utf-8", "replace")
    if not isinstance(pem, str) or "-----BEGIN" not in pem:
        raise ConfigError(key, "must be a PEM public key (-----BEGIN PUBLIC KEY-----)")
    if "PRIVATE KEY" in pem:
        raise ConfigError(key, "is a private key; give the server only the public key")
    try:
        prepared = algorithm_object(algorithm).prepare_key(pem)
    except (InvalidKeyError, ValueError, TypeError) as exc:
        raise ConfigError(
            key, f"is not a valid public key for {algorithm} ({exc.__class__.__name__})"
        ) from None
    check_key_strength(prepared, algorithm, key)
    return prepared


def check_key_strength(prepared: Any, algorithm: str, key: str) -> None:
    if isinstance(prepared, (rsa.RSAPublicKey, rsa.RSAPrivateKey)) and prepared.key_size < _MIN_RSA_BITS:
        raise ConfigError(key, f"RSA key has {prepared.key_size} bits; at least {_MIN_RSA_BITS} required")
    expected = {"RS": rsa.RSAPublicKey, "PS": rsa.RSAPublicKey, "ES": ec.EllipticCurvePublicKey}
    wanted = expected.get(algorithm[:2])
    if algorithm == "EdDSA":
        ok = isinstance(prepared, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey))
    else:
        ok = wanted is not None and isinstance(prepared, wanted)
    if not ok:
        raise ConfigError(key, f"is not a public key of the kind {algorithm} needs")


def load_private_key(algorithm: str, pem: bytes) -> Any:
    """Parse a private key for signing (CLI); raise ValueError if it does not fit ``algorithm``."""
    try:
        private = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a readable unencrypted PEM private key ({exc.__class__.__name__})") from None
    check_key_strength(private.public_key(), algorithm, "--private-key")
    return private


def check_jwks_uri(uri: Any) -> str:
    """``MCP_JWKS_URI`` must be https, except on loopback."""
    key = "MCP_JWKS_URI"
    if not isinstance(uri, str):
        raise ConfigError(key, "must be a URL")
    parts = urllib.parse.urlsplit(uri)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return uri
    if parts.scheme == "http" and is_loopback_host(host):
        return uri
    raise ConfigError(key, "must be an https:// URL (plain http only on loopback)")


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``: where plain http stays on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


Fetch = Callable[[str, float], bytes]


def _fetch(uri: str, timeout: float) -> bytes:
    request = urllib.request.Request(uri, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https enforced)
        body = response.read(_MAX_JWKS_BYTES + 1)
    if len(body) > _MAX_JWKS_BYTES:
        raise ValueError("JWKS document larger than 1 MiB")
    return body


class JWKSKeys:
    """Keys from an identity provider's JWKS URL, by ``kid``.

    Cached for ``ttl`` seconds and refreshed in a background thread once
    ``refresh_ahead`` of the way there, so no request waits on the provider
    while the keys are valid. When a refresh fails the last good set keeps
    serving for up to ``stale_for`` seconds (logged), never emptied by one bad
    fetch. An unknown ``kid`` triggers at most one refetch per ``cooldown``
    seconds, so random kids cannot flood the provider. A token without ``kid``
    is accepted only while the set has exactly one key.
    """

    def __init__(
        self,
        uri: str,
        algorithm: str,
        ttl: float = 300,
        cooldown: float = 30,
        timeout: float = 5,
        stale_for: float = 86400,
        fetch: Fetch = _fetch,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.uri = uri
        self._algorithm_name = algorithm
        self._algorithm = algorithm_object(algorithm)
        self._ttl, self._cooldown, self._timeout, self._stale_for = ttl, cooldown, timeout, stale_for
        self._fetch, self._clock = fetch, clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: Optional[float] = None  # last successful fetch
        self._tried_at: Optional[float] = None  # last attempt, successful or not
        self._lock = threading.Lock()
        self._background: Optional[threading.Thread] = None
        self.fetches = 0

    def candidates(self, kid: Any) -> Sequence[Any]:
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
        unknown = isinstance(kid, str) and kid not in self._keys
        may_fetch = self._tried_at is None or now - self._tried_at >= self._cooldown
        if (stale and (self._fetched_at is not None or may_fetch)) or (unknown and may_fetch):
            self._refresh(now, "unknown kid" if unknown and not stale else "expired")
        keys = self._keys
        if (
            not stale
            and may_fetch
            and self._fetched_at is not None
            and now - self._fetched_at >= self._ttl * REFRESH_AHEAD
        ):
            self._refresh_in_background(now)
        if not keys:
            raise TokenError(Reason.KEYS_UNAVAILABLE, f"no keys could be fetched from {self.uri}")
        if kid is None:
            if len(keys) == 1:
                return list(keys.values())
            raise TokenError(Reason.UNKNOWN_KEY, "token has no kid and the JWKS has several keys")
        if not isinstance(kid, str) or kid not in keys:
            raise TokenError(Reason.UNKNOWN_KEY, f"kid {str(kid)[:40]!r} is not in the JWKS at {self.uri}")
        return [keys[kid]]

    def _refresh_in_background(self, now: float) -> None:
        with self._lock:
            if self._background is not None and self._background.is_alive():
                return
            self._background = threading.Thread(
                target=self._refresh, args=(now, "ahead of expiry"),
                name="superset-mcp-jwt-jwks", daemon=True,
            )
            self._background.start()

    def _refresh(self, now: float, reason: str) -> None:
        with self._lock:
            if self._tried_at is not None and self._tried_at >= now:
                return  # another thread refreshed while this one waited
            self._tried_at = self._clock()
            self.fetches += 1
            try:
                self._keys = self._parse(self._fetch(self.uri, self._timeout))
                self._fetched_at = self._tried_at
                return
            except Exception as exc:  # network, HTTP, JSON: keep the last good set
                failure = exc.__class__.__name__
            age = None if self._fetched_at is None else now - self._fetched_at
            if age is not None and age < self._stale_for:
                logger.warning(
                    "JWKS refresh (%s) from %s failed (%s); still using the keys fetched %.0fs ago",
                    reason, self.uri, failure, age,
                )
                return
            self._keys = {}
            logger.error("JWKS from %s unavailable (%s): MCP tokens cannot be verified", self.uri, failure)

    def _parse(self, body: bytes) -> dict[str, Any]:
        document = json.loads(body)
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(jwk, dict) or "d" in jwk or "k" in jwk:
                continue  # never private or symmetric material
            if jwk.get("use", "sig") != "sig" or jwk.get("alg", self._algorithm_name) != self._algorithm_name:
                continue
            try:
                key = self._algorithm.from_jwk(jwk)
                check_key_strength(key, self._algorithm_name, "MCP_JWKS_URI")
            except (InvalidKeyError, ConfigError, ValueError, KeyError, TypeError):
                continue
            keys[str(jwk.get("kid", ""))] = key
        if not keys:
            raise ValueError("no usable signing key")
        return keys
