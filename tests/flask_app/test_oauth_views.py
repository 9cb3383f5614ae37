"""The authorization server's Flask face on a real Flask-AppBuilder app, SQLite metadata DB and CSRF."""

from __future__ import annotations

import base64
import hashlib
import html.parser
import logging
import secrets
import time
import urllib.parse
from typing import Any, Callable, Optional

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_appbuilder import AppBuilder
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from werkzeug.datastructures import MultiDict

import superset_mcp_jwt
from superset_mcp_jwt import superset_compat
from superset_mcp_jwt.cli import mcp_jwt
from superset_mcp_jwt.oauth import migrations
from superset_mcp_jwt.oauth.config import SUPPORTED_SCOPES
from superset_mcp_jwt.oauth_views import SCOPE_DESCRIPTIONS
from superset_mcp_jwt.registry import get_manager
from superset_mcp_jwt.tokens import SCOPE_METHODS

ISSUER = "http://localhost/superset"
RESOURCE = "http://localhost:5008/mcp"
REDIRECT = "http://127.0.0.1:43210/callback"


def make_oauth_app(tmp_path: Any, upgrade: bool = True, before: Optional[Callable[[Flask], Any]] = None,
                   **config: Any) -> Flask:
    """A FAB app with CSRF protection on, OAuth on, and users alice (active) and carol (inactive).

    ``before(app)`` runs just before init_app (views registered ahead of FLASK_APP_MUTATOR).
    """
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_hex(16),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / f'fab-{secrets.token_hex(4)}.db'}",
        TESTING=True,
        WTF_CSRF_ENABLED=True,
        MCP_AUTH_ENABLED=True,
        MCP_JWT_SECRET=secrets.token_urlsafe(32),
        MCP_JWT_ISSUER="superset-mcp",
        MCP_JWT_AUDIENCE="superset-mcp-clients",
        MCP_JWT_REVOCATION_STORE={"CACHE_TYPE": "SimpleCache"},
        MCP_OAUTH_ENABLED=True,
        MCP_OAUTH_ISSUER=ISSUER,
        MCP_OAUTH_RESOURCE=RESOURCE,
    )
    app.config.update(config)
    CSRFProtect(app)  # as Superset does: every POST needs a token unless exempt
    db = SQLAlchemy(app)
    with app.app_context():
        appbuilder = AppBuilder(app, db.session)
        sm = appbuilder.sm
        gamma = sm.add_role("Gamma")
        sm.add_user("alice", "Alice", "Gamma", "alice@example.com", gamma, "pw-Alice-123")
        sm.add_user("bob", "Bob", "Gamma", "bob@example.com", gamma, "pw-Bob-123")
        sm.session.commit()
        if before is not None:
            before(app)
        superset_mcp_jwt.init_app(app)
        if upgrade:
            migrations.upgrade(superset_compat.metadata_engine(app))
    return app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """One app per module (FAB's set-up is slow); each test registers its own client."""
    return make_oauth_app(tmp_path_factory.mktemp("oauth-app"))


def live(app: Flask, client_id: str) -> list[Any]:
    """The live connections of one client."""
    return [c for c in get_manager(app).oauth.connections() if c.client_id == client_id]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def sign_in(app: Flask, client: FlaskClient, username: str = "alice") -> None:
    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True


def register(client: FlaskClient, name: str = "Claude Code") -> str:
    response = client.post("/oauth/mcp/register", json={"client_name": name, "redirect_uris": [REDIRECT]})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["client_id"]


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize_url(client_id: str, challenge: str, **overrides: Optional[str]) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "st-42",
              "code_challenge": challenge, "code_challenge_method": "S256", "resource": RESOURCE,
              "scope": "mcp:read mcp:sql"}
    params.update(overrides)
    return "/oauth/mcp/authorize?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


class _Form(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.buttons: dict[str, str] = {}
        self._button: Optional[str] = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden":
            self.fields.append((a["name"] or "", a.get("value") or ""))
        if tag == "button":
            self._button = a.get("value")

    def handle_data(self, data: str) -> None:
        if self._button:
            self.buttons[self._button] = data.strip()
            self._button = None


def consent_form(page: str) -> _Form:
    form = _Form()
    form.feed(page)
    return form


def query(location: str) -> dict[str, str]:
    parts = urllib.parse.urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT
    return dict(urllib.parse.parse_qsl(parts.query))


def approve(app: Flask, client: FlaskClient, client_id: str, decision: str = "allow",
            **overrides: Optional[str]) -> tuple[dict[str, str], str]:
    """Sign in, open the consent page, press a button: the redirect's query and the PKCE verifier."""
    sign_in(app, client)
    verifier, challenge = pkce()
    page = client.get(authorize_url(client_id, challenge, **overrides))
    assert page.status_code == 200, page.get_data(as_text=True)
    form = consent_form(page.get_data(as_text=True))
    response = client.post("/oauth/mcp/authorize", data=MultiDict(form.fields + [("decision", decision)]))
    assert response.status_code == 302, response.get_data(as_text=True)
    return query(response.headers["Location"]), verifier


def exchange(client: FlaskClient, client_id: str, code: str, verifier: str, **extra: str) -> Any:
    return client.post("/oauth/mcp/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": client_id,
        "redirect_uri": REDIRECT, "code_verifier": verifier, "resource": RESOURCE, **extra,
    })


def tokens(app: Flask, client: FlaskClient) -> tuple[str, dict[str, Any]]:
    client_id = register(client)
    result, verifier = approve(app, client, client_id)
    response = exchange(client, client_id, result["code"], verifier)
    assert response.status_code == 200, response.get_data(as_text=True)
    return client_id, response.get_json()


def claims(app: Flask, token: str) -> dict[str, Any]:
    return jwt.decode(token, app.config["MCP_JWT_SECRET"], algorithms=["HS256"], audience=RESOURCE)


def test_metadata_at_both_well_known_paths_with_cors(client: FlaskClient) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/superset"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        document = response.get_json()
        assert document["issuer"] == ISSUER
        assert document["authorization_endpoint"] == ISSUER + "/oauth/mcp/authorize"
        assert document["token_endpoint"] == ISSUER + "/oauth/mcp/token"
        assert document["registration_endpoint"] == ISSUER + "/oauth/mcp/register"
        assert document["revocation_endpoint"] == ISSUER + "/oauth/mcp/revoke"
        assert document["code_challenge_methods_supported"] == ["S256"]
        assert document["token_endpoint_auth_methods_supported"] == ["none", "client_secret_post", "client_secret_basic"]
        assert document["authorization_response_iss_parameter_supported"] is True
        assert document["client_id_metadata_document_supported"] is True
        assert "jwks_uri" not in document  # HS256: no public key to publish
    assert client.get("/oauth/mcp/jwks").status_code == 404


@pytest.mark.parametrize("path", ["/.well-known/oauth-authorization-server", "/oauth/mcp/token",
                                  "/oauth/mcp/register", "/oauth/mcp/revoke"])
def test_cors_preflight_on_machine_endpoints(client: FlaskClient, path: str) -> None:
    response = client.options(path, headers={"Origin": "https://claude.ai",
                                             "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_consent_page_is_not_cors_enabled_and_cannot_be_framed(app: Flask, client: FlaskClient) -> None:
    client_id = register(client)
    sign_in(app, client)
    response = client.get(authorize_url(client_id, pkce()[1]))
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_visitor_goes_to_the_login_page_and_back(app: Flask, client: FlaskClient) -> None:
    client_id = register(client)
    url = authorize_url(client_id, pkce()[1])
    response = client.get(url)
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert location.path == "/login/"
    assert urllib.parse.parse_qs(location.query)["next"] == [url]


def test_consent_page_names_client_user_server_and_scopes(app: Flask, client: FlaskClient) -> None:
    client_id = register(client, name="Claude Code")
    sign_in(app, client)
    page = client.get(authorize_url(client_id, pkce()[1])).get_data(as_text=True)
    assert "Claude Code" in page and client_id in page
    assert "alice" in page and RESOURCE in page and "127.0.0.1:43210" in page
    assert "mcp:read" in page and "run SQL queries" in page and "mcp:all" not in page
    form = consent_form(page)
    assert form.buttons["allow"].startswith("Allow") and form.buttons["deny"].startswith("Deny")


def test_every_scope_is_explained_on_the_consent_page() -> None:
    assert set(SCOPE_DESCRIPTIONS) == set(SUPPORTED_SCOPES) <= set(SCOPE_METHODS)


def test_allow_then_code_exchange_with_pkce(app: Flask, client: FlaskClient) -> None:
    client_id = register(client)
    result, verifier = approve(app, client, client_id)
    assert set(result) == {"code", "state", "iss"}
    assert result["state"] == "st-42" and result["iss"] == ISSUER
    response = exchange(client, client_id, result["code"], verifier)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["scope"] == "mcp:read mcp:sql"
    access = claims(app, body["access_token"])
    assert (access["sub"], access["iss"], access["aud"], access["client_id"]) == ("alice", ISSUER, RESOURCE, client_id)
    [connection] = live(app, client_id)
    assert connection.username == "alice" and connection.scopes == ("mcp:read", "mcp:sql")


def test_consent_post_without_or_with_a_wrong_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    client_id = register(client)
    sign_in(app, client)
    page = client.get(authorize_url(client_id, pkce()[1])).get_data(as_text=True)
    fields = [(k, v) for k, v in consent_form(page).fields if k != "csrf_token"]
    for extra in ([], [("csrf_token", "forged")]):
        response = client.post("/oauth/mcp/authorize", data=MultiDict(fields + extra + [("decision", "allow")]))
        assert response.status_code == 400
        assert "Location" not in response.headers
    assert live(app, client_id) == []


def test_consent_post_revalidates_every_parameter(app: Flask, client: FlaskClient) -> None:
    client_id = register(client)
    sign_in(app, client)
    page = client.get(authorize_url(client_id, pkce()[1])).get_data(as_text=True)
    fields = [(k, "https://evil.example/cb" if k == "redirect_uri" else v) for k, v in consent_form(page).fields]
    response = client.post("/oauth/mcp/authorize", data=MultiDict(fields + [("decision", "allow")]))
    assert response.status_code == 400 and "Location" not in response.headers


def test_deny_returns_access_denied_with_state_and_iss(app: Flask, client: FlaskClient) -> None:
    result, _ = approve(app, client, register(client), decision="deny")
    assert result["error"] == "access_denied" and result["state"] == "st-42" and result["iss"] == ISSUER
    assert "code" not in result


@pytest.mark.parametrize("overrides", [{"code_challenge_method": "plain"},
                                       {"code_challenge": None, "code_challenge_method": None}],
                         ids=["plain", "missing"])
def test_pkce_plain_or_missing_is_refused(app: Flask, client: FlaskClient, overrides: dict) -> None:
    client_id = register(client)
    sign_in(app, client)
    _, challenge = pkce()
    response = client.get(authorize_url(client_id, challenge, **overrides))
    assert response.status_code == 302
    result = query(response.headers["Location"])
    assert result["error"] == "invalid_request" and result["state"] == "st-42" and result["iss"] == ISSUER


@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1:43210/callback/x", "https://evil.example/callback",
                                          "http://127.0.0.1:43210/callback?x=1"])
def test_redirect_mismatch_shows_an_error_page_and_never_redirects(
    app: Flask, client: FlaskClient, redirect_uri: str
) -> None:
    client_id = register(client)
    for signed_in in (False, True):
        if signed_in:
            sign_in(app, client)
        response = client.get(authorize_url(client_id, pkce()[1], redirect_uri=redirect_uri))
        assert response.status_code == 400 and "Location" not in response.headers
        page = response.get_data(as_text=True)
        assert "Sign-in request refused" in page and redirect_uri not in page and "evil.example" not in page


def test_unknown_client_shows_an_error_page(client: FlaskClient) -> None:
    response = client.get(authorize_url("no-such-client", pkce()[1]))
    assert response.status_code == 400 and "Location" not in response.headers


def test_foreign_resource_is_invalid_target(app: Flask, client: FlaskClient) -> None:
    client_id = register(client)
    sign_in(app, client)
    response = client.get(authorize_url(client_id, pkce()[1], resource="https://other.example/mcp"))
    assert query(response.headers["Location"])["error"] == "invalid_target"
    result, verifier = approve(app, client, client_id)
    token = exchange(client, client_id, result["code"], verifier, resource="https://other.example/mcp")
    assert token.status_code == 400 and token.get_json()["error"] == "invalid_target"


def test_code_replay_is_refused_and_revokes_the_family(app: Flask, client: FlaskClient) -> None:
    client_id = register(client)
    result, verifier = approve(app, client, client_id)
    first = exchange(client, client_id, result["code"], verifier).get_json()
    replay = exchange(client, client_id, result["code"], verifier)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    refresh = client.post("/oauth/mcp/token", data={"grant_type": "refresh_token", "client_id": client_id,
                                                    "refresh_token": first["refresh_token"]})
    assert refresh.get_json()["error"] == "invalid_grant"
    revocations = get_manager(app).revocations
    with pytest.raises(Exception, match="revoked"):
        revocations.check(claims(app, first["access_token"]))


def test_refresh_rotates_replay_after_the_grace_window_kills_family_and_scope_cannot_grow(
    app: Flask, client: FlaskClient
) -> None:
    client_id, first = tokens(app, client)
    refresh = {"grant_type": "refresh_token", "client_id": client_id}
    grow = client.post("/oauth/mcp/token", data={**refresh, "refresh_token": first["refresh_token"],
                                                 "scope": "mcp:read mcp:all"})
    assert grow.status_code == 400 and grow.get_json()["error"] == "invalid_scope"
    second = client.post("/oauth/mcp/token", data={**refresh, "refresh_token": first["refresh_token"]})
    assert second.status_code == 200 and second.headers["Cache-Control"] == "no-store"
    second_body = second.get_json()
    assert second_body["refresh_token"] != first["refresh_token"]
    again = client.post("/oauth/mcp/token", data={**refresh, "refresh_token": first["refresh_token"]})
    assert again.status_code == 200  # within the grace window: a sibling, nothing revoked
    store = get_manager(app).oauth.store
    window = get_manager(app).settings.oauth.refresh_grace_seconds
    store._clock = lambda: time.time() + window  # the window is over
    replay = client.post("/oauth/mcp/token", data={**refresh, "refresh_token": first["refresh_token"]})
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    sibling = client.post("/oauth/mcp/token", data={**refresh, "refresh_token": again.get_json()["refresh_token"]})
    assert sibling.get_json()["error"] == "invalid_grant"
    third = client.post("/oauth/mcp/token", data={**refresh, "refresh_token": second_body["refresh_token"]})
    assert third.get_json()["error"] == "invalid_grant"
    assert live(app, client_id) == []


def test_token_parameters_in_the_url_are_ignored(app: Flask, client: FlaskClient) -> None:
    client_id = register(client)
    result, verifier = approve(app, client, client_id)
    fields = {"grant_type": "authorization_code", "code": result["code"], "client_id": client_id,
              "redirect_uri": REDIRECT, "code_verifier": verifier}
    response = client.post("/oauth/mcp/token?" + urllib.parse.urlencode(fields))
    assert response.status_code == 400 and "access_token" not in response.get_json()
    assert exchange(client, client_id, result["code"], verifier).status_code == 200  # not burnt


def test_revocation_endpoint(app: Flask, client: FlaskClient) -> None:
    client_id, body = tokens(app, client)
    assert client.post("/oauth/mcp/revoke", data={"token": "junk", "client_id": client_id}).status_code == 200
    response = client.post("/oauth/mcp/revoke", data={"token": body["refresh_token"], "client_id": client_id})
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    assert live(app, client_id) == []


def test_machine_endpoints_need_no_csrf_token_but_bound_their_bodies(client: FlaskClient) -> None:
    # (Every POST above went without a CSRF token under CSRFProtect.)
    too_big = client.post("/oauth/mcp/register", data=b"{" + b" " * 20000 + b"}",
                          content_type="application/json")
    assert too_big.status_code == 413
    not_json = client.post("/oauth/mcp/register", data=b"[1]", content_type="application/json")
    assert not_json.status_code == 400 and not_json.get_json()["error"] == "invalid_client_metadata"
    bad_uri = client.post("/oauth/mcp/register", json={"redirect_uris": ["https://evil.example/cb"]})
    assert bad_uri.status_code == 400 and bad_uri.get_json()["error"] == "invalid_redirect_uri"


def test_missing_tables_answer_503_and_warn_once(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    app = make_oauth_app(tmp_path, upgrade=False)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="superset_mcp_jwt"):
        for _ in range(2):
            response = client.post("/oauth/mcp/register", json={"redirect_uris": [REDIRECT]})
            assert response.status_code == 503
            assert response.get_json()["error"] == "temporarily_unavailable"
        page = client.get(authorize_url("some-client", pkce()[1]))
        assert page.status_code == 503
    warnings = [r.getMessage() for r in caplog.records if "superset mcp-jwt db upgrade" in r.getMessage()]
    assert len(warnings) == 1
    assert "superset mcp-jwt" not in response.get_data(as_text=True)  # the fix is for the operator's log


def test_oauth_off_adds_nothing(tmp_path: Any) -> None:
    app = make_oauth_app(tmp_path, upgrade=False, MCP_OAUTH_ENABLED=False)
    assert get_manager(app).oauth is None
    client = app.test_client()
    assert client.get("/.well-known/oauth-authorization-server").status_code == 404
    assert client.get("/oauth/mcp/authorize").status_code == 404


def test_cli_db_upgrade_is_idempotent_and_revoke_sub_revokes_connections(tmp_path: Any) -> None:
    app = make_oauth_app(tmp_path, upgrade=False)
    runner = app.test_cli_runner()
    first = runner.invoke(mcp_jwt, ["db", "upgrade"])
    head = migrations.head_revision()
    assert first.exit_code == 0 and f"upgraded from nothing to revision {head}" in first.output
    again = runner.invoke(mcp_jwt, ["db", "upgrade"])
    assert again.exit_code == 0 and f"up to date (revision {head})" in again.output
    client = app.test_client()
    _, body = tokens(app, client)
    result = runner.invoke(mcp_jwt, ["revoke", "--sub", "alice"])
    assert result.exit_code == 0, result.output
    assert "revoked 1 OAuth connection(s) of 'alice'" in result.output
    refresh = client.post("/oauth/mcp/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                                    "client_id": claims(app, body["access_token"])["client_id"]})
    assert refresh.get_json()["error"] == "invalid_grant"


def test_asymmetric_mode_publishes_jwks(tmp_path: Any) -> None:
    from tests.unit.test_oauth_config import RSA_PEM, RSA_PUBLIC

    app = make_oauth_app(tmp_path, MCP_JWT_ALGORITHM="RS256", MCP_JWT_SECRET=None, MCP_JWT_PUBLIC_KEY=RSA_PUBLIC,
                         MCP_OAUTH_PRIVATE_KEY=RSA_PEM)
    client = app.test_client()
    assert client.get("/.well-known/oauth-authorization-server").get_json()["jwks_uri"] == ISSUER + "/oauth/mcp/jwks"
    response = client.get("/oauth/mcp/jwks")
    [key] = response.get_json()["keys"]
    assert key["kty"] == "RSA" and "d" not in key and response.headers["Access-Control-Allow-Origin"] == "*"
    _, body = tokens(app, client)
    signing_key = jwt.PyJWK(key).key
    assert jwt.decode(body["access_token"], signing_key, algorithms=["RS256"], audience=RESOURCE)["sub"] == "alice"
