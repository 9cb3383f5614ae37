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


def _signed(settings: Settings, secret: str = NEW, drop: str = "", length: int = 0, **claims) -> str:
    """A token signed like ours (iss, aud, sub, jti, exp), minus ``drop``, padded to ``length`` chars."""
    payload = {"iss": settings.oauth.issuer, "aud": settings.oauth.resource, "sub": "alice",
               "jti": "j" * 32, "exp": 2, **claims}
    payload.pop(drop, None)
    if not length:
        return jwt.encode(payload, secret, algorithm="HS256")
    base = len(jwt.encode({**payload, "pad": ""}, secret, algorithm="HS256", headers={"x": ""}))
    guess = (length - base) * 3 // 4
    for extra in range(4):  # base64 skips some lengths: a header member shifts the total
        for pad in range(guess - 6, guess + 6):
            token = jwt.encode({**payload, "pad": "p" * pad}, secret, algorithm="HS256",
                               headers={"x": "h" * extra})
            if len(token) == length:
                return token
    raise AssertionError(f"no token of {length} characters")


def test_read_refuses_what_is_not_a_compact_jws() -> None:
    issuer = AccessTokenIssuer(hs_settings())
    for value in (None, 12345, b"a.b.c", ["a.b.c"], "a.b", "a.b.c.d", ""):
        assert issuer.read(value) is None


@pytest.mark.parametrize("length, readable", [(8192, True), (8193, False), (9000, False)])
def test_read_caps_the_token_size_at_8192_characters(length, readable) -> None:
    settings = hs_settings()
    token = _signed(settings, length=length)
    assert len(token) == length and token.count(".") == 2
    claims = AccessTokenIssuer(settings).read(token)
    assert (claims is not None) is readable
    if readable:
        assert claims["sub"] == "alice"


def test_read_needs_our_issuer_and_jti_sub_exp() -> None:
    settings = hs_settings()
    issuer = AccessTokenIssuer(settings)
    assert issuer.read(_signed(settings))["jti"] == "j" * 32
    assert issuer.read(_signed(settings, iss="https://other-issuer.example")) is None
    assert issuer.read(_signed(settings, iss=settings.issuer)) is None  # MCP_JWT_ISSUER's own tokens
    for claim in ("iss", "jti", "sub", "exp"):
        assert issuer.read(_signed(settings, drop=claim)) is None, claim


def test_read_accepts_tokens_signed_before_a_secret_rotation() -> None:
    """HMAC: a token minted with the previous (second) MCP_JWT_SECRET can still be read, e.g. revoked."""
    settings = hs_settings()
    issuer = AccessTokenIssuer(settings)
    assert issuer.read(_signed(settings, secret=OLD))["jti"] == "j" * 32
    assert issuer.read(_signed(settings, secret=secrets.token_urlsafe(32))) is None


def test_issuer_needs_oauth_settings() -> None:
    with pytest.raises(ValueError) as raised:
        AccessTokenIssuer(Settings.from_config(documented_config(NEW)))
    assert str(raised.value) == "AccessTokenIssuer needs MCP_OAUTH_ENABLED settings"


def test_public_key_only_in_asymmetric_mode() -> None:
    assert AccessTokenIssuer(hs_settings()).public_key is None
    settings = rs_settings()
    issuer = AccessTokenIssuer(settings)
    assert issuer.public_key.public_numbers() == settings.oauth.private_key.public_key().public_numbers()
    assert issuer.jwks() == {"keys": [issuer.public_jwk]} and issuer.jwks()["keys"][0] is not issuer.public_jwk
