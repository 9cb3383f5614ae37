"""The attack catalogue through both HTTP faces.

* The Flask guard, on the small Flask-AppBuilder app of ``tests/flask_app``
  (``make_app``), answering like a production server (exceptions become 500s
  instead of propagating into the test).
* The real ``superset mcp run`` (Superset 6.1.0) on loopback, one server for the
  module, called with a raw JSON-RPC ``initialize`` POST like
  ``tests/superset/test_mcp_server.py``; accepted controls are also called with
  the official MCP client to check whose identity the request got.

For every attack: the status is the one its reason maps to (401 / 400), never
200 and never 5xx; the ``WWW-Authenticate`` challenge follows RFC 6750 (a bare
``Bearer`` challenge when no bearer token was offered, ``error="invalid_token"``
or ``error="invalid_request"`` otherwise); the body is the generic one; and the
attacker's key server (``jku``/``x5u`` targets) never hears from us.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time
from typing import Any, Iterator, Optional

import httpx
import pytest
from flask import Blueprint, Flask, g

from demo.sandbox import INITIALIZE, MCP_ACCEPT, MCPServer, call_tool
from superset_mcp_jwt.errors import Reason
from tests.flask_app.conftest import make_app

from .conftest import (
    ATTACKER,
    Attack,
    Forge,
    KeyServer,
    attack_params,
    generic_body,
)

#: Seconds of margin for the leeway-edge attacks, whose outcome could otherwise
#: flip between building the token and the server checking it.
SLACK = 3
REALM = "superset-mcp"

#: Every token sent to the MCP server in an Authorization header:
#: test_mcp_server_survived_every_attack_and_logged_no_secret_or_token (after the
#: MCP tests, in file order) checks that none of them, nor the secret, reached its log.
SENT_TO_MCP: list[str] = []


def check_rejection(
    attack_name: str,
    reason: Reason,
    status: int,
    challenge: Optional[str],
    body: str,
    cache_control: Optional[str],
) -> None:
    """The RFC 6750 response for ``reason``: status, challenge, generic body."""
    assert status < 500, f"{attack_name}: server error {status}"
    assert status != 200, f"{attack_name}: ACCEPTED"
    assert status == reason.status, (attack_name, status)
    assert challenge, f"{attack_name}: no WWW-Authenticate"
    assert challenge.split()[0] == "Bearer", challenge
    if reason.error is None:
        # No bearer token was offered: a bare challenge, no error attribute.
        assert "error=" not in challenge, challenge
    else:
        assert challenge.startswith(f'Bearer realm="{REALM}", error="{reason.error}"'), challenge
    if challenge != "Bearer":  # FastMCP's own answer to "no Authorization header" has no body of ours
        assert json.loads(body) == generic_body(reason), body
        assert cache_control == "no-store"


def expected_reason(attack: Attack) -> Reason:
    """One representative reason: every acceptable reason of an attack maps to the
    same status and RFC 6750 error (checked by ``Attack.status``)."""
    attack.status()
    return sorted(attack.reasons(), key=lambda r: r.code)[0]


def token_of(values: list[str]) -> str:
    return values[0].split()[-1]


# =========================================================================== Flask


@pytest.fixture(scope="module")
def flask_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    # PROPAGATE_EXCEPTIONS off: an unhandled error becomes a 500, as in production.
    return make_app(tmp_path_factory.mktemp("flask-security"), PROPAGATE_EXCEPTIONS=False)


def flask_forge(app: Flask, key_server: KeyServer) -> Forge:
    return Forge(app.config["MCP_JWT_SECRET"], time.time(), slack=SLACK, attacker_url=key_server.url)


@pytest.mark.parametrize("attack", attack_params())
def test_flask_guard(attack: Attack, flask_app: Flask, key_server: KeyServer) -> None:
    values = attack.build(flask_forge(flask_app, key_server))
    before = list(key_server.hits)
    response = flask_app.test_client().get(
        "/mcp/whoami", headers=[("Authorization", v) for v in values]
    )
    assert key_server.hits == before, f"{attack.name}: the attacker's key server was contacted"
    if attack.accepted:
        assert response.status_code == 200, (attack.name, response.status_code)
        assert response.json["user"] == attack.expect.user  # type: ignore[union-attr]
        return
    check_rejection(
        attack.name,
        expected_reason(attack),
        response.status_code,
        response.headers.get("WWW-Authenticate"),
        response.get_data(as_text=True),
        response.headers.get("Cache-Control"),
    )


def flask_transport_attacks(token: str) -> dict[str, dict[str, Any]]:
    """A genuine token anywhere but the Authorization header: ignored (RFC 6750 §2.1 only)."""
    return {
        "token_in_query_string": {"method": "GET", "path": f"/mcp/whoami?access_token={token}"},
        "token_in_cookie": {"method": "GET", "headers": {"Cookie": f"access_token={token}; token={token}"}},
        "token_in_form_body": {"method": "POST", "data": {"access_token": token}},
        "token_in_json_body": {"method": "POST", "json": {"access_token": token, "token": token}},
        "token_in_x_access_token_header": {"method": "GET", "headers": {"X-Access-Token": token, "X-Auth-Token": token}},
        "token_in_proxy_authorization_header": {"method": "GET", "headers": {"Proxy-Authorization": f"Bearer {token}"}},
    }


TRANSPORT_ATTACKS = sorted(flask_transport_attacks("t"))


@pytest.mark.parametrize("name", TRANSPORT_ATTACKS)
def test_flask_token_outside_the_authorization_header_is_ignored(name: str, flask_app: Flask, key_server: KeyServer) -> None:
    token = flask_forge(flask_app, key_server).pyjwt(sub="admin")
    spec = flask_transport_attacks(token)[name]
    client = flask_app.test_client()
    response = client.open(
        spec.get("path", "/mcp/whoami"),
        method=spec["method"],
        headers=spec.get("headers"),
        data=spec.get("data"),
        json=spec.get("json"),
    )
    check_rejection(
        name, Reason.MISSING_TOKEN, response.status_code, response.headers.get("WWW-Authenticate"),
        response.get_data(as_text=True), response.headers.get("Cache-Control"),
    )


def test_flask_huge_authorization_header_1mb(flask_app: Flask) -> None:
    response = flask_app.test_client().get("/mcp/whoami", headers={"Authorization": "Bearer " + "A" * (1 << 20)})
    check_rejection(
        "huge_authorization_header_1mb", Reason.TOKEN_TOO_LARGE, response.status_code,
        response.headers.get("WWW-Authenticate"), response.get_data(as_text=True),
        response.headers.get("Cache-Control"),
    )


@pytest.mark.parametrize(
    "path, status",
    [("/mcp/whoami/", 404), ("//mcp/whoami", 404), ("/mcp//whoami", 308), ("/MCP/whoami", 404),
     ("/mcp/%77hoami", 401), ("/mcp/./whoami", 404), ("/api/../mcp/whoami", 404),
     ("/mcp/whoami;x=1", 404), ("/mcp/whoami%00", 404)],
)
def test_flask_path_variants_do_not_bypass_the_guard(path: str, status: int, flask_app: Flask) -> None:
    """Spellings of the protected path: not routed (404), guarded (401), or
    redirected to the guarded path itself (Werkzeug merges slashes); never served."""
    response = flask_app.test_client().get(path)
    assert response.status_code == status, (path, response.status_code)
    if status == 401:
        assert response.headers["WWW-Authenticate"] == f'Bearer realm="{REALM}"'
    if status == 308:
        assert response.headers["Location"] == "http://localhost/mcp/whoami"
        assert flask_app.test_client().get(response.headers["Location"]).status_code == 401


def test_flask_method_override_header_does_not_skip_the_guard(flask_app: Flask) -> None:
    """OPTIONS pre-flights pass unauthenticated; a POST claiming to be OPTIONS does not."""
    response = flask_app.test_client().post(
        "/mcp/whoami", headers={"X-HTTP-Method-Override": "OPTIONS", "X-Method-Override": "OPTIONS"}
    )
    assert response.status_code == 401


def test_flask_options_preflight_never_carries_an_identity(flask_app: Flask, key_server: KeyServer) -> None:
    """A pre-flight is let through without checking the token, so it must not act as
    anyone either: even with a genuine admin token the view sees no user."""
    token = flask_forge(flask_app, key_server).pyjwt(sub="admin")
    response = flask_app.test_client().options("/mcp/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json == {"user": None}


# =========================================================================== superset mcp run


@pytest.fixture(scope="module")
def mcp_server(home: Any) -> Iterator[MCPServer]:
    with MCPServer(home, home.config("security_config"), "mcp-security") as running:
        yield running


def mcp_forge(home: Any, key_server: KeyServer) -> Forge:
    return Forge(home.secret, time.time(), slack=SLACK, attacker_url=key_server.url)


def mcp_post(
    server: MCPServer,
    authorization: list[str] = (),  # type: ignore[assignment]
    extra: list[tuple[str, str]] = (),  # type: ignore[assignment]
    url: str = "",
    content: Optional[bytes] = None,
) -> httpx.Response:
    headers: list[tuple[bytes, bytes]] = [(b"accept", MCP_ACCEPT.encode()), (b"content-type", b"application/json")]
    headers += [(b"authorization", v.encode("latin-1")) for v in authorization]
    headers += [(k.encode(), v.encode("latin-1")) for k, v in extra]
    for value in authorization:
        SENT_TO_MCP.extend(word for word in value.split() if len(word) > 20)
    return httpx.post(
        url or server.url,
        headers=headers,
        content=json.dumps(INITIALIZE).encode() if content is None else content,
        timeout=60,
    )


def mcp_whoami(server: MCPServer, token: str) -> str:
    SENT_TO_MCP.append(token)
    is_error, text = asyncio.run(call_tool(server.url, token, "get_instance_info", {}))
    assert not is_error, text
    return json.loads(text)["current_user"]["username"]


@pytest.mark.parametrize("attack", attack_params())
def test_mcp_server(attack: Attack, mcp_server: MCPServer, home: Any, key_server: KeyServer) -> None:
    values = attack.build(mcp_forge(home, key_server))
    before = list(key_server.hits)
    response = mcp_post(mcp_server, values)
    assert key_server.hits == before, f"{attack.name}: the attacker's key server was contacted"
    if attack.accepted:
        assert response.status_code == 200, (attack.name, response.status_code, response.text[:300])
        assert "serverInfo" in response.text
        assert mcp_whoami(mcp_server, token_of(values)) == attack.expect.user  # type: ignore[union-attr]
        return
    assert "jsonrpc" not in response.text  # answered before any MCP handling
    check_rejection(
        attack.name,
        expected_reason(attack),
        response.status_code,
        response.headers.get("www-authenticate"),
        response.text,
        response.headers.get("cache-control"),
    )


def mcp_transport_attacks(token: str, base_url: str) -> dict[str, dict[str, Any]]:
    body = dict(INITIALIZE, params=dict(INITIALIZE["params"], _meta={"access_token": token}))
    return {
        "token_in_query_string": {"url": f"{base_url}?access_token={token}"},
        "token_in_cookie": {"extra": [("Cookie", f"access_token={token}; token={token}")]},
        "token_in_form_body": {
            "extra": [("Content-Type", "application/x-www-form-urlencoded")],
            "content": f"access_token={token}".encode(),
        },
        "token_in_json_body": {"content": json.dumps(body).encode()},
        "token_in_x_access_token_header": {"extra": [("X-Access-Token", token), ("X-Auth-Token", token)]},
        "token_in_proxy_authorization_header": {"extra": [("Proxy-Authorization", f"Bearer {token}")]},
    }


@pytest.mark.parametrize("name", TRANSPORT_ATTACKS)
def test_mcp_token_outside_the_authorization_header_is_ignored(
    name: str, mcp_server: MCPServer, home: Any, key_server: KeyServer
) -> None:
    # A jti of its own: the query-string token must not equal any token sent elsewhere.
    token = mcp_forge(home, key_server).pyjwt(sub="admin", jti=name)
    spec = mcp_transport_attacks(token, mcp_server.url)[name]
    if name != "token_in_query_string":  # a URL is logged by the access log: see SECURITY.md
        SENT_TO_MCP.append(token)
    response = mcp_post(mcp_server, [], extra=spec.get("extra", []), url=spec.get("url", ""),
                        content=spec.get("content"))
    check_rejection(
        name, Reason.MISSING_TOKEN, response.status_code, response.headers.get("www-authenticate"),
        response.text, response.headers.get("cache-control"),
    )


def test_mcp_huge_authorization_header_1mb(mcp_server: MCPServer, home: Any, key_server: KeyServer) -> None:
    """1 MiB in the header: uvicorn refuses it before the app (400 "Invalid HTTP
    request received.", or -- when the refusal races the rest of the upload -- a
    connection reset); never a 5xx or a hang, and the server keeps serving."""
    try:
        response = mcp_post(mcp_server, ["Bearer " + "A" * (1 << 20)])
    except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
        pass  # the server closed the connection on the oversized request
    else:
        assert 400 <= response.status_code < 500, response.status_code
        if response.status_code == 401:
            assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert mcp_post(mcp_server, [f"Bearer {mcp_forge(home, key_server).pyjwt()}"]).status_code == 200


def test_mcp_authorization_header_of_15k_reaches_the_size_check(mcp_server: MCPServer) -> None:
    """Large enough to pass uvicorn's header limit: our size check answers 401."""
    response = mcp_post(mcp_server, ["Bearer " + "A" * 15_000])
    check_rejection(
        "token_15k", Reason.TOKEN_TOO_LARGE, response.status_code,
        response.headers.get("www-authenticate"), response.text, response.headers.get("cache-control"),
    )


@pytest.mark.parametrize(
    "path, status",
    [("/mcp/", 401), ("//mcp", 404), ("/MCP", 404), ("/mcp/../mcp", 401), ("/mcp%2f", 401),
     ("/mcp?x=1", 401)],
)
def test_mcp_path_variants_do_not_bypass_authentication(path: str, status: int, mcp_server: MCPServer) -> None:
    """Not routed (404), or refused (401) before routing: the MCP path, with or
    without its trailing slash (encoded or not), needs a token; never served."""
    base = mcp_server.url.rsplit("/mcp", 1)[0]
    response = httpx.post(
        base + path,
        headers={"Accept": MCP_ACCEPT, "Content-Type": "application/json"},
        content=json.dumps(INITIALIZE),
        timeout=60,
        follow_redirects=False,
    )
    assert response.status_code == status, (path, response.status_code)
    assert "serverInfo" not in response.text
    if status == 401:  # no token offered: a challenge without an error code (RFC 6750 §3.1)
        assert response.headers["www-authenticate"] == 'Bearer realm="superset-mcp"'


def test_mcp_get_stream_without_token_is_refused(mcp_server: MCPServer) -> None:
    """GET (the server-to-client event stream) without a token: no stream, the
    missing-token challenge (the token is checked before routing, so before
    stateless streamable HTTP would answer GET with 405)."""
    response = httpx.get(mcp_server.url, headers={"Accept": "text/event-stream"}, timeout=60)
    assert response.status_code == 401, response.status_code
    assert response.headers["www-authenticate"] == 'Bearer realm="superset-mcp"'
    assert "event:" not in response.text


def test_mcp_server_survived_every_attack_and_logged_no_secret_or_token(
    mcp_server: MCPServer, home: Any, key_server: KeyServer
) -> None:
    """Runs last in this module: the server is still up and serving the right user,
    its log holds reason codes, and never the secret or a token sent in a header."""
    assert mcp_whoami(mcp_server, mcp_forge(home, key_server).pyjwt(sub="admin")) == "admin"
    assert mcp_server.process.poll() is None
    log = mcp_server.log()
    assert "MCP bearer token rejected:" in log
    assert home.secret not in log
    leaked = [t for t in set(SENT_TO_MCP) if t in log]
    assert leaked == [], f"{len(leaked)} tokens found in the server log"
    for token in set(SENT_TO_MCP):
        signature = token.rsplit(".", 1)[-1]
        if token.count(".") == 2 and len(signature) >= 16:
            assert signature not in log
    assert key_server.hits == []


def test_flask_view_editing_g_mcp_jwt_claims_cannot_change_the_next_request(tmp_path: Any) -> None:
    """A view in a protected blueprint formats exp for display in g.mcp_jwt_claims; the
    next request with the same token must still be served as the same user: a caller
    can never edit the claims the verifier remembers for a token."""
    app = make_app(tmp_path, PROPAGATE_EXCEPTIONS=False, MCP_JWT_PROTECTED_BLUEPRINTS=["mcp", "report"])
    report = Blueprint("report", __name__, url_prefix="/report")

    @report.route("/expiry")
    def expiry() -> Any:
        claims = g.mcp_jwt_claims
        claims["exp"] = datetime.datetime.fromtimestamp(claims["exp"], datetime.timezone.utc).isoformat()
        return {"token_expires": claims["exp"]}

    app.register_blueprint(report)
    client = app.test_client()
    token = Forge(app.config["MCP_JWT_SECRET"], time.time()).pyjwt(sub="alice")
    assert client.get("/report/expiry", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    again = client.get("/mcp/whoami", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 200, again.status_code
    assert again.json["user"] == "alice"


def test_mcp_server_refuses_to_start_with_a_public_key_as_the_secret(home: Any) -> None:
    """The misconfiguring operator: MCP_JWT_SECRET set to a (public!) RSA key PEM.
    Tokens MACed with that text would be forgeable by anyone, so the server must not
    start -- and must not print the key while refusing."""
    pem = ATTACKER.rsa_public_pem.decode()
    config = home.config("security_pem_secret", MCP_JWT_SECRET=pem)
    server = MCPServer(home, config, "mcp-security-pem-secret")
    code = server.wait_exit(timeout=180)
    log = server.log()
    assert code == 1, (code, log[-2000:])
    assert "Uvicorn running" not in log
    for line in pem.splitlines():
        if not line.startswith("-----"):
            assert line not in log
