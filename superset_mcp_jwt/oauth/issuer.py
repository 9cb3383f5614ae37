"""Access tokens the authorization server issues: ``at+jwt`` for the MCP resource (RFC 9068 shape).

Core: no Flask. HMAC modes sign with the newest ``MCP_JWT_SECRET`` (and stamp
its ``kid`` as :func:`keys.key_id` does); asymmetric modes sign with
``MCP_OAUTH_PRIVATE_KEY``, whose public half is published as a JWKS with an
RFC 7638 thumbprint as ``kid``. The tokens go through the same
``TokenVerifier``, identity and revocation list as pasted tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Mapping, Optional, Sequence

import jwt

from ..keys import HMAC_ALGORITHMS, algorithm_object, key_id
from ..settings import Settings

TOKEN_TYPE = "at+jwt"


class AccessTokenIssuer:
    """Mints access tokens for ``settings.oauth`` (issuer, resource, TTL, key)."""

    def __init__(self, settings: Settings) -> None:
        if settings.oauth is None:
            raise ValueError("AccessTokenIssuer needs MCP_OAUTH_ENABLED settings")
        self.oauth = settings.oauth
        self.algorithm = settings.algorithm
        if self.algorithm in HMAC_ALGORITHMS:
            self._signing_key: Any = settings.secrets[0]
            self.kid = key_id(settings.secrets[0])
            self._verification_keys: Sequence[Any] = settings.secrets
            self.public_jwk: Optional[dict[str, Any]] = None
        else:
            self._signing_key = self.oauth.private_key
            public = self.oauth.private_key.public_key()
            jwk = json.loads(algorithm_object(self.algorithm).to_jwk(public))
            self.kid = jwk_thumbprint(jwk)
            self._verification_keys = [public]
            self.public_jwk = {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    @property
    def public_key(self) -> Any:
        """The key that verifies these tokens in an asymmetric mode (None with HMAC)."""
        return self._verification_keys[0] if self.public_jwk is not None else None

    def mint(
        self, username: str, scopes: Sequence[str], client_id: str, jti: str, issued_at: int, expires_at: int
    ) -> str:
        """The signed access token for ``username`` (``jti`` and times come from the store's grant)."""
        payload = {
            "iss": self.oauth.issuer,
            "aud": self.oauth.resource,
            "sub": username,
            "client_id": client_id,
            "scope": " ".join(scopes),
            "jti": jti,
            "iat": issued_at,
            "exp": expires_at,
        }
        headers = {"typ": TOKEN_TYPE, "kid": self.kid}
        return jwt.encode(payload, self._signing_key, algorithm=self.algorithm, headers=headers)

    def read(self, token: str) -> Optional[Mapping[str, Any]]:
        """The claims of an access token this server issued (expired ones too), else None."""
        if not isinstance(token, str) or len(token) > 8192 or token.count(".") != 2:
            return None
        for key in self._verification_keys:
            try:
                return jwt.decode(
                    token, key, algorithms=[self.algorithm], audience=self.oauth.resource,
                    issuer=self.oauth.issuer,
                    options={"verify_exp": False, "require": ["jti", "sub", "exp"]},
                )
            except jwt.PyJWTError:
                continue
        return None

    def jwks(self) -> Optional[dict[str, Any]]:
        """The JWKS document of an asymmetric mode; None with HMAC (nothing may be published)."""
        return {"keys": [dict(self.public_jwk)]} if self.public_jwk is not None else None


_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK, base64url."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
