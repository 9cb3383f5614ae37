"""Access tokens the authorization server mints: at+jwt for the MCP resource, HMAC or asymmetric."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time

import jwt
import pytest
from jwt.algorithms import RSAAlgorithm

from superset_mcp_jwt.keys import key_id
from superset_mcp_jwt.oauth.issuer import AccessTokenIssuer, jwk_thumbprint
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.tokens import TokenVerifier
from tests.documented import documented_config
from tests.unit.test_oauth_config import OAUTH, RSA_PEM, RSA_PUBLIC

OLD, NEW = secrets.token_urlsafe(32), secrets.token_urlsafe(32)


def hs_settings() -> Settings:
    return Settings.from_config(documented_config(NEW, MCP_JWT_SECRET=[NEW, OLD], **OAUTH))


def rs_settings() -> Settings:
    config = documented_config("", **OAUTH)
    del config["MCP_JWT_SECRET"]
    config.update(MCP_JWT_ALGORITHM="RS256", MCP_JWT_PUBLIC_KEY=RSA_PUBLIC, MCP_OAUTH_PRIVATE_KEY=RSA_PEM)
    return Settings.from_config(config)


def mint(issuer: AccessTokenIssuer, **overrides) -> str:
    now = int(time.time())
    args = dict(username="alice", scopes=["mcp:read", "mcp:sql"], client_id="client-1",
                jti="j" * 32, issued_at=now, expires_at=now + 600)
    args.update(overrides)
    return issuer.mint(**args)


def test_hs_token_claims_and_header() -> None:
    settings = hs_settings()
    token = mint(AccessTokenIssuer(settings))
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "at+jwt", "kid": key_id(NEW.encode())}
    claims = jwt.decode(token, NEW, algorithms=["HS256"], audience="https://superset.example.com:5008/mcp")
    assert claims["iss"] == "https://superset.example.com"
    assert (claims["sub"], claims["client_id"], claims["scope"], claims["jti"]) == (
        "alice", "client-1", "mcp:read mcp:sql", "j" * 32,
    )
    assert claims["exp"] - claims["iat"] == 600
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, OLD, algorithms=["HS256"], audience=claims["aud"])


def test_hs_token_passes_the_token_verifier_for_the_oauth_issuer_and_resource() -> None:
    settings = hs_settings()
    token = mint(AccessTokenIssuer(settings))
    oauth_pair = dataclasses.replace(
        settings, issuer=settings.oauth.issuer, audiences=frozenset([settings.oauth.resource])
    )
    assert TokenVerifier(oauth_pair).verify(token)["sub"] == "alice"


def test_hs_mode_publishes_no_keys() -> None:
    assert AccessTokenIssuer(hs_settings()).jwks() is None


def test_asymmetric_token_verifies_with_the_published_jwks() -> None:
    issuer = AccessTokenIssuer(rs_settings())
    token = mint(issuer)
    [jwk] = issuer.jwks()["keys"]
    assert "d" not in jwk and jwk["use"] == "sig" and jwk["alg"] == "RS256"
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"] == jwk_thumbprint(jwk)
    key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="https://superset.example.com:5008/mcp")
    assert claims["sub"] == "alice"


def test_rfc7638_thumbprint_example() -> None:
    # RFC 7638 §3.1
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_read_accepts_only_own_tokens_for_this_resource() -> None:
    settings = hs_settings()
    issuer = AccessTokenIssuer(settings)
    token = mint(issuer, issued_at=1, expires_at=2)  # long expired: still readable for revocation
    assert issuer.read(token)["jti"] == "j" * 32
    foreign = jwt.encode({"iss": settings.oauth.issuer, "aud": "https://other.example/mcp", "sub": "a",
                          "jti": "x", "exp": 9e9}, NEW, algorithm="HS256")
    assert issuer.read(foreign) is None
    forged = jwt.encode({"iss": settings.oauth.issuer, "aud": settings.oauth.resource, "sub": "a",
                         "jti": "x", "exp": 9e9}, secrets.token_urlsafe(32), algorithm="HS256")
    assert issuer.read(forged) is None
    assert issuer.read("not a token") is None
