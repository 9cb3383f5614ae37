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
    # One trusted issuer of the operator's (Superset main trusts several only with MCP_USER_RESOLVER).
    ("issuer-list", config(MCP_JWT_ISSUER=["https://idp-a", "https://idp-b"]), "MCP_JWT_ISSUER"),
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
    ("rs256-with-no-key", config(MCP_JWT_ALGORITHM="RS256", MCP_JWT_SECRET=_DELETE), "MCP_JWT_PUBLIC_KEY"),
    ("rs256-with-key-and-jwks",
     config(MCP_JWT_ALGORITHM="RS256", MCP_JWT_SECRET=_DELETE, MCP_JWKS_URI="https://idp.example.com/jwks",
            MCP_JWT_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"),
     "MCP_JWT_PUBLIC_KEY"),
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


# --------------------------------------------------------------------------- what the operator is told

#: The exact text after "superset-mcp-jwt: <KEY>: " for each FAIL_CLOSED case
#: (docs/reference/configuration.md: start-up stops with `superset-mcp-jwt: <KEY>: <what is wrong>`).
REQUIRED = "is required when MCP_AUTH_ENABLED is True"
TOO_SHORT = "is {n} bytes; {alg} needs at least {m} random bytes (RFC 7518 §3.2). Generate one with: openssl rand -base64 48"
EXAMPLE = ("is the example secret published in Superset's documentation; anyone can sign tokens "
           "with it. Generate your own: openssl rand -base64 48")
NON_EMPTY = "must be a non-empty string"
AUDIENCE_SHAPE = "must be a non-empty string or a list of them"
NO_NONE = "unsigned tokens (alg none) are never accepted"
UNSUPPORTED = ("unsupported algorithm; use one of HS256, HS384, HS512, ES256, ES384, ES512, EdDSA, "
               "PS256, PS384, PS512, RS256, RS384, RS512")
BOOL = "must be True or False"
LEEWAY = "must be a number from 0 to 600"
MESSAGES = {
    "secret-missing": REQUIRED, "secret-none": REQUIRED, "secret-empty": REQUIRED,
    "secret-empty-bytes": REQUIRED, "secret-not-a-string": "must be a string",
    "hs256-secret-31-bytes": TOO_SHORT.format(n=31, alg="HS256", m=32),
    "hs384-secret-47-bytes": TOO_SHORT.format(n=47, alg="HS384", m=48),
    "hs512-secret-63-bytes": TOO_SHORT.format(n=63, alg="HS512", m=64),
    "hs512-with-hs256-sized-secret": TOO_SHORT.format(n=43, alg="HS512", m=64),
    "published-example-secret": EXAMPLE, "published-example-secret-literal": EXAMPLE,
    "published-example-secret-bytes": EXAMPLE,
    "issuer-missing": NON_EMPTY, "issuer-none": NON_EMPTY, "issuer-empty": NON_EMPTY, "issuer-blank": NON_EMPTY,
    "audience-missing": AUDIENCE_SHAPE, "audience-empty": AUDIENCE_SHAPE, "audience-empty-list": AUDIENCE_SHAPE,
    "audience-list-with-non-string": AUDIENCE_SHAPE, "audience-list-with-empty": AUDIENCE_SHAPE,
    "alg-none": NO_NONE, "alg-None": NO_NONE, "alg-NONE": NO_NONE,
    "alg-unknown": UNSUPPORTED, "alg-lowercase-hs256": UNSUPPORTED,
    "secret-with-rs256": "cannot be used with RS256; set MCP_JWT_PUBLIC_KEY or MCP_JWKS_URI",
    "rs256-with-no-key": "RS256 needs exactly one of MCP_JWT_PUBLIC_KEY and MCP_JWKS_URI",
    "rs256-with-key-and-jwks": "RS256 needs exactly one of MCP_JWT_PUBLIC_KEY and MCP_JWKS_URI",
    "dev-username-with-auth": ("must be None when MCP_AUTH_ENABLED is True; otherwise every MCP caller "
                               "could act as that user"),
    "public-key-set": "cannot be used with HS256, which takes MCP_JWT_SECRET",
    "jwks-uri-with-hs256": "cannot be used with HS256, which takes MCP_JWT_SECRET",
    "auth-enabled-yes": BOOL, "auth-enabled-1": BOOL, "debug-errors-string": BOOL,
    "debug-errors-int": BOOL, "email-fallback-string": BOOL,
    "leeway-negative": LEEWAY, "leeway-over-600": LEEWAY, "leeway-just-over-600": LEEWAY,
    "leeway-string": LEEWAY, "leeway-true": LEEWAY, "leeway-nan": LEEWAY, "leeway-inf": LEEWAY,
    "resolver-not-callable": "must be a callable or None",
    "protected-blueprints-string": "must be a list of names",
    "protected-blueprints-with-empty-name": "must be a list of names",
    "scopes-with-non-string": AUDIENCE_SHAPE,
    "user-claim-empty": NON_EMPTY,
    "realm-double-quote": "must not contain quotes or backslashes",
    "realm-backslash": "must not contain quotes or backslashes",
    "realm-empty": NON_EMPTY,
}


@pytest.mark.parametrize(
    "cfg, key, message",
    [pytest.param(c, k, MESSAGES[i], id=i) for i, c, k in FAIL_CLOSED if i in MESSAGES],
)
def test_unsafe_config_message(cfg, key, message):
    with pytest.raises(ConfigError) as info:
        Settings.from_config(cfg)
    assert str(info.value) == f"superset-mcp-jwt: {key}: {message}"


@pytest.mark.parametrize(
    "secret, message",
    [
        ("-----BEGIN PUBLIC KEY-----\nMIIB" + "A" * 60, "looks like a PEM/SSH/JWK key; an HMAC algorithm needs a random secret"),
        ("  \n-----BEGIN RSA PRIVATE KEY-----" + "A" * 60, "looks like a PEM/SSH/JWK key; an HMAC algorithm needs a random secret"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGk" + "A" * 30, "looks like a PEM/SSH/JWK key; an HMAC algorithm needs a random secret"),
        ('{"kty": "oct", "k": "' + "A" * 40 + '"}', "looks like a PEM/SSH/JWK key; an HMAC algorithm needs a random secret"),
        ([], "is required when MCP_AUTH_ENABLED is True"),
        (["n" * 40, "n" * 40], "lists the same secret twice"),
        (["n" * 40, 12], "must be a string"),
    ],
    ids=["pem", "pem-after-whitespace", "ssh", "jwk", "empty-list", "duplicate", "non-string-in-list"],
)
def test_secret_refusals(secret, message):
    with pytest.raises(ConfigError) as info:
        Settings.from_config(config(MCP_JWT_SECRET=secret))
    assert str(info.value) == f"superset-mcp-jwt: MCP_JWT_SECRET: {message}"


def test_secret_with_trailing_whitespace_is_not_taken_for_a_key():
    # Only leading whitespace is skipped before looking for key armour.
    secret = "A" * 40 + " -----BEGIN"
    assert Settings.from_config(config(MCP_JWT_SECRET=secret)).secret == secret.encode()


def test_secret_as_a_tuple_and_its_order():
    settings = Settings.from_config(config(MCP_JWT_SECRET=("n" * 40, "o" * 40)))
    assert settings.secrets == (b"n" * 40, b"o" * 40) and settings.secret == b"n" * 40


# --------------------------------------------------------------------------- every key reaches its field

#: (key, Settings field, a non-default value in range, the documented default)
FIELDS = [
    ("MCP_JWT_LEEWAY", "leeway", 45, 30.0),
    ("MCP_JWT_USER_CLAIM", "user_claim", "email", "sub"),
    ("MCP_JWT_EMAIL_FALLBACK", "email_fallback", False, True),
    ("MCP_JWT_PROTECTED_BLUEPRINTS", "protected_blueprints", ["a", "b"], frozenset({"mcp"})),
    ("MCP_JWT_REALM", "realm", "other realm", "superset-mcp"),
    ("MCP_JWT_DEBUG_ERRORS", "debug_errors", True, False),
    ("MCP_JWT_TOKEN_PAGE", "token_page", False, True),
    ("MCP_JWT_TOKEN_PAGE_MAX_TTL", "token_page_max_ttl", 86400, 7 * 86400),
    ("MCP_JWT_AUDIT_ACTION_LOG", "audit_action_log", False, True),
    ("MCP_JWT_TOKEN_CACHE_SIZE", "token_cache_size", 17, 4096),
    ("MCP_JWT_USER_CACHE_SECONDS", "user_cache_seconds", 7.5, 5.0),
    ("MCP_JWKS_CACHE_SECONDS", "jwks_cache_seconds", 60, 300.0),
    ("MCP_JWKS_REFETCH_COOLDOWN", "jwks_cooldown_seconds", 2, 30.0),
    ("MCP_JWKS_TIMEOUT", "jwks_timeout_seconds", 1.5, 5.0),
    ("MCP_JWKS_STALE_SECONDS", "jwks_stale_seconds", 600, 86400.0),
    ("MCP_JWT_REVOCATION_MEMO_SECONDS", "revocation_memo_seconds", 0.5, 2.0),
    ("MCP_JWT_REVOCATION_STORE", "revocation_store", {"CACHE_TYPE": "RedisCache"}, None),
]


@pytest.mark.parametrize("key, field, value, default", FIELDS, ids=[f[0] for f in FIELDS])
def test_each_key_reaches_its_field_with_the_documented_default(key, field, value, default):
    assert getattr(Settings.from_config(DOCUMENTED), field) == default
    got = getattr(Settings.from_config(config(**{key: value})), field)
    expected = frozenset(value) if isinstance(default, frozenset) else value
    assert got == expected and type(got) is type(default if default is not None else value)


#: (key, low, high, whole number): the documented ranges, bounds included.
RANGES = [
    ("MCP_JWT_LEEWAY", 0, 600, False),
    ("MCP_JWT_TOKEN_PAGE_MAX_TTL", 3600, 90 * 86400, True),
    ("MCP_JWT_TOKEN_CACHE_SIZE", 0, 1_000_000, True),
    ("MCP_JWT_USER_CACHE_SECONDS", 0, 300, False),
    ("MCP_JWKS_CACHE_SECONDS", 10, 86400, False),
    ("MCP_JWKS_REFETCH_COOLDOWN", 1, 3600, False),
    ("MCP_JWKS_TIMEOUT", 0.5, 60, False),
    ("MCP_JWKS_STALE_SECONDS", 0, 7 * 86400, False),
    ("MCP_JWT_REVOCATION_MEMO_SECONDS", 0, 5, False),
]


@pytest.mark.parametrize("key, low, high, whole", RANGES, ids=[r[0] for r in RANGES])
def test_number_ranges_are_inclusive_and_enforced(key, low, high, whole):
    for value in (low, high):
        Settings.from_config(config(**{key: value}))
    step = 1 if whole else 0.01
    kind = "a whole number" if whole else "a number"
    bad = [low - step, high + step, str(low), True] + ([low + 0.5] if whole else [float("nan")])
    for value in bad:
        with pytest.raises(ConfigError) as info:
            Settings.from_config(config(**{key: value}))
        assert str(info.value) == f"superset-mcp-jwt: {key}: must be {kind} from {low} to {high}", value


@pytest.mark.parametrize("key", ["MCP_JWT_TOKEN_PAGE", "MCP_JWT_AUDIT_ACTION_LOG", "MCP_JWT_EMAIL_FALLBACK"])
def test_flags_must_be_booleans(key):
    with pytest.raises(ConfigError) as info:
        Settings.from_config(config(**{key: "yes"}))
    assert str(info.value) == f"superset-mcp-jwt: {key}: must be True or False"


@pytest.mark.parametrize(
    "keys, url",
    [
        ({}, "http://localhost:5008/mcp"),
        ({"MCP_SERVICE_HOST": "mcp.internal", "MCP_SERVICE_PORT": 9000}, "http://mcp.internal:9000/mcp"),
        ({"MCP_SERVICE_HOST": "", "MCP_SERVICE_PORT": None}, "http://localhost:5008/mcp"),
        ({"MCP_JWT_SERVER_URL": "https://bi.example.com/mcp", "MCP_SERVICE_PORT": 9000},
         "https://bi.example.com/mcp"),
    ],
    ids=["default", "service-host-and-port", "empty-values", "explicit"],
)
def test_server_url(keys, url):
    assert Settings.from_config(config(**keys)).server_url == url


def test_server_url_must_be_a_string():
    with pytest.raises(ConfigError) as info:
        Settings.from_config(config(MCP_JWT_SERVER_URL=["https://bi.example.com/mcp"]))
    assert str(info.value) == "superset-mcp-jwt: MCP_JWT_SERVER_URL: must be the MCP server's URL"


@pytest.mark.parametrize("value", [False, None, {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": "redis://x"}])
def test_revocation_store_values(value):
    store = Settings.from_config(config(MCP_JWT_REVOCATION_STORE=value)).revocation_store
    assert store == value and (store is value if not value else store is not value)  # a copy


@pytest.mark.parametrize("value", ["redis://x", {"CACHE_REDIS_URL": "redis://x"}, {"CACHE_TYPE": 1}, True])
def test_revocation_store_must_be_a_flask_caching_config(value):
    with pytest.raises(ConfigError) as info:
        Settings.from_config(config(MCP_JWT_REVOCATION_STORE=value))
    assert str(info.value) == (
        "superset-mcp-jwt: MCP_JWT_REVOCATION_STORE: must be False, None, or a Flask-Caching config "
        'such as {"CACHE_TYPE": "RedisCache", ...}'
    )


def test_auth_disabled_keeps_the_face_settings_and_nothing_else():
    settings = Settings.from_config({
        "MCP_AUTH_ENABLED": False, "MCP_DEV_USERNAME": "alice", "MCP_JWT_REALM": "r",
        "MCP_JWT_DEBUG_ERRORS": True, "MCP_JWT_PROTECTED_BLUEPRINTS": ["x"], "MCP_JWT_SECRET": SECRET,
        "MCP_JWT_ISSUER": "i", "MCP_JWT_AUDIENCE": "a", "MCP_REQUIRED_SCOPES": ["s"],
        "MCP_JWT_USER_RESOLVER": lambda c, m: None,
    })
    assert (settings.realm, settings.debug_errors, settings.dev_username) == ("r", True, "alice")
    assert settings.protected_blueprints == frozenset({"x"})
    assert (settings.algorithm, settings.secret, settings.issuer) == ("", b"", "")
    assert settings.audiences == frozenset() and settings.required_scopes == ()
    assert settings.user_resolver is None and settings.user_claim == "sub"
    assert settings.leeway == 0.0 and settings.email_fallback is False


@pytest.mark.parametrize(
    "cfg, key, message",
    [
        ({"MCP_AUTH_ENABLED": False, "MCP_JWT_REALM": 'a"b'}, "MCP_JWT_REALM", "must not contain quotes or backslashes"),
        ({"MCP_AUTH_ENABLED": False, "MCP_DEV_USERNAME": 7}, "MCP_DEV_USERNAME", "must be a user name or None"),
        ({"MCP_AUTH_ENABLED": False, "MCP_JWT_PROTECTED_BLUEPRINTS": "mcp"}, "MCP_JWT_PROTECTED_BLUEPRINTS",
         "must be a list of names"),
        ({"MCP_AUTH_ENABLED": False, "MCP_JWT_USER_RESOLVER": "x"}, "MCP_JWT_USER_RESOLVER", "must be a callable or None"),
        ({"MCP_AUTH_ENABLED": False, "MCP_JWT_DEBUG_ERRORS": 1}, "MCP_JWT_DEBUG_ERRORS", "must be True or False"),
    ],
    ids=["realm", "dev-username", "blueprints", "resolver", "debug-errors"],
)
def test_auth_disabled_still_checks_what_it_uses(cfg, key, message):
    with pytest.raises(ConfigError) as info:
        Settings.from_config(cfg)
    assert str(info.value) == f"superset-mcp-jwt: {key}: {message}"


def test_empty_protected_blueprints_are_allowed():
    assert Settings.from_config(config(MCP_JWT_PROTECTED_BLUEPRINTS=[])).protected_blueprints == frozenset()


def test_warnings_text(caplog):
    cfg = {"MCP_AUTH_ENABLED": False, "MCP_DEV_USERNAME": "admin", "MCP_JWT_SECRET": SECRET}
    with caplog.at_level(logging.WARNING, logger="superset_mcp_jwt"):
        Settings.from_config(cfg).warn_if_unauthenticated(cfg)
    assert [r.getMessage() for r in _warnings(caplog)] == [
        "MCP_AUTH_ENABLED is False: every MCP request runs as MCP_DEV_USERNAME 'admin' without "
        "authentication. Use this for development only.",
        "MCP_JWT_SECRET is set but MCP_AUTH_ENABLED is False: bearer tokens are not checked.",
    ]


def test_asymmetric_settings_have_no_secrets():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    settings = Settings.from_config(config(MCP_JWT_ALGORITHM="ES256", MCP_JWT_SECRET=None, MCP_JWT_PUBLIC_KEY=public))
    assert settings.secrets == () and settings.secret == b"" and settings.jwks_uri is None
    assert settings.public_key is not None
