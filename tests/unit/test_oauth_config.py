"""MCP_OAUTH_*: parsed once into Settings.oauth, fail closed, each error naming its key."""

from __future__ import annotations

import logging
import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from superset_mcp_jwt.errors import ConfigError
from superset_mcp_jwt.oauth.config import KNOWN_CLIENT_REDIRECT_URIS, OAuthSettings, parse_oauth_settings
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
    assert (oauth.unused_client_ttl, oauth.idle_client_ttl) == (2 * 3600, 30 * 86400)
    assert dict(oauth.rate_limits) == {
        "registration": "60 per minute", "token": "600 per minute",
        "revocation": "120 per minute", "consent": "60 per minute", "authorization": "120 per minute",
    }


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
    caplog.set_level(logging.WARNING, logger="superset_mcp_jwt.oauth.config")
    assert not settings(MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES=False).oauth.cimd_allow_private_addresses
    assert caplog.records == []
    assert settings(MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES=True).oauth.cimd_allow_private_addresses
    [record] = caplog.records
    assert (record.name, record.levelno) == ("superset_mcp_jwt.oauth.config", logging.WARNING)
    assert record.getMessage() == (
        "MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES is True: client metadata documents may be "
        "fetched from private and loopback addresses. Use this for development only."
    )


@pytest.mark.parametrize(
    "key, low, high",
    [
        ("MCP_OAUTH_ACCESS_TOKEN_TTL", 60, 86400),
        ("MCP_OAUTH_REFRESH_TOKEN_TTL", 3600, 365 * 86400),
        ("MCP_OAUTH_AUTHORIZATION_CODE_TTL", 10, 600),
        ("MCP_OAUTH_MAX_CLIENTS", 1, 10_000_000),
        ("MCP_OAUTH_CIMD_TIMEOUT", 0.5, 30),
        ("MCP_OAUTH_CIMD_MAX_BYTES", 1024, 1048576),
        ("MCP_OAUTH_CIMD_CACHE_SECONDS", 60, 86400),
        ("MCP_OAUTH_UNUSED_CLIENT_TTL", 300, 7 * 86400),
        ("MCP_OAUTH_IDLE_CLIENT_TTL", 3600, 365 * 86400),
    ],
)
def test_numbers_take_both_ends_of_their_range(key: str, low, high) -> None:
    attribute = key.removeprefix("MCP_OAUTH_").lower()
    for value in (low, high):
        assert getattr(settings(**{key: value}).oauth, attribute) == value


def test_cimd_timeout_is_a_float() -> None:
    timeout = settings(MCP_OAUTH_CIMD_TIMEOUT=2).oauth.cimd_timeout
    assert timeout == 2.0 and type(timeout) is float


def test_none_means_the_default() -> None:
    """A key set to None (as a config template may leave it) takes its documented default."""
    oauth = settings(
        MCP_OAUTH_ACCESS_TOKEN_TTL=None, MCP_OAUTH_DEFAULT_SCOPES=None, MCP_OAUTH_ALLOWED_REDIRECT_URIS=None,
        MCP_OAUTH_DYNAMIC_REGISTRATION=None, MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES=None,
    ).oauth
    assert oauth.access_token_ttl == 3600 and oauth.default_scopes == ("mcp:all",)
    assert oauth.allowed_redirect_uris == KNOWN_CLIENT_REDIRECT_URIS
    assert oauth.dynamic_registration is True and oauth.cimd_allow_private_addresses is False
    assert Settings.from_config(documented_config(SECRET, **{**OAUTH, "MCP_OAUTH_ENABLED": None})).oauth is None
    assert Settings.from_config(documented_config(SECRET, **{**OAUTH, "MCP_OAUTH_ENABLED": False})).oauth is None


def test_scopes_and_redirect_uris_as_given() -> None:
    oauth = settings(
        MCP_OAUTH_DEFAULT_SCOPES=("mcp:sql", "mcp:read", "mcp:sql"), MCP_OAUTH_ALLOWED_REDIRECT_URIS=[]
    ).oauth
    assert oauth.default_scopes == ("mcp:sql", "mcp:read")  # duplicates dropped, order kept
    assert oauth.allowed_redirect_uris == ()  # loopback only
    uris = ("https://b.example/cb", "https://a.example/cb")
    assert settings(MCP_OAUTH_ALLOWED_REDIRECT_URIS=uris).oauth.allowed_redirect_uris == uris


@pytest.mark.parametrize(
    "given, kept",
    [
        ("  https://s.example.com/sub//  ", "https://s.example.com/sub"),
        ("\thttps://s.example.com/mcp\n", "https://s.example.com/mcp"),
        ("  http://localhost:8088  ", "http://localhost:8088"),  # checked after trimming
        ("https://s.example.com/SupersetX", "https://s.example.com/SupersetX"),  # only "/" is trimmed
    ],
)
def test_urls_are_trimmed(given: str, kept: str) -> None:
    oauth = settings(MCP_OAUTH_ISSUER=given, MCP_OAUTH_RESOURCE=given).oauth
    assert (oauth.issuer, oauth.resource) == (kept, kept)


def test_the_settings_say_oauth_is_enabled() -> None:
    assert settings().oauth.enabled is True


@pytest.mark.parametrize("algorithm", ["none", "HS1"])
def test_oauth_needs_an_algorithm_it_can_sign_with(algorithm: str) -> None:
    config = {**OAUTH, "MCP_OAUTH_ENABLED": True}
    with pytest.raises(ConfigError) as raised:
        parse_oauth_settings(config, True, algorithm)
    assert str(raised.value) == "superset-mcp-jwt: MCP_JWT_ALGORITHM: unsupported algorithm for OAuth tokens"


def test_a_private_key_may_be_empty_with_hmac() -> None:
    assert settings(MCP_OAUTH_PRIVATE_KEY="").oauth.private_key is None


def test_asymmetric_mode_loads_the_private_key() -> None:
    oauth = rs256(MCP_OAUTH_PRIVATE_KEY=RSA_PEM).oauth
    assert oauth.asymmetric
    assert oauth.private_key.key_size == 2048
    assert RSA_PEM not in repr(oauth)


RATE_LIMIT_PROBLEM = 'must be a rate limit such as "60 per minute" or "10/second;300/hour"'

FAIL_CLOSED = [
    ("needs-auth", dict(MCP_AUTH_ENABLED=False),
     "MCP_OAUTH_ENABLED: needs MCP_AUTH_ENABLED = True (OAuth tokens are bearer tokens)"),
    ("enabled-not-bool", dict(MCP_OAUTH_ENABLED="yes"), "MCP_OAUTH_ENABLED: must be True or False"),
    ("issuer-missing", dict(MCP_OAUTH_ISSUER=None),
     "MCP_OAUTH_ISSUER: is required when MCP_OAUTH_ENABLED is True (a public https URL)"),
    ("issuer-empty", dict(MCP_OAUTH_ISSUER=""),
     "MCP_OAUTH_ISSUER: is required when MCP_OAUTH_ENABLED is True (a public https URL)"),
    ("issuer-http", dict(MCP_OAUTH_ISSUER="http://superset.example.com"),
     "MCP_OAUTH_ISSUER: must be an https:// URL (plain http only on loopback)"),
    ("issuer-http-lookalike", dict(MCP_OAUTH_ISSUER="http://localhost.evil.com"),
     "MCP_OAUTH_ISSUER: must be an https:// URL (plain http only on loopback)"),
    ("issuer-query", dict(MCP_OAUTH_ISSUER="https://s.example.com/?a=1"),
     "MCP_OAUTH_ISSUER: must not have a query or fragment"),
    ("issuer-fragment", dict(MCP_OAUTH_ISSUER="https://s.example.com/#x"),
     "MCP_OAUTH_ISSUER: must not have a query or fragment"),
    ("issuer-userinfo", dict(MCP_OAUTH_ISSUER="https://u:p@s.example.com"),
     "MCP_OAUTH_ISSUER: must not contain user information"),
    ("issuer-relative", dict(MCP_OAUTH_ISSUER="/superset"), "MCP_OAUTH_ISSUER: must be an absolute https:// URL"),
    ("issuer-scheme", dict(MCP_OAUTH_ISSUER="ftp://s.example.com"),
     "MCP_OAUTH_ISSUER: must be an absolute https:// URL"),
    ("issuer-bad-port", dict(MCP_OAUTH_ISSUER="https://s.example.com:99999"),
     "MCP_OAUTH_ISSUER: is not a valid URL"),
    ("issuer-blank", dict(MCP_OAUTH_ISSUER="   "),
     "MCP_OAUTH_ISSUER: is required when MCP_OAUTH_ENABLED is True (a public https URL)"),
    ("issuer-not-text", dict(MCP_OAUTH_ISSUER=443),
     "MCP_OAUTH_ISSUER: is required when MCP_OAUTH_ENABLED is True (a public https URL)"),
    ("issuer-empty-query", dict(MCP_OAUTH_ISSUER="https://s.example.com/?"),
     "MCP_OAUTH_ISSUER: must not have a query or fragment"),
    ("issuer-empty-fragment", dict(MCP_OAUTH_ISSUER="https://s.example.com/#"),
     "MCP_OAUTH_ISSUER: must not have a query or fragment"),
    ("issuer-username", dict(MCP_OAUTH_ISSUER="https://u@s.example.com"),
     "MCP_OAUTH_ISSUER: must not contain user information"),
    ("issuer-password", dict(MCP_OAUTH_ISSUER="https://:p@s.example.com"),
     "MCP_OAUTH_ISSUER: must not contain user information"),
    ("issuer-no-host", dict(MCP_OAUTH_ISSUER="https:///superset"),
     "MCP_OAUTH_ISSUER: must be an absolute https:// URL"),
    ("issuer-same-as-pasted-tokens",
     dict(MCP_JWT_ISSUER="https://superset.example.com", MCP_OAUTH_ISSUER="https://superset.example.com"),
     "MCP_OAUTH_ISSUER: must differ from MCP_JWT_ISSUER: "
     "Superset's own tokens and pasted ones are told apart by issuer"),
    ("resource-missing", dict(MCP_OAUTH_RESOURCE=None),
     "MCP_OAUTH_RESOURCE: is required when MCP_OAUTH_ENABLED is True (a public https URL)"),
    ("resource-http", dict(MCP_OAUTH_RESOURCE="http://s.example.com:5008/mcp"),
     "MCP_OAUTH_RESOURCE: must be an https:// URL (plain http only on loopback)"),
    ("hs-with-private-key", dict(MCP_OAUTH_PRIVATE_KEY=RSA_PEM),
     "MCP_OAUTH_PRIVATE_KEY: cannot be used with HS256: "
     "OAuth tokens are signed with the newest MCP_JWT_SECRET"),
    ("access-ttl-low", dict(MCP_OAUTH_ACCESS_TOKEN_TTL=59),
     "MCP_OAUTH_ACCESS_TOKEN_TTL: must be a whole number from 60 to 86400"),
    ("access-ttl-high", dict(MCP_OAUTH_ACCESS_TOKEN_TTL=86401),
     "MCP_OAUTH_ACCESS_TOKEN_TTL: must be a whole number from 60 to 86400"),
    ("access-ttl-float", dict(MCP_OAUTH_ACCESS_TOKEN_TTL=600.5),
     "MCP_OAUTH_ACCESS_TOKEN_TTL: must be a whole number from 60 to 86400"),
    ("access-ttl-bool", dict(MCP_OAUTH_ACCESS_TOKEN_TTL=True),
     "MCP_OAUTH_ACCESS_TOKEN_TTL: must be a whole number from 60 to 86400"),
    ("refresh-ttl-low", dict(MCP_OAUTH_REFRESH_TOKEN_TTL=3599),
     "MCP_OAUTH_REFRESH_TOKEN_TTL: must be a whole number from 3600 to 31536000"),
    ("refresh-ttl-high", dict(MCP_OAUTH_REFRESH_TOKEN_TTL=366 * 86400),
     "MCP_OAUTH_REFRESH_TOKEN_TTL: must be a whole number from 3600 to 31536000"),
    ("code-ttl-low", dict(MCP_OAUTH_AUTHORIZATION_CODE_TTL=9),
     "MCP_OAUTH_AUTHORIZATION_CODE_TTL: must be a whole number from 10 to 600"),
    ("code-ttl-high", dict(MCP_OAUTH_AUTHORIZATION_CODE_TTL=601),
     "MCP_OAUTH_AUTHORIZATION_CODE_TTL: must be a whole number from 10 to 600"),
    ("scopes-unknown", dict(MCP_OAUTH_DEFAULT_SCOPES=["mcp:admin"]),
     "MCP_OAUTH_DEFAULT_SCOPES: has unsupported scope(s) ['mcp:admin']; "
     "use mcp:read, mcp:write, mcp:sql, mcp:all"),
    ("scopes-empty", dict(MCP_OAUTH_DEFAULT_SCOPES=[]),
     "MCP_OAUTH_DEFAULT_SCOPES: must be a non-empty list of scopes"),
    ("scopes-blank", dict(MCP_OAUTH_DEFAULT_SCOPES=" "),
     "MCP_OAUTH_DEFAULT_SCOPES: must be a non-empty list of scopes"),
    ("scopes-not-text", dict(MCP_OAUTH_DEFAULT_SCOPES=["mcp:read", 1]),
     "MCP_OAUTH_DEFAULT_SCOPES: must be a non-empty list of scopes"),
    ("scopes-set", dict(MCP_OAUTH_DEFAULT_SCOPES={"mcp:read"}),
     "MCP_OAUTH_DEFAULT_SCOPES: must be a non-empty list of scopes"),
    ("scopes-some-unknown", dict(MCP_OAUTH_DEFAULT_SCOPES="mcp:read admin mcp:sql root"),
     "MCP_OAUTH_DEFAULT_SCOPES: has unsupported scope(s) ['admin', 'root']; "
     "use mcp:read, mcp:write, mcp:sql, mcp:all"),
    ("redirects-string", dict(MCP_OAUTH_ALLOWED_REDIRECT_URIS="https://a.example/cb"),
     "MCP_OAUTH_ALLOWED_REDIRECT_URIS: must be a list of exact redirect URIs"),
    ("redirects-empty-entry", dict(MCP_OAUTH_ALLOWED_REDIRECT_URIS=["https://a.example/cb", ""]),
     "MCP_OAUTH_ALLOWED_REDIRECT_URIS: must be a list of exact redirect URIs"),
    ("redirects-not-text", dict(MCP_OAUTH_ALLOWED_REDIRECT_URIS=["https://a.example/cb", 7]),
     "MCP_OAUTH_ALLOWED_REDIRECT_URIS: must be a list of exact redirect URIs"),
    ("redirects-long", dict(MCP_OAUTH_ALLOWED_REDIRECT_URIS=["https://a.example/" + "x" * 100 + "#f"]),
     "MCP_OAUTH_ALLOWED_REDIRECT_URIS: 'https://a.example/" + "x" * 62 + "': has a fragment"),
    ("redirects-http", dict(MCP_OAUTH_ALLOWED_REDIRECT_URIS=["http://a.example/cb"]),
     "MCP_OAUTH_ALLOWED_REDIRECT_URIS: 'http://a.example/cb': "
     "uses the 'http' scheme (loopback http is always allowed; others must be https)"),
    ("redirects-fragment", dict(MCP_OAUTH_ALLOWED_REDIRECT_URIS=["https://a.example/cb#x"]),
     "MCP_OAUTH_ALLOWED_REDIRECT_URIS: 'https://a.example/cb#x': has a fragment"),
    ("redirects-relative", dict(MCP_OAUTH_ALLOWED_REDIRECT_URIS=["/cb"]),
     "MCP_OAUTH_ALLOWED_REDIRECT_URIS: '/cb': has no lower-case scheme"),
    ("dcr-not-bool", dict(MCP_OAUTH_DYNAMIC_REGISTRATION=1),
     "MCP_OAUTH_DYNAMIC_REGISTRATION: must be True or False"),
    ("cimd-not-bool", dict(MCP_OAUTH_CLIENT_METADATA_DOCUMENTS="no"),
     "MCP_OAUTH_CLIENT_METADATA_DOCUMENTS: must be True or False"),
    ("max-clients-zero", dict(MCP_OAUTH_MAX_CLIENTS=0),
     "MCP_OAUTH_MAX_CLIENTS: must be a whole number from 1 to 10000000"),
    ("max-clients-high", dict(MCP_OAUTH_MAX_CLIENTS=10_000_001),
     "MCP_OAUTH_MAX_CLIENTS: must be a whole number from 1 to 10000000"),
    ("cimd-timeout-low", dict(MCP_OAUTH_CIMD_TIMEOUT=0.1),
     "MCP_OAUTH_CIMD_TIMEOUT: must be a number from 0.5 to 30"),
    ("cimd-timeout-nan", dict(MCP_OAUTH_CIMD_TIMEOUT=float("nan")),
     "MCP_OAUTH_CIMD_TIMEOUT: must be a number from 0.5 to 30"),
    ("cimd-timeout-high", dict(MCP_OAUTH_CIMD_TIMEOUT=30.01),
     "MCP_OAUTH_CIMD_TIMEOUT: must be a number from 0.5 to 30"),
    ("cimd-bytes-low", dict(MCP_OAUTH_CIMD_MAX_BYTES=1023),
     "MCP_OAUTH_CIMD_MAX_BYTES: must be a whole number from 1024 to 1048576"),
    ("cimd-bytes-high", dict(MCP_OAUTH_CIMD_MAX_BYTES=1048577),
     "MCP_OAUTH_CIMD_MAX_BYTES: must be a whole number from 1024 to 1048576"),
    ("cimd-cache-high", dict(MCP_OAUTH_CIMD_CACHE_SECONDS=86401),
     "MCP_OAUTH_CIMD_CACHE_SECONDS: must be a whole number from 60 to 86400"),
    ("cimd-cache-low", dict(MCP_OAUTH_CIMD_CACHE_SECONDS=59),
     "MCP_OAUTH_CIMD_CACHE_SECONDS: must be a whole number from 60 to 86400"),
    ("cimd-private-not-bool", dict(MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES="true"),
     "MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES: must be True or False"),
    ("unused-ttl-low", dict(MCP_OAUTH_UNUSED_CLIENT_TTL=299),
     "MCP_OAUTH_UNUSED_CLIENT_TTL: must be a whole number from 300 to 604800"),
    ("idle-ttl-high", dict(MCP_OAUTH_IDLE_CLIENT_TTL=365 * 86400 + 1),
     "MCP_OAUTH_IDLE_CLIENT_TTL: must be a whole number from 3600 to 31536000"),
    *[(f"rate-{key[20:].lower()}-{name}", {key: value}, f"{key}: " + RATE_LIMIT_PROBLEM)
      for key in ("MCP_OAUTH_RATE_LIMIT_REGISTRATION", "MCP_OAUTH_RATE_LIMIT_TOKEN",
                  "MCP_OAUTH_RATE_LIMIT_REVOCATION", "MCP_OAUTH_RATE_LIMIT_CONSENT",
                  "MCP_OAUTH_RATE_LIMIT_AUTHORIZATION")
      for name, value in (("words", "lots"), ("zero", "0 per minute"), ("empty", " "), ("number", 60),
                          ("trailing", "60 per minute;"), ("list", ["60 per minute"]))],
]


@pytest.mark.parametrize("overrides,message", [c[1:] for c in FAIL_CLOSED], ids=[c[0] for c in FAIL_CLOSED])
def test_fail_closed(overrides: dict, message: str) -> None:
    """Each refusal names its key and says what is wrong, word for word."""
    with pytest.raises(ConfigError) as raised:
        settings(**overrides)
    assert raised.value.key == message.split(":")[0]
    assert str(raised.value) == f"superset-mcp-jwt: {message}"


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


# --- registration storms (issue 17) -------------------------------------------------------


@pytest.mark.parametrize("value", ["1 per second", "10/second;300/hour", "  100 per 5 minutes  ", "5000/day"])
def test_rate_limits_take_the_limits_notation(value: str) -> None:
    oauth = settings(MCP_OAUTH_RATE_LIMIT_TOKEN=value, MCP_OAUTH_RATE_LIMIT_CONSENT=None).oauth
    assert dict(oauth.rate_limits)["token"] == value.strip()
    assert dict(oauth.rate_limits)["consent"] == "60 per minute"  # None: the default
