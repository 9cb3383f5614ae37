"""The Flask face on a real Flask-AppBuilder app with real users in SQLite."""

from __future__ import annotations

import logging
import time
from importlib.metadata import version

import pytest
from flask import Blueprint

from superset_mcp_jwt import ConfigError, MCPJWTManager, get_manager

from .conftest import make_app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_documented_token_is_served_as_its_user(client, mint):
    response = client.get("/mcp/whoami", headers=bearer(mint("alice")))
    assert response.status_code == 200
    assert response.json == {"user": "alice", "current_user": "alice", "roles": ["Gamma"]}


def test_each_request_gets_its_own_user(client, mint):
    assert client.get("/mcp/whoami", headers=bearer(mint("admin"))).json["user"] == "admin"
    assert client.get("/mcp/whoami", headers=bearer(mint("alice"))).json["user"] == "alice"
    # No token after two good ones: no leftover identity.
    assert client.get("/mcp/whoami").status_code == 401


def test_missing_token_gets_a_bare_challenge(client):
    response = client.get("/mcp/whoami")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="superset-mcp"'
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"sub": "nobody"}, "unknown_user"),
        ({"sub": "carol"}, "inactive_user"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iss": "someone-else"}, "bad_issuer"),
        ({"aud": "another-api"}, "bad_audience"),
        ({"sub": ""}, "bad_subject"),
        ({"exp": ...}, "missing_claim"),
        ({"nbf": int(time.time()) + 3600}, "not_yet_valid"),
    ],
)
def test_bad_tokens_get_invalid_token(client, mint, caplog, claims, reason):
    token = mint(**claims)
    with caplog.at_level(logging.INFO, logger="superset_mcp_jwt"):
        response = client.get("/mcp/whoami", headers=bearer(token))
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="superset-mcp", error="invalid_token"')
    # One generic body for every reason: no reason code, no claim value.
    assert response.json == {
        "error": "invalid_token",
        "error_description": "The access token is invalid or expired.",
    }
    assert f"rejected: {reason}" in caplog.text
    # Default logs carry the reason code, never the token or a claim value.
    assert token not in caplog.text and "someone-else" not in caplog.text


def test_wrong_secret_is_rejected(client, mint):
    response = client.get("/mcp/whoami", headers=bearer(mint(secret="x" * 40)))
    assert response.status_code == 401


def test_token_in_query_string_cookie_or_body_is_ignored(client, mint):
    token = mint("alice")
    assert client.get(f"/mcp/whoami?access_token={token}").status_code == 401
    client.set_cookie("access_token", token)
    assert client.get("/mcp/whoami").status_code == 401
    assert client.post("/mcp/whoami", data={"access_token": token}).status_code == 401


def test_malformed_authorization_gets_400(client, mint):
    token = mint("alice")
    response = client.get("/mcp/whoami", headers={"Authorization": f"Bearer {token} {token}"})
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]
    two_headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    assert client.get("/mcp/whoami", headers=two_headers).status_code == 400


def test_options_preflight_passes(client):
    response = client.options("/mcp/whoami")
    assert response.status_code == 200 and response.json == {"user": None}


def test_nested_blueprint_is_guarded_by_its_parent_name(tmp_path, mint):
    app = make_app(tmp_path, MCP_JWT_PROTECTED_BLUEPRINTS=["mcp_tools"])
    client = app.test_client()
    assert client.get("/mcp-tools/child/ping").status_code == 401
    # "mcp" is no longer in the list, so it is not guarded.
    assert client.get("/mcp/whoami").json == {"user": None}


def test_other_blueprints_are_untouched_and_token_is_not_a_login(tmp_path, mint):
    # Not the pytest-flask `client`: it keeps one app context (and so one `g`)
    # across requests for the whole test, which a real server never does.
    app = make_app(tmp_path)
    client = app.test_client()
    token = mint("admin", secret=app.config["MCP_JWT_SECRET"])
    response = client.get("/api/whoami", headers=bearer(token))
    assert response.status_code == 200
    assert response.json == {"authenticated": False}
    # A good MCP request writes no session either.
    client.get("/mcp/whoami", headers=bearer(token))
    assert client.get("/api/whoami").json == {"authenticated": False}
    assert client.get_cookie("session") is None


def test_blueprint_registered_after_init_app_is_guarded(tmp_path, mint):
    app = make_app(tmp_path, MCP_JWT_PROTECTED_BLUEPRINTS=["late"])
    late = Blueprint("late", __name__, url_prefix="/late")

    @late.route("/x")
    def x():
        return "ok"

    app.register_blueprint(late)
    client = app.test_client()
    assert client.get("/late/x").status_code == 401
    secret = app.config["MCP_JWT_SECRET"]
    assert client.get("/late/x", headers=bearer(mint(secret=secret))).status_code == 200


def test_email_claim_resolves_through_fallback(client, mint):
    response = client.get("/mcp/whoami", headers=bearer(mint("alice@example.com")))
    assert response.json["user"] == "alice"


def test_custom_resolver_maps_a_claim(tmp_path, mint):
    def by_employee_number(claims, sm):
        return {"e-42": "admin"}.get(claims.get("employee"))

    app = make_app(tmp_path, MCP_JWT_USER_RESOLVER=by_employee_number)
    secret = app.config["MCP_JWT_SECRET"]
    client = app.test_client()
    ok = client.get("/mcp/whoami", headers=bearer(mint("svc", secret=secret, employee="e-42")))
    assert ok.json["user"] == "admin"
    denied = client.get("/mcp/whoami", headers=bearer(mint("svc", secret=secret, employee="e-7")))
    assert denied.status_code == 401


def test_debug_errors_explain_in_the_log_but_not_to_the_client(tmp_path, mint, caplog):
    app = make_app(tmp_path, MCP_JWT_DEBUG_ERRORS=True)
    secret = app.config["MCP_JWT_SECRET"]
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="superset_mcp_jwt"):
        wrong_iss = client.get("/mcp/whoami", headers=bearer(mint(secret=secret, iss="acme")))
        expired = client.get(
            "/mcp/whoami", headers=bearer(mint(secret=secret, exp=int(time.time()) - 7200))
        )
        good = client.get("/mcp/whoami", headers=bearer(mint("admin", secret=secret)))
    assert "iss is 'acme', MCP_JWT_ISSUER is 'superset-mcp'" in caplog.text
    assert "token expired 2.0h ago" in caplog.text
    assert "acme" not in wrong_iss.get_data(as_text=True)
    assert expired.status_code == 401
    assert good.status_code == 200  # debug mode keeps valid tokens working
    assert secret not in caplog.text


def test_bad_config_stops_init_app(tmp_path):
    with pytest.raises(ConfigError) as info:
        make_app(tmp_path, MCP_JWT_SECRET="short")
    assert info.value.key == "MCP_JWT_SECRET"
    assert "short" not in str(info.value)


def test_dev_mode_installs_no_guard(tmp_path):
    app = make_app(tmp_path, MCP_AUTH_ENABLED=False, MCP_DEV_USERNAME="admin")
    assert get_manager(app).verifier is None
    # Without auth the extension does not answer for the blueprint.
    assert app.test_client().get("/mcp/whoami").json == {"user": None}


def test_init_app_twice_is_refused(app):
    with pytest.raises(ConfigError):
        MCPJWTManager(app)


def test_one_audit_line_per_request(client, mint, caplog):
    token = mint("alice", jti="jti-123")
    with caplog.at_level(logging.INFO, logger="superset_mcp_jwt"):
        client.get("/mcp/whoami", headers={**bearer(token), "User-Agent": "cursor/1.2\x7f"})
        client.get("/mcp/whoami", headers=bearer(mint("nobody")))
    lines = [r.getMessage() for r in caplog.records if r.name == "superset_mcp_jwt"]
    assert lines == [
        "MCP bearer token accepted: user=alice jti='jti-123' client='cursor/1.2?'",
        f"MCP bearer token rejected: unknown_user client='Werkzeug/{version('werkzeug')}'",
    ]


def test_public_key_and_jwks_modes(tmp_path):
    import jwt as pyjwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.jwks_provider import Provider

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    claims = {"sub": "alice", "iss": "superset-mcp", "aud": "superset-mcp-clients",
              "exp": int(time.time()) + 600}
    token = pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    pem_app = make_app(tmp_path, MCP_JWT_ALGORITHM="RS256", MCP_JWT_SECRET=None, MCP_JWT_PUBLIC_KEY=public)
    assert pem_app.test_client().get("/mcp/whoami", headers=bearer(token)).json["user"] == "alice"

    provider = Provider()
    provider.keys["k1"] = key
    try:
        jwks_app = make_app(tmp_path, MCP_JWT_ALGORITHM="RS256", MCP_JWT_SECRET=None,
                            MCP_JWKS_URI=provider.uri)
        client = jwks_app.test_client()
        assert client.get("/mcp/whoami", headers=bearer(token)).json["user"] == "alice"
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = pyjwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "k1"})
        assert client.get("/mcp/whoami", headers=bearer(forged)).status_code == 401
        # An HS256 token MACed with the public key text: key confusion refused.
        confused = pyjwt.encode(claims, "x" * 64, algorithm="HS256")
        assert client.get("/mcp/whoami", headers=bearer(confused)).status_code == 401
    finally:
        provider.stop()


def test_rotated_secrets_both_work(tmp_path):
    import jwt as pyjwt

    new, old = "n" * 40, "o" * 40
    app = make_app(tmp_path, MCP_JWT_SECRET=[new, old])
    claims = {"sub": "alice", "iss": "superset-mcp", "aud": "superset-mcp-clients",
              "exp": int(time.time()) + 600}
    client = app.test_client()
    for secret in (new, old):
        token = pyjwt.encode(claims, secret, algorithm="HS256")
        assert client.get("/mcp/whoami", headers=bearer(token)).json["user"] == "alice"


def test_metadata_db_unreachable_is_a_503_that_recovers_by_itself(app, client, mint, caplog):
    """The SQLite file is replaced by a directory: every new connection fails to open it."""
    import os

    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    assert client.get("/mcp/whoami", headers=bearer(mint("alice"))).status_code == 200
    os.rename(path, path + ".away")
    os.mkdir(path)
    app.appbuilder.sm.session.remove()  # the test's app context kept its connection open
    try:
        with caplog.at_level(logging.INFO, logger="superset_mcp_jwt"):
            response = client.get("/mcp/whoami", headers=bearer(mint("alice")))
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5" and response.headers["Cache-Control"] == "no-store"
        assert response.json == {
            "error": "temporarily_unavailable",
            "error_description": "Tokens cannot be verified right now; try again later.",
        }
        lines = [r for r in caplog.records if r.name == "superset_mcp_jwt"]
        assert [(r.levelno, r.getMessage().split(" client=")[0]) for r in lines] == [
            (logging.WARNING, "MCP bearer token rejected: database_unavailable (OperationalError)")
        ]
        assert path not in caplog.text
    finally:
        os.rmdir(path)
        os.rename(path + ".away", path)
    assert client.get("/mcp/whoami", headers=bearer(mint("alice"))).status_code == 200


def test_jwks_outage_is_answered_503_and_recovers(tmp_path):
    """The identity provider's JWKS cannot be fetched: 503 temporarily_unavailable
    (not 401, which would tell a client its token is bad), never a 200 or a 500;
    once the provider is back (after the refetch cooldown) the same token works."""
    import uuid

    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.jwks_provider import Provider

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token() -> str:  # a new token each time, so none is answered from the cache
        claims = {"sub": "alice", "iss": "superset-mcp", "aud": "superset-mcp-clients",
                  "exp": int(time.time()) + 600, "jti": uuid.uuid4().hex}
        return pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    provider = Provider()
    provider.keys["k1"] = key
    provider.down = True
    try:
        app = make_app(tmp_path, MCP_JWT_ALGORITHM="RS256", MCP_JWT_SECRET=None,
                       MCP_JWKS_URI=provider.uri, MCP_JWKS_REFETCH_COOLDOWN=1)
        client = app.test_client()
        response = client.get("/mcp/whoami", headers=bearer(token()))
        assert response.status_code == 503
        assert response.json == {
            "error": "temporarily_unavailable",
            "error_description": "Tokens cannot be verified right now; try again later.",
        }
        # temporarily_unavailable is no RFC 6750 error code: a bare challenge.
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="superset-mcp"'
        assert response.headers["Cache-Control"] == "no-store"
        assert provider.hits == 1
        # Within the cooldown the provider is not asked again: still 503.
        assert client.get("/mcp/whoami", headers=bearer(token())).status_code == 503
        assert provider.hits == 1

        provider.down = False
        time.sleep(1.1)  # past MCP_JWKS_REFETCH_COOLDOWN
        response = client.get("/mcp/whoami", headers=bearer(token()))
        assert response.status_code == 200, response.status_code
        assert response.json["user"] == "alice"
    finally:
        provider.stop()
