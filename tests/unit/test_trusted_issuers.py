"""Two trusted issuers: the documented static tokens, and Superset's own OAuth tokens (RFC 8707)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from superset_mcp_jwt.errors import Reason, TokenError
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.tokens import TokenVerifier
from tests.documented import documented_config

SECRET = "vU3Tq0h8kXw1s9bYpL2mZr7cN5aJ4eFgHdKiOoQtRsE"
NOW = 1_700_000_000
OAUTH_ISSUER = "https://superset.example.com"
RESOURCE = "https://superset.example.com:5008/mcp"
STATIC = {"iss": "superset-mcp", "aud": "superset-mcp-clients"}
OAUTH = {"iss": OAUTH_ISSUER, "aud": RESOURCE}


def claims(**values):
    return {"sub": "alice", "exp": NOW + 3600, "iat": NOW, **values}


def hs_verifier(oauth: bool = True) -> TokenVerifier:
    settings = Settings.from_config(documented_config(SECRET))
    if oauth:
        settings = dataclasses.replace(
            settings, oauth=SimpleNamespace(issuer=OAUTH_ISSUER, resource=RESOURCE)
        )
    return TokenVerifier(settings)


def reason(verifier: TokenVerifier, token: str) -> Reason:
    with pytest.raises(TokenError) as caught:
        verifier.verify(token, now=NOW)
    return caught.value.reason


@pytest.mark.parametrize("issuer", [STATIC, OAUTH], ids=["static", "oauth"])
def test_each_issuer_is_accepted_for_its_own_audience(issuer):
    token = jwt.encode(claims(**issuer), SECRET, algorithm="HS256")
    assert hs_verifier().verify(token, now=NOW)["iss"] == issuer["iss"]


@pytest.mark.parametrize(
    "iss, aud",
    [
        (OAUTH_ISSUER, "superset-mcp-clients"),  # an OAuth token for the static audience
        ("superset-mcp", RESOURCE),  # a static token for the OAuth resource
        (OAUTH_ISSUER, "https://other.example.com/mcp"),  # a token for another resource
        (OAUTH_ISSUER, [RESOURCE + "/", "https://superset.example.com:5008"]),  # near misses
    ],
)
def test_audience_must_belong_to_the_tokens_own_issuer(iss, aud):
    token = jwt.encode(claims(iss=iss, aud=aud), SECRET, algorithm="HS256")
    assert reason(hs_verifier(), token) is Reason.BAD_AUDIENCE


def test_oauth_issuer_is_refused_while_oauth_is_off():
    token = jwt.encode(claims(**OAUTH), SECRET, algorithm="HS256")
    assert reason(hs_verifier(oauth=False), token) is Reason.BAD_ISSUER


def test_unknown_issuer_names_both_configured_ones():
    token = jwt.encode(claims(iss="acme", aud=RESOURCE), SECRET, algorithm="HS256")
    with pytest.raises(TokenError) as caught:
        hs_verifier().verify(token, now=NOW)
    assert caught.value.reason is Reason.BAD_ISSUER
    assert "MCP_JWT_ISSUER is 'superset-mcp'" in caught.value.detail
    assert f"MCP_OAUTH_ISSUER is '{OAUTH_ISSUER}'" in caught.value.detail


@pytest.fixture(scope="module")
def asymmetric():
    """RS256: static tokens from an identity provider's key, OAuth tokens from Superset's own key."""
    idp = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    own = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = idp.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    config = {**documented_config(SECRET), "MCP_JWT_ALGORITHM": "RS256", "MCP_JWT_PUBLIC_KEY": pem}
    del config["MCP_JWT_SECRET"]
    settings = dataclasses.replace(
        Settings.from_config(config),
        oauth=SimpleNamespace(issuer=OAUTH_ISSUER, resource=RESOURCE, private_key=own),
    )
    return TokenVerifier(settings), idp, own


def test_asymmetric_each_issuer_is_checked_with_its_own_key(asymmetric):
    verifier, idp, own = asymmetric
    assert verifier.verify(jwt.encode(claims(**STATIC), idp, algorithm="RS256"), now=NOW)
    assert verifier.verify(jwt.encode(claims(**OAUTH), own, algorithm="RS256"), now=NOW)


@pytest.mark.parametrize("issuer, signer", [(OAUTH, "idp"), (STATIC, "own")])
def test_asymmetric_a_key_cannot_sign_for_the_other_issuer(asymmetric, issuer, signer):
    verifier, idp, own = asymmetric
    key = idp if signer == "idp" else own
    token = jwt.encode(claims(**issuer), key, algorithm="RS256")
    assert reason(verifier, token) is Reason.BAD_SIGNATURE


def test_oauth_issuer_equal_to_the_static_issuer_refuses_to_start():
    from superset_mcp_jwt.errors import ConfigError

    config = {**documented_config(SECRET), "MCP_OAUTH_ENABLED": True,
              "MCP_OAUTH_ISSUER": "http://127.0.0.1:8088", "MCP_OAUTH_RESOURCE": "http://127.0.0.1:5008/mcp",
              "MCP_JWT_ISSUER": "http://127.0.0.1:8088"}
    with pytest.raises(ConfigError) as refused:
        Settings.from_config(config)
    assert refused.value.key == "MCP_OAUTH_ISSUER"


def test_real_oauth_settings_feed_the_verifier():
    config = {**documented_config(SECRET), "MCP_OAUTH_ENABLED": True,
              "MCP_OAUTH_ISSUER": OAUTH_ISSUER, "MCP_OAUTH_RESOURCE": RESOURCE}
    verifier = TokenVerifier(Settings.from_config(config))
    token = jwt.encode(claims(**OAUTH), SECRET, algorithm="HS256")
    assert verifier.verify(token, now=NOW)["aud"] == RESOURCE
