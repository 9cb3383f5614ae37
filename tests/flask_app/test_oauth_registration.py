"""The Flask face of confidential registration, RFC 7592 and the per-address rate limits,
on a real Flask-AppBuilder app with CSRF protection on (tests/flask_app/test_oauth_views.py's)."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict
from werkzeug.middleware.proxy_fix import ProxyFix

from superset_mcp_jwt.errors import ConfigError
from superset_mcp_jwt.metrics import Metrics
from superset_mcp_jwt.recorder import Recorder
from superset_mcp_jwt.registry import get_manager
from tests.flask_app.test_oauth_views import (
    REDIRECT, RESOURCE, authorize_url, consent_form, make_oauth_app, pkce, query, sign_in,
)

LIMITS = dict(
    MCP_OAUTH_RATE_LIMIT_REGISTRATION="6 per hour",
    MCP_OAUTH_RATE_LIMIT_TOKEN="4 per hour",
    MCP_OAUTH_RATE_LIMIT_REVOCATION="2 per hour",
    MCP_OAUTH_RATE_LIMIT_CONSENT="2 per hour",
    MCP_OAUTH_RATE_LIMIT_AUTHORIZATION="3 per hour",
)
_addresses = iter(f"198.51.100.{n}" for n in range(1, 255))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    app = make_oauth_app(tmp_path_factory.mktemp("oauth-limits"), **LIMITS)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # what Superset's ENABLE_PROXY_FIX does
    return app


@pytest.fixture
def address() -> str:
    """An address of this test's own: the counters of one test never reach another."""
    return next(_addresses)


@pytest.fixture
def client(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def register(client: FlaskClient, method: str = "client_secret_post") -> dict[str, Any]:
    response = client.post("/oauth/mcp/register", json={
        "client_name": "Claude", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": method,
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
    })
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def too_many(response: Any) -> int:
    """A 429 as every machine endpoint sends it; its Retry-After."""
    assert response.status_code == 429, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "temporarily_unavailable" and "retry after" in body["error_description"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    return retry_after


def test_confidential_client_through_flask_with_basic(app: Flask, client: FlaskClient) -> None:
    registered = register(client, "client_secret_basic")
    sign_in(app, client)
    verifier, challenge = pkce()
    page = client.get(authorize_url(registered["client_id"], challenge))
    form = consent_form(page.get_data(as_text=True))
    redirect = client.post("/oauth/mcp/authorize", data=MultiDict(form.fields + [("decision", "allow")]))
    code = query(redirect.headers["Location"])["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
            "resource": RESOURCE}
    wrong = base64.b64encode(f"{registered['client_id']}:wrong".encode()).decode()
    refused = client.post("/oauth/mcp/token", data=form, headers={"Authorization": f"Basic {wrong}"})
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    assert refused.headers["WWW-Authenticate"].startswith("Basic ")
    right = base64.b64encode(f"{registered['client_id']}:{registered['client_secret']}".encode()).decode()
    issued = client.post("/oauth/mcp/token", data=form, headers={"Authorization": f"Basic {right}"})
    assert issued.status_code == 200, issued.get_data(as_text=True)


def test_rfc7592_through_flask_needs_no_csrf_token(app: Flask, client: FlaskClient) -> None:
    registered = register(client)
    uri = registered["registration_client_uri"]
    assert uri == f"http://localhost/superset/oauth/mcp/register/{registered['client_id']}"
    path = "/oauth/mcp/register/" + registered["client_id"]
    bearer = {"Authorization": f"Bearer {registered['registration_access_token']}"}
    preflight = client.options(path, headers={"Origin": "https://inspector.example",
                                              "Access-Control-Request-Method": "DELETE"})
    assert preflight.status_code == 204 and "DELETE" in preflight.headers["Access-Control-Allow-Methods"]
    read = client.get(path, headers=bearer)
    assert read.status_code == 200 and read.headers["Cache-Control"] == "no-store"
    assert read.get_json()["client_id"] == registered["client_id"] and "client_secret" not in read.get_json()
    assert client.put(path, headers=bearer, json={"client_id": registered["client_id"]}).status_code == 403
    anonymous = client.delete(path)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer ")
    deleted = client.delete(path, headers=bearer)  # CSRFProtect is on: a DELETE without a CSRF token passes
    assert deleted.status_code == 204
    assert get_manager(app).oauth.store.get_client(registered["client_id"]) is None


def test_registration_limit_answers_429_and_counts_rfc7592_too(client: FlaskClient) -> None:
    registered = register(client, "none")
    bearer = {"Authorization": f"Bearer {registered['registration_access_token']}"}
    assert client.get(f"/oauth/mcp/register/{registered['client_id']}", headers=bearer).status_code == 200
    for _ in range(4):
        register(client, "none")
    too_many(client.post("/oauth/mcp/register", json={"redirect_uris": [REDIRECT]}))
    too_many(client.get(f"/oauth/mcp/register/{registered['client_id']}", headers=bearer))


def test_preflights_are_not_counted(client: FlaskClient) -> None:
    for _ in range(10):
        assert client.options("/oauth/mcp/register").status_code == 204
    register(client)


class CountingStats:
    """A STATS_LOGGER-shaped sink (``incr``) that keeps the counter names."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def incr(self, key: str) -> None:
        self.keys.append(key)


def test_token_limit_answers_429_and_counts_the_refusal(app: Flask, client: FlaskClient) -> None:
    stats = CountingStats()
    service = get_manager(app).oauth
    service.recorder = Recorder(Metrics(stats))  # the face reads its service's recorder per request
    for _ in range(4):  # no client authentication: 401 invalid_client, counted all the same
        assert client.post("/oauth/mcp/token", data={"grant_type": "refresh_token"}).status_code == 401
    assert "mcp_jwt.rate_limited.token" not in stats.keys
    too_many(client.post("/oauth/mcp/token", data={"grant_type": "refresh_token"}))
    service.recorder.flush()
    assert stats.keys.count("mcp_jwt.rate_limited.token") == 1


def test_revocation_limit_answers_429(client: FlaskClient) -> None:
    for _ in range(2):
        client.post("/oauth/mcp/revoke", data={"token": "x", "client_id": "nobody"})
    too_many(client.post("/oauth/mcp/revoke", data={"token": "x", "client_id": "nobody"}))


def test_consent_limit_answers_429_with_a_page(app: Flask, client: FlaskClient) -> None:
    registered = register(client, "none")
    sign_in(app, client)
    for _ in range(2):
        page = client.get(authorize_url(registered["client_id"], pkce()[1]))
        form = consent_form(page.get_data(as_text=True))
        answer = client.post("/oauth/mcp/authorize", data=MultiDict(form.fields + [("decision", "deny")]))
        assert answer.status_code == 302
    refused = client.post("/oauth/mcp/authorize", data=MultiDict(form.fields + [("decision", "allow")]))
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600 and "Location" not in refused.headers
    assert "Too many sign-in requests" in refused.get_data(as_text=True)
    # The GET counts apart: its third request this hour is still answered.
    assert client.get(authorize_url(registered["client_id"], pkce()[1])).status_code == 200


def test_authorization_request_limit_answers_429_with_a_page(app: Flask, client: FlaskClient) -> None:
    """Each GET can make the server fetch a new https client_id (CIMD): it is counted per address too,
    whether or not the visitor is signed in yet."""
    registered = register(client, "none")
    for _ in range(3):
        assert client.get(authorize_url(registered["client_id"], pkce()[1])).status_code == 302  # to the login page
    refused = client.get(authorize_url(registered["client_id"], pkce()[1]))
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600 and "Location" not in refused.headers
    assert "Too many sign-in requests" in refused.get_data(as_text=True)
    assert refused.headers["X-Frame-Options"] == "DENY" and "no-store" in refused.headers["Cache-Control"]


def test_the_address_is_the_one_superset_sees_behind_its_proxy(app: Flask) -> None:
    """Behind ENABLE_PROXY_FIX, the forwarded client address is counted, not the proxy's."""
    proxy = app.test_client()
    proxy.environ_base["REMOTE_ADDR"] = "10.0.0.1"
    for _ in range(4):
        proxy.post("/oauth/mcp/token", data={}, headers={"X-Forwarded-For": "192.0.2.10"})
    too_many(proxy.post("/oauth/mcp/token", data={}, headers={"X-Forwarded-For": "192.0.2.10"}))
    assert proxy.post("/oauth/mcp/token", data={}, headers={"X-Forwarded-For": "192.0.2.11"}).status_code == 400


def test_ratelimit_key_func_is_honoured(tmp_path: Any) -> None:
    app = make_oauth_app(tmp_path, RATELIMIT_KEY_FUNC=lambda: "everyone", MCP_OAUTH_RATE_LIMIT_TOKEN="1 per hour")
    first, second = app.test_client(), app.test_client()
    first.environ_base["REMOTE_ADDR"], second.environ_base["REMOTE_ADDR"] = "192.0.2.1", "192.0.2.2"
    assert first.post("/oauth/mcp/token").status_code == 400
    too_many(second.post("/oauth/mcp/token"))


def test_a_storage_outage_answers_503_never_unlimited(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    app = make_oauth_app(tmp_path, RATELIMIT_STORAGE_URI="redis://:pw@127.0.0.1:1/0",
                         RATELIMIT_STORAGE_OPTIONS={"socket_connect_timeout": 1})
    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="superset_mcp_jwt"):
        response = client.post("/oauth/mcp/register", json={"redirect_uris": [REDIRECT]})
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert "redis" not in response.get_data(as_text=True).lower()
    assert "the rate-limit storage is unavailable (ConnectionError)" in caplog.text and "pw@" not in caplog.text
    assert client.get("/.well-known/oauth-authorization-server").status_code == 200  # metadata is not limited


@pytest.mark.parametrize(("config", "key", "message"), [
    ({"RATELIMIT_STORAGE_URI": "bogus://host"}, "RATELIMIT_STORAGE_URI",
     "'bogus' is not a storage the limits package knows, or its options are wrong"),
    ({"RATELIMIT_STRATEGY": "leaky-bucket"}, "RATELIMIT_STRATEGY",
     "must be one of fixed-window, moving-window, sliding-window-counter"),
    ({"MCP_OAUTH_RATE_LIMIT_TOKEN": "many"}, "MCP_OAUTH_RATE_LIMIT_TOKEN",
     'must be a rate limit such as "60 per minute" or "10/second;300/hour"'),
])
def test_bad_rate_limit_settings_refuse_to_start(tmp_path: Any, config: dict, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make_oauth_app(tmp_path, upgrade=False, **config)
    assert raised.value.key == key and str(raised.value) == f"superset-mcp-jwt: {key}: {message}"
