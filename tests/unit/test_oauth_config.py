"""MCP_OAUTH_*: parsed once into Settings.oauth, fail closed, each error naming its key."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from superset_mcp_jwt.errors import ConfigError
from superset_mcp_jwt.oauth.config import KNOWN_CLIENT_REDIRECT_URIS, OAuthSettings
from superset_mcp_jwt.settings import Settings
from tests.documented import documented_config

SECRET = secrets.token_urlsafe(32)
OAUTH = {
    "MCP_OAUTH_ENABLED": True,
    "MCP_OAUTH_ISSUER": "https://superset.example.com/",
    "MCP_OAUTH_RESOURCE": "https://superset.example.com:5008/mcp",
}


def _pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


RSA_PEM = _pem(rsa.generate_private_key(65537, 2048))
EC_PEM = _pem(ec.generate_private_key(ec.SECP256R1()))
RSA_PUBLIC = (
    serialization.load_pem_private_key(RSA_PEM.encode(), None)
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def settings(**overrides) -> Settings:
    return Settings.from_config(documented_config(SECRET, **{**OAUTH, **overrides}))


def rs256(**overrides) -> Settings:
    config = documented_config(SECRET, **{**OAUTH, **overrides})
    del config["MCP_JWT_SECRET"]
    config.update(MCP_JWT_ALGORITHM="RS256", MCP_JWT_PUBLIC_KEY=RSA_PUBLIC)
    config.update(overrides)
    return Settings.from_config(config)


def test_off_by_default() -> None:
    assert Settings.from_config(documented_config(SECRET)).oauth is None


def test_documented_defaults() -> None:
    oauth = settings().oauth
    assert isinstance(oauth, OAuthSettings)
    assert oauth.issuer == "https://superset.example.com"  # trailing slash stripped
    assert oauth.resource == "https://superset.example.com:5008/mcp"
    assert oauth.private_key is None and not oauth.asymmetric
    assert (oauth.access_token_ttl, oauth.refresh_token_ttl, oauth.authorization_code_ttl) == (
        3600, 30 * 86400, 60,
    )
    assert oauth.default_scopes == ("mcp:all",)
    assert oauth.allowed_redirect_uris == KNOWN_CLIENT_REDIRECT_URIS
    assert "https://claude.ai/api/mcp/auth_callback" in oauth.allowed_redirect_uris
    assert "https://chatgpt.com/connector_platform_oauth_redirect" in oauth.allowed_redirect_uris
    assert oauth.dynamic_registration and oauth.client_metadata_documents
    assert (oauth.max_clients, oauth.cimd_timeout, oauth.cimd_max_bytes, oauth.cimd_cache_seconds) == (
        10000, 5.0, 65536, 3600,
    )
    assert oauth.cimd_allow_private_addresses is False


def test_loopback_http_is_allowed() -> None:
    oauth = settings(MCP_OAUTH_ISSUER="http://127.0.0.1:8088", MCP_OAUTH_RESOURCE="http://localhost:5008/mcp").oauth
    assert oauth.issuer == "http://127.0.0.1:8088"
    assert settings(MCP_OAUTH_ISSUER="http://[::1]:8088").oauth.issuer == "http://[::1]:8088"


def test_every_key_can_be_set() -> None:
    oauth = settings(
        MCP_OAUTH_ACCESS_TOKEN_TTL=600,
        MCP_OAUTH_REFRESH_TOKEN_TTL=7200,
        MCP_OAUTH_AUTHORIZATION_CODE_TTL=30,
        MCP_OAUTH_DEFAULT_SCOPES="mcp:read mcp:sql",
        MCP_OAUTH_ALLOWED_REDIRECT_URIS=["https://app.example.com/cb", "cursor://anysphere.cursor-retrieval/oauth"],
        MCP_OAUTH_DYNAMIC_REGISTRATION=False,
        MCP_OAUTH_CLIENT_METADATA_DOCUMENTS=False,
        MCP_OAUTH_MAX_CLIENTS=5,
        MCP_OAUTH_CIMD_TIMEOUT=1.5,
        MCP_OAUTH_CIMD_MAX_BYTES=2048,
        MCP_OAUTH_CIMD_CACHE_SECONDS=60,
    ).oauth
    assert (oauth.access_token_ttl, oauth.refresh_token_ttl, oauth.authorization_code_ttl) == (600, 7200, 30)
    assert oauth.default_scopes == ("mcp:read", "mcp:sql")
    assert oauth.allowed_redirect_uris[1].startswith("cursor://")
    assert not oauth.dynamic_registration and not oauth.client_metadata_documents
    assert (oauth.max_clients, oauth.cimd_timeout, oauth.cimd_max_bytes, oauth.cimd_cache_seconds) == (
        5, 1.5, 2048, 60,
    )


def test_private_addresses_warn(caplog: pytest.LogCaptureFixture) -> None:
    assert settings(MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES=True).oauth.cimd_allow_private_addresses
    assert "MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES" in caplog.text


def test_asymmetric_mode_loads_the_private_key() -> None:
    oauth = rs256(MCP_OAUTH_PRIVATE_KEY=RSA_PEM).oauth
    assert oauth.asymmetric
    assert oauth.private_key.key_size == 2048
    assert RSA_PEM not in repr(oauth)


FAIL_CLOSED = [
    ("needs-auth", dict(MCP_AUTH_ENABLED=False), "MCP_OAUTH_ENABLED"),
    ("enabled-not-bool", dict(MCP_OAUTH_ENABLED="yes"), "MCP_OAUTH_ENABLED"),
    ("issuer-missing", dict(MCP_OAUTH_ISSUER=None), "MCP_OAUTH_ISSUER"),
    ("issuer-empty", dict(MCP_OAUTH_ISSUER=""), "MCP_OAUTH_ISSUER"),
    ("issuer-http", dict(MCP_OAUTH_ISSUER="http://superset.example.com"), "MCP_OAUTH_ISSUER"),
    ("issuer-http-lookalike", dict(MCP_OAUTH_ISSUER="http://localhost.evil.com"), "MCP_OAUTH_ISSUER"),
    ("issuer-query", dict(MCP_OAUTH_ISSUER="https://s.example.com/?a=1"), "MCP_OAUTH_ISSUER"),
    ("issuer-fragment", dict(MCP_OAUTH_ISSUER="https://s.example.com/#x"), "MCP_OAUTH_ISSUER"),
    ("issuer-userinfo", dict(MCP_OAUTH_ISSUER="https://u:p@s.example.com"), "MCP_OAUTH_ISSUER"),
    ("issuer-relative", dict(MCP_OAUTH_ISSUER="/superset"), "MCP_OAUTH_ISSUER"),
    ("issuer-scheme", dict(MCP_OAUTH_ISSUER="ftp://s.example.com"), "MCP_OAUTH_ISSUER"),
    ("issuer-bad-port", dict(MCP_OAUTH_ISSUER="https://s.example.com:99999"), "MCP_OAUTH_ISSUER"),
    ("resource-missing", dict(MCP_OAUTH_RESOURCE=None), "MCP_OAUTH_RESOURCE"),
    ("resource-http", dict(MCP_OAUTH_RESOURCE="http://s.example.com:5008/mcp"), "MCP_OAUTH_RESOURCE"),
    ("hs-with-private-key", dict(MCP_OAUTH_PRIVATE_KEY=RSA_PEM), "MCP_OAUTH_PRIVATE_KEY"),
    ("access-ttl-low", dict(MCP_OAUTH_ACCESS_TOKEN_TTL=59), "MCP_OAUTH_ACCESS_TOKEN_TTL"),
    ("access-ttl-high", dict(MCP_OAUTH_ACCESS_TOKEN_TTL=86401), "MCP_OAUTH_ACCESS_TOKEN_TTL"),
    ("access-ttl-float", dict(MCP_OAUTH_ACCESS_TOKEN_TTL=600.5), "MCP_OAUTH_ACCESS_TOKEN_TTL"),
    ("access-ttl-bool", dict(MCP_OAUTH_ACCESS_TOKEN_TTL=True), "MCP_OAUTH_ACCESS_TOKEN_TTL"),
    ("refresh-ttl-low", dict(MCP_OAUTH_REFRESH_TOKEN_TTL=3599), "MCP_OAUTH_REFRESH_TOKEN_TTL"),
    ("refresh-ttl-high", dict(MCP_OAUTH_REFRESH_TOKEN_TTL=366 * 86400), "MCP_OAUTH_REFRESH_TOKEN_TTL"),
    ("code-ttl-low", dict(MCP_OAUTH_AUTHORIZATION_CODE_TTL=9), "MCP_OAUTH_AUTHORIZATION_CODE_TTL"),
    ("code-ttl-high", dict(MCP_OAUTH_AUTHORIZATION_CODE_TTL=601), "MCP_OAUTH_AUTHORIZATION_CODE_TTL"),
    ("scopes-unknown", dict(MCP_OAUTH_DEFAULT_SCOPES=["mcp:admin"]), "MCP_OAUTH_DEFAULT_SCOPES"),
    ("scopes-empty", dict(MCP_OAUTH_DEFAULT_SCOPES=[]), "MCP_OAUTH_DEFAULT_SCOPES"),
    ("redirects-string", dict(MCP_OAUTH_ALLOWED_REDIRECT_URIS="https://a.example/cb"),
     "MCP_OAUTH_ALLOWED_REDIRECT_URIS"),
    ("redirects-http", dict(MCP_OAUTH_ALLOWED_REDIRECT_URIS=["http://a.example/cb"]),
     "MCP_OAUTH_ALLOWED_REDIRECT_URIS"),
    ("redirects-fragment", dict(MCP_OAUTH_ALLOWED_REDIRECT_URIS=["https://a.example/cb#x"]),
     "MCP_OAUTH_ALLOWED_REDIRECT_URIS"),
    ("redirects-relative", dict(MCP_OAUTH_ALLOWED_REDIRECT_URIS=["/cb"]), "MCP_OAUTH_ALLOWED_REDIRECT_URIS"),
    ("dcr-not-bool", dict(MCP_OAUTH_DYNAMIC_REGISTRATION=1), "MCP_OAUTH_DYNAMIC_REGISTRATION"),
    ("cimd-not-bool", dict(MCP_OAUTH_CLIENT_METADATA_DOCUMENTS="no"), "MCP_OAUTH_CLIENT_METADATA_DOCUMENTS"),
    ("max-clients-zero", dict(MCP_OAUTH_MAX_CLIENTS=0), "MCP_OAUTH_MAX_CLIENTS"),
    ("cimd-timeout-low", dict(MCP_OAUTH_CIMD_TIMEOUT=0.1), "MCP_OAUTH_CIMD_TIMEOUT"),
    ("cimd-timeout-nan", dict(MCP_OAUTH_CIMD_TIMEOUT=float("nan")), "MCP_OAUTH_CIMD_TIMEOUT"),
    ("cimd-bytes-high", dict(MCP_OAUTH_CIMD_MAX_BYTES=2_000_000), "MCP_OAUTH_CIMD_MAX_BYTES"),
    ("cimd-cache-low", dict(MCP_OAUTH_CIMD_CACHE_SECONDS=59), "MCP_OAUTH_CIMD_CACHE_SECONDS"),
    ("cimd-private-not-bool", dict(MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES="true"),
     "MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES"),
]


@pytest.mark.parametrize("overrides,key", [c[1:] for c in FAIL_CLOSED], ids=[c[0] for c in FAIL_CLOSED])
def test_fail_closed(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings(**overrides)
    assert raised.value.key == key


ASYMMETRIC_FAIL_CLOSED = [
    ("missing", dict(), "is required with RS256: the PEM private key that signs OAuth tokens"),
    ("public-key", dict(MCP_OAUTH_PRIVATE_KEY=RSA_PUBLIC),
     "must be a PEM private key (-----BEGIN PRIVATE KEY-----)"),
    ("not-text", dict(MCP_OAUTH_PRIVATE_KEY=12345), "must be a PEM private key (-----BEGIN PRIVATE KEY-----)"),
    ("garbage", dict(MCP_OAUTH_PRIVATE_KEY="-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----"),
     "not a readable unencrypted PEM private key (ValueError)"),
    ("wrong-kind", dict(MCP_OAUTH_PRIVATE_KEY=EC_PEM), "is not a private key of the kind RS256 needs"),
]


@pytest.mark.parametrize(
    "overrides,problem", [c[1:] for c in ASYMMETRIC_FAIL_CLOSED], ids=[c[0] for c in ASYMMETRIC_FAIL_CLOSED]
)
def test_asymmetric_fail_closed(overrides: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        rs256(**overrides)
    assert raised.value.key == "MCP_OAUTH_PRIVATE_KEY"
    assert str(raised.value) == f"superset-mcp-jwt: MCP_OAUTH_PRIVATE_KEY: {problem}"
    pem = overrides.get("MCP_OAUTH_PRIVATE_KEY", "")
    assert not isinstance(pem, str) or not pem or pem.splitlines()[1] not in str(raised.value)  # no key material


def test_the_private_key_may_be_bytes() -> None:
    assert rs256(MCP_OAUTH_PRIVATE_KEY=RSA_PEM.encode()).oauth.private_key.key_size == 2048
