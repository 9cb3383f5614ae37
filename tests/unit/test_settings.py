"""Settings.from_config: the fail-closed matrix and the documented defaults."""

from __future__ import annotations

import logging
import secrets

import pytest

from superset_mcp_jwt.errors import ConfigError
from superset_mcp_jwt.settings import PUBLISHED_EXAMPLE_SECRET, Settings
from tests.documented import documented_config

# What the documentation tells operators to generate: 43 URL-safe characters.
SECRET = secrets.token_urlsafe(32)
assert len(SECRET) == 43

DOCUMENTED = documented_config(SECRET)

_DELETE = object()


def config(**overrides):
    """The documented config with some keys replaced (or removed with _DELETE)."""
    result = dict(DOCUMENTED)
    for key, value in overrides.items():
        if value is _DELETE:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def distinct_secret(n: int) -> str:
    """A recognisable secret of exactly n ASCII bytes."""
    return ("Zq8" * n)[:n]


# (test id, config, key the ConfigError must name)
FAIL_CLOSED = [
    # the secret
    ("secret-missing", config(MCP_JWT_SECRET=_DELETE), "MCP_JWT_SECRET"),
    ("secret-none", config(MCP_JWT_SECRET=None), "MCP_JWT_SECRET"),
    ("secret-empty", config(MCP_JWT_SECRET=""), "MCP_JWT_SECRET"),
    ("secret-empty-bytes", config(MCP_JWT_SECRET=b""), "MCP_JWT_SECRET"),
    ("secret-not-a-string", config(MCP_JWT_SECRET=12345678901234567890123456789012345),
     "MCP_JWT_SECRET"),
    ("hs256-secret-31-bytes", config(MCP_JWT_SECRET=distinct_secret(31)), "MCP_JWT_SECRET"),
    ("hs384-secret-47-bytes",
     config(MCP_JWT_ALGORITHM="HS384", MCP_JWT_SECRET=distinct_secret(47)), "MCP_JWT_SECRET"),
    ("hs512-secret-63-bytes",
     config(MCP_JWT_ALGORITHM="HS512", MCP_JWT_SECRET=distinct_secret(63)), "MCP_JWT_SECRET"),
    ("hs512-with-hs256-sized-secret",
     config(MCP_JWT_ALGORITHM="HS512", MCP_JWT_SECRET=SECRET), "MCP_JWT_SECRET"),
    ("published-example-secret", config(MCP_JWT_SECRET=PUBLISHED_EXAMPLE_SECRET),
     "MCP_JWT_SECRET"),
    ("published-example-secret-literal",
     config(MCP_JWT_SECRET="K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="), "MCP_JWT_SECRET"),
    ("published-example-secret-bytes",
     config(MCP_JWT_SECRET=PUBLISHED_EXAMPLE_SECRET.encode()), "MCP_JWT_SECRET"),
    # issuer
    ("issuer-missing", config(MCP_JWT_ISSUER=_DELETE), "MCP_JWT_ISSUER"),
    ("issuer-none", config(MCP_JWT_ISSUER=None), "MCP_JWT_ISSUER"),
    ("issuer-empty", config(MCP_JWT_ISSUER=""), "MCP_JWT_ISSUER"),
    ("issuer-blank", config(MCP_JWT_ISSUER="   "), "MCP_JWT_ISSUER"),
    # audience
    ("audience-missing", config(MCP_JWT_AUDIENCE=_DELETE), "MCP_JWT_AUDIENCE"),
    ("audience-empty", config(MCP_JWT_AUDIENCE=""), "MCP_JWT_AUDIENCE"),
    ("audience-empty-list", config(MCP_JWT_AUDIENCE=[]), "MCP_JWT_AUDIENCE"),
    ("audience-list-with-non-string",
     config(MCP_JWT_AUDIENCE=["superset-mcp-clients", 42]), "MCP_JWT_AUDIENCE"),
    ("audience-list-with-empty", config(MCP_JWT_AUDIENCE=["superset-mcp-clients", ""]),
     "MCP_JWT_AUDIENCE"),
    # algorithm
    ("alg-none", config(MCP_JWT_ALGORITHM="none"), "MCP_JWT_ALGORITHM"),
    ("alg-None", config(MCP_JWT_ALGORITHM="None"), "MCP_JWT_ALGORITHM"),
    ("alg-NONE", config(MCP_JWT_ALGORITHM="NONE"), "MCP_JWT_ALGORITHM"),
    ("alg-unknown", config(MCP_JWT_ALGORITHM="XS256"), "MCP_JWT_ALGORITHM"),
    ("alg-lowercase-hs256", config(MCP_JWT_ALGORITHM="hs256"), "MCP_JWT_ALGORITHM"),
    ("secret-with-rs256", config(MCP_JWT_ALGORITHM="RS256"), "MCP_JWT_SECRET"),
    ("alg-not-a-string", config(MCP_JWT_ALGORITHM=256), "MCP_JWT_ALGORITHM"),
    # modes that must not be combined with, or silently ignored by, bearer auth
    ("dev-username-with-auth", config(MCP_DEV_USERNAME="admin"), "MCP_DEV_USERNAME"),
    ("public-key-set",
     config(MCP_JWT_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"),
     "MCP_JWT_PUBLIC_KEY"),
    ("jwks-uri-with-hs256", config(MCP_JWKS_URI="https://idp.example.com/.well-known/jwks.json"),
     "MCP_JWKS_URI"),
    # booleans must be real booleans
    ("auth-enabled-yes", config(MCP_AUTH_ENABLED="yes"), "MCP_AUTH_ENABLED"),
    ("auth-enabled-1", config(MCP_AUTH_ENABLED=1), "MCP_AUTH_ENABLED"),
    ("debug-errors-string", config(MCP_JWT_DEBUG_ERRORS="false"), "MCP_JWT_DEBUG_ERRORS"),
    ("debug-errors-int", config(MCP_JWT_DEBUG_ERRORS=0), "MCP_JWT_DEBUG_ERRORS"),
    ("email-fallback-string", config(MCP_JWT_EMAIL_FALLBACK="no"), "MCP_JWT_EMAIL_FALLBACK"),
    # leeway
    ("leeway-negative", config(MCP_JWT_LEEWAY=-1), "MCP_JWT_LEEWAY"),
    ("leeway-over-600", config(MCP_JWT_LEEWAY=601), "MCP_JWT_LEEWAY"),
    ("leeway-just-over-600", config(MCP_JWT_LEEWAY=600.5), "MCP_JWT_LEEWAY"),
    ("leeway-string", config(MCP_JWT_LEEWAY="30"), "MCP_JWT_LEEWAY"),
    ("leeway-true", config(MCP_JWT_LEEWAY=True), "MCP_JWT_LEEWAY"),
    ("leeway-nan", config(MCP_JWT_LEEWAY=float("nan")), "MCP_JWT_LEEWAY"),
    ("leeway-inf", config(MCP_JWT_LEEWAY=float("inf")), "MCP_JWT_LEEWAY"),
    # hooks and lists
    ("resolver-not-callable", config(MCP_JWT_USER_RESOLVER="my_module.resolve_user"),
     "MCP_JWT_USER_RESOLVER"),
    ("protected-blueprints-string", config(MCP_JWT_PROTECTED_BLUEPRINTS="mcp"),
     "MCP_JWT_PROTECTED_BLUEPRINTS"),
    ("protected-blueprints-with-empty-name", config(MCP_JWT_PROTECTED_BLUEPRINTS=["mcp", ""]),
     "MCP_JWT_PROTECTED_BLUEPRINTS"),
    ("scopes-with-non-string", config(MCP_REQUIRED_SCOPES=["mcp:read", 1]),
     "MCP_REQUIRED_SCOPES"),
    ("user-claim-empty", config(MCP_JWT_USER_CLAIM=""), "MCP_JWT_USER_CLAIM"),
    # the realm is quoted into WWW-Authenticate
    ("realm-double-quote", config(MCP_JWT_REALM='superset"mcp'), "MCP_JWT_REALM"),
    ("realm-backslash", config(MCP_JWT_REALM="superset\\mcp"), "MCP_JWT_REALM"),
    ("realm-empty", config(MCP_JWT_REALM=""), "MCP_JWT_REALM"),
]


@pytest.mark.parametrize(
    "cfg, key", [pytest.param(c, k, id=i) for i, c, k in FAIL_CLOSED]
)
def test_unsafe_config_is_refused(cfg, key):
    with pytest.raises(ConfigError) as info:
        Settings.from_config(cfg)
    assert info.value.key == key
    message = str(info.value)
    assert key in message
    secret = cfg.get("MCP_JWT_SECRET")
    if isinstance(secret, bytes):
        secret = secret.decode()
    if isinstance(secret, str) and secret:
        assert secret not in message
    assert SECRET not in message


@pytest.mark.parametrize(
    "algorithm, length", [("HS256", 32), ("HS384", 48), ("HS512", 64)]
)
def test_secret_of_exactly_the_minimum_length_is_accepted(algorithm, length):
    secret = distinct_secret(length)
    settings = Settings.from_config(
        config(MCP_JWT_ALGORITHM=algorithm, MCP_JWT_SECRET=secret)
    )
    assert settings.algorithm == algorithm
    assert settings.secret == secret.encode()


def test_secret_length_is_counted_in_utf8_bytes():
    # 16 two-byte characters: 16 characters but 32 bytes.
    secret = "é" * 16
    assert Settings.from_config(config(MCP_JWT_SECRET=secret)).secret == secret.encode()
    with pytest.raises(ConfigError) as info:
        Settings.from_config(config(MCP_JWT_SECRET="é" * 15 + "x"))  # 31 bytes
    assert info.value.key == "MCP_JWT_SECRET"


@pytest.mark.parametrize("value", [5, True])
def test_non_iterable_protected_blueprints_is_a_config_error(value):
    with pytest.raises(ConfigError) as info:
        Settings.from_config(config(MCP_JWT_PROTECTED_BLUEPRINTS=value))
    assert info.value.key == "MCP_JWT_PROTECTED_BLUEPRINTS"


def test_documented_config_parses_with_documented_defaults():
    settings = Settings.from_config(DOCUMENTED)
    assert settings.auth_enabled is True
    assert settings.algorithm == "HS256"
    assert settings.secret == SECRET.encode()
    assert settings.issuer == "superset-mcp"
    assert settings.audiences == frozenset({"superset-mcp-clients"})
    assert settings.leeway == 30.0 and isinstance(settings.leeway, float)
    assert settings.user_claim == "sub"
    assert settings.email_fallback is True
    assert settings.user_resolver is None
    assert settings.required_scopes == ()
    assert settings.protected_blueprints == frozenset({"mcp"})
    assert settings.realm == "superset-mcp"
    assert settings.debug_errors is False
    assert settings.dev_username is None


def test_none_values_fall_back_to_defaults():
    settings = Settings.from_config(
        config(MCP_JWT_LEEWAY=None, MCP_JWT_REALM=None, MCP_JWT_DEBUG_ERRORS=None)
    )
    assert settings.leeway == 30.0
    assert settings.realm == "superset-mcp"
    assert settings.debug_errors is False


def test_audience_as_a_list():
    settings = Settings.from_config(config(MCP_JWT_AUDIENCE=["a-clients", "b-clients"]))
    assert settings.audiences == frozenset({"a-clients", "b-clients"})


def test_required_scopes_as_space_separated_string_becomes_a_tuple():
    settings = Settings.from_config(config(MCP_REQUIRED_SCOPES="mcp:read  mcp:write"))
    assert settings.required_scopes == ("mcp:read", "mcp:write")


def test_required_scopes_as_a_list_becomes_a_tuple():
    settings = Settings.from_config(config(MCP_REQUIRED_SCOPES=["mcp:read"]))
    assert settings.required_scopes == ("mcp:read",)


def test_leeway_bounds_are_inclusive():
    assert Settings.from_config(config(MCP_JWT_LEEWAY=0)).leeway == 0.0
    assert Settings.from_config(config(MCP_JWT_LEEWAY=600)).leeway == 600.0


def test_callable_resolver_is_kept():
    def resolver(claims, sm):
        return None

    assert Settings.from_config(config(MCP_JWT_USER_RESOLVER=resolver)).user_resolver is resolver


def test_repr_does_not_contain_the_secret():
    settings = Settings.from_config(DOCUMENTED)
    text = repr(settings)
    assert SECRET not in text
    assert repr(SECRET.encode()) not in text
    assert "superset-mcp-clients" in text  # the repr is still useful


def test_auth_disabled_parses_without_secret_and_keeps_dev_username():
    settings = Settings.from_config({"MCP_AUTH_ENABLED": False, "MCP_DEV_USERNAME": "admin"})
    assert settings.auth_enabled is False
    assert settings.dev_username == "admin"
    assert settings.secret == b""


def test_empty_config_means_auth_disabled():
    settings = Settings.from_config({})
    assert settings.auth_enabled is False
    assert settings.dev_username is None


def test_auth_disabled_still_rejects_empty_dev_username():
    with pytest.raises(ConfigError) as info:
        Settings.from_config({"MCP_AUTH_ENABLED": False, "MCP_DEV_USERNAME": ""})
    assert info.value.key == "MCP_DEV_USERNAME"


def _warnings(caplog):
    return [r for r in caplog.records if r.levelno == logging.WARNING]


def test_warns_about_dev_username_when_auth_is_off(caplog):
    cfg = {"MCP_AUTH_ENABLED": False, "MCP_DEV_USERNAME": "admin"}
    settings = Settings.from_config(cfg)
    with caplog.at_level(logging.WARNING, logger="superset_mcp_jwt"):
        settings.warn_if_unauthenticated(cfg)
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert "MCP_DEV_USERNAME" in warnings[0].getMessage()
    assert "admin" in warnings[0].getMessage()


def test_warns_when_secret_is_set_but_auth_is_off(caplog):
    cfg = {"MCP_AUTH_ENABLED": False, "MCP_JWT_SECRET": SECRET}
    settings = Settings.from_config(cfg)
    with caplog.at_level(logging.WARNING, logger="superset_mcp_jwt"):
        settings.warn_if_unauthenticated(cfg)
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert "MCP_JWT_SECRET" in warnings[0].getMessage()
    assert SECRET not in caplog.text


def test_no_warning_when_auth_is_on(caplog):
    settings = Settings.from_config(DOCUMENTED)
    with caplog.at_level(logging.DEBUG, logger="superset_mcp_jwt"):
        settings.warn_if_unauthenticated(DOCUMENTED)
    assert _warnings(caplog) == []


def test_no_warning_when_auth_is_off_without_dev_user_or_secret(caplog):
    settings = Settings.from_config({})
    with caplog.at_level(logging.DEBUG, logger="superset_mcp_jwt"):
        settings.warn_if_unauthenticated({})
    assert _warnings(caplog) == []


def test_published_example_secret_with_surrounding_whitespace_is_refused():
    with pytest.raises(ConfigError) as info:
        Settings.from_config(config(MCP_JWT_SECRET=PUBLISHED_EXAMPLE_SECRET + "\n"))
    assert info.value.key == "MCP_JWT_SECRET"
