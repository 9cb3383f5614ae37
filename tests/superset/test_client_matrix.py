"""What MCP clients really send when they register, replayed against real servers (issue 17).

One module fixture: the web app under gunicorn (two workers; the authorization
server) and a real `superset mcp run`, on the session's SQLite home, with
Superset's rate-limit storage in a real Redis and Superset's proxy settings
on (``ENABLE_PROXY_FIX``). Each test replays one behaviour recorded in a
client's public tracker (named in its docstring), with the request shapes the
tracker shows: hosted connectors (Claude.ai, ChatGPT) from a plain HTTP client
as their backends are, Claude.ai's user in Debian's Chromium with the hosted
callback answered inside the browser (Playwright routing: nothing leaves the
machine); the other users over plain HTTP (Superset's login form, the consent
form); the MCP Inspector from a page of its own origin in Chromium, so that the
browser enforces CORS. Access tokens
are then used with the official MCP Python SDK client against `superset mcp run`.

The session side of the matrix (refresh races, offline_access, step-up) is
tests/superset/test_client_matrix_sessions.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.server
import json
import secrets
import ssl
import threading
import time
from typing import Any, Iterator, Optional
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from demo.browser import CHROMIUM, CHROMIUM_ARGS
from demo.oauth_client import BrowserUser
from demo.sandbox import INITIALIZE, MCP_ACCEPT, PASSWORD, call_tool, oauth_servers
from tests.security.test_oauth_cimd import Server, _certificate, serve_json
from tests.superset.oauth_http import OAuthHTTPUser
from tests.superset.test_revocation_replicas import redis_url  # noqa: F401  (a real redis-server)
# What Claude.ai's backend (python-httpx, Anthropic's egress range) registers with:
# anthropics/claude-code #5826 (the request as a server logged it) and anthropics/claude-ai-mcp #1043.
from tests.unit.test_oauth_confidential import CLAUDE as CLAUDE_CALLBACK
from tests.unit.test_oauth_confidential import CLAUDE_REGISTRATION as CLAUDE_AI_REGISTRATION

CHATGPT_CALLBACK = "https://chatgpt.com/connector_platform_oauth_redirect"
HOSTED = {"User-Agent": "python-httpx/0.28.1"}
#: This deployment's MCP_OAUTH_RATE_LIMIT_REVOCATION: low, so that a test reaches it.
REVOCATION_LIMIT = 5
#: MCP_JWT_REVOCATION_MEMO_SECONDS (2 s, the default) and a margin.
MEMO_BOUND = 3.0


@pytest.fixture(scope="module")
def cimd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """An HTTPS server on loopback for metadata documents, and the CA file that trusts it."""
    cert_path, key_path = _certificate(tmp_path_factory.mktemp("matrix-tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = Server(context)
    yield server, str(cert_path)
    server.close()


@pytest.fixture(scope="module")
def servers(home, redis_url: str, cimd_server: tuple[Server, str]) -> Iterator[dict[str, Any]]:  # noqa: F811
    with oauth_servers(
        home, "matrix_registration",
        # The web app trusts the metadata server's throw-away certificate (and nothing else).
        extra=f"import os\nos.environ['SSL_CERT_FILE'] = {cimd_server[1]!r}\n",
        MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES=True,  # the metadata server is on loopback
        MCP_OAUTH_RATE_LIMIT_REVOCATION=f"{REVOCATION_LIMIT} per minute",
        RATELIMIT_STORAGE_URI=redis_url, ENABLE_PROXY_FIX=True,
    ) as servers:
        yield {**servers, "cimd": cimd_server[0]}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorization_url(servers: dict[str, Any], client_id: str, redirect_uri: str, challenge: str,
                      state: str) -> str:
    return f"{servers['issuer']}/oauth/mcp/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": state,
        "code_challenge": challenge, "code_challenge_method": "S256", "scope": "mcp:all",
        "resource": servers["resource"],
    })


def in_chromium(url: str, callback: str) -> str:
    """alice signs in and allows in Chromium; the hosted callback URL the browser was sent to."""
    from playwright.async_api import async_playwright

    async def run() -> str:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                user = BrowserUser(browser, "alice", PASSWORD, hosted_callbacks=(callback,))
                await user.authorize(url, callback)
            finally:
                await browser.close()
        [seen] = user.callbacks
        return seen

    return asyncio.run(run())


def callback_query(url: str, callback: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == callback
    return {key: values[0] for key, values in parse_qs(parts.query).items()}


def token(servers: dict[str, Any], headers: Optional[dict[str, str]] = None, **form: str) -> httpx.Response:
    return httpx.post(f"{servers['issuer']}/oauth/mcp/token", data=form, headers=headers or {}, timeout=60)


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def who(servers: dict[str, Any], access_token: str) -> str:
    _, text = asyncio.run(call_tool(servers["mcp"].url, access_token, "get_instance_info", {}))
    return json.loads(text)["current_user"]["username"]


def mcp_status(servers: dict[str, Any], access_token: str) -> int:
    return httpx.post(servers["mcp"].url, json=INITIALIZE, timeout=60, headers={
        "Accept": MCP_ACCEPT, "Authorization": f"Bearer {access_token}",
    }).status_code


def http_user(servers: dict[str, Any], registration: dict[str, Any]) -> OAuthHTTPUser:
    return OAuthHTTPUser(servers["web"].url, servers["issuer"], servers["resource"], registration=registration)


def clients_with(servers: dict[str, Any], client_ids: list[str]) -> set[str]:
    """Which of these clients the metadata database still holds."""
    rows = servers["home"].sql("SELECT client_id FROM superset_mcp_jwt_oauth_clients")
    return {row[0] for row in rows} & set(client_ids)


# --- the client behaviour matrix, registration side --------------------------------------------


def test_claude_ai_registers_as_a_confidential_client_and_connects(servers):
    """anthropics/claude-ai-mcp #1043 (and anthropics/claude-code #5826): Claude.ai's connector
    registers with `token_endpoint_auth_method: "client_secret_post"`; a public-only server's 400
    made it fail ("Couldn't register"). It gets 201 with a secret, `registration_client_uri`
    (twentyhq/twenty #19858: Claude.ai gives up without it) and a registration access token; the
    user's browser ends at Claude's hosted callback with code, state and iss (RFC 9207); the
    backend exchanges the code with client_secret_post and PKCE, refreshes, and the MCP server
    serves the user."""
    registered = httpx.post(f"{servers['issuer']}/oauth/mcp/register", json=CLAUDE_AI_REGISTRATION,
                            headers=HOSTED, timeout=60)
    body = ok(registered, 201)
    assert body["token_endpoint_auth_method"] == "client_secret_post" and body["client_secret_expires_at"] == 0
    assert len(body["client_secret"]) >= 43  # 256 random bits, URL-safe base64
    assert body["registration_client_uri"] == f"{servers['issuer']}/oauth/mcp/register/{body['client_id']}"
    assert body["registration_access_token"] and body["redirect_uris"] == [CLAUDE_CALLBACK]

    verifier, challenge = pkce()
    state = secrets.token_urlsafe(32)
    seen = in_chromium(authorization_url(servers, body["client_id"], CLAUDE_CALLBACK, challenge, state),
                       CLAUDE_CALLBACK)
    back = callback_query(seen, CLAUDE_CALLBACK)
    assert set(back) == {"code", "state", "iss"}
    assert back["state"] == state and back["iss"] == servers["issuer"]

    exchange = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": CLAUDE_CALLBACK,
                "code_verifier": verifier, "client_id": body["client_id"], "resource": servers["resource"]}
    refused = token(servers, HOSTED, **exchange)  # without its secret: 401, and Claude registers again
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    tokens = ok(token(servers, HOSTED, **exchange, client_secret=body["client_secret"]))
    assert who(servers, tokens["access_token"]) == "alice"
    refreshed = ok(token(servers, HOSTED, grant_type="refresh_token", refresh_token=tokens["refresh_token"],
                         client_id=body["client_id"], client_secret=body["client_secret"]))
    assert who(servers, refreshed["access_token"]) == "alice"


def test_claude_code_registers_twenty_times_and_the_unused_ones_expire(servers):
    """anthropics/claude-code #59460: Claude Code runs registration again on every authenticate
    (Claude.ai twice per connect, anthropics/claude-ai-mcp #966), leaving registrations nobody
    uses. Twenty in a row from one address all succeed (the registration limit is far above);
    once MCP_OAUTH_UNUSED_CLIENT_TTL has passed, the next registration removes the nineteen
    never used, and the one that connected stays. The body is Claude Code's (elmohq/elmo #684)."""
    body = {"client_name": "Claude Code (superset)", "redirect_uris": ["http://localhost:3118/callback"],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none", "application_type": "native"}
    answers = [httpx.post(f"{servers['issuer']}/oauth/mcp/register", json=body, timeout=60) for _ in range(20)]
    assert [a.status_code for a in answers] == [201] * 20
    ids = [a.json()["client_id"] for a in answers]
    user = http_user(servers, body)  # the twenty-first connects
    assert who(servers, user.tokens()["access_token"]) == "alice"

    # Two hours pass (MCP_OAUTH_UNUSED_CLIENT_TTL's default) for these registrations.
    servers["home"].sql(
        "UPDATE superset_mcp_jwt_oauth_clients SET created_at = created_at - 7200, sweep_at = 0 "
        f"WHERE client_id IN ({', '.join(repr(i) for i in ids + [user.client_id])})"
    )
    ok(httpx.post(f"{servers['issuer']}/oauth/mcp/register", json=body, timeout=60), 201)
    assert clients_with(servers, ids + [user.client_id]) == {user.client_id}


def test_cursor_registers_three_redirect_uris_at_once(servers):
    """Cursor registers once with three redirect URIs (its desktop app's private-use scheme, its
    web agents' https callback, its loopback listener); refusing any one fails the whole registration.
    All three are kept; the loopback one is used."""
    uris = ["cursor://anysphere.cursor-mcp/oauth/callback", "https://www.cursor.com/agents/mcp/oauth/callback",
            "http://localhost:8787/callback"]
    user = http_user(servers, {"client_name": "Cursor", "redirect_uris": uris, "token_endpoint_auth_method": "none",
                               "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]})
    assert user.registration["redirect_uris"] == uris
    user.redirect_uri = "http://localhost:8787/callback"  # the desktop app's listener
    assert who(servers, user.tokens()["access_token"]) == "alice"


def test_vs_code_registers_a_portless_loopback_uri_and_uses_a_random_port(servers):
    """microsoft/vscode #278512: VS Code registers `http://127.0.0.1/` and `http://127.0.0.1:33418/`
    (with vscode.dev's redirects), then authorizes with `http://127.0.0.1:59656/` when 33418 is
    taken. The port is free (RFC 8252 §7.3); the code goes to that port and is redeemed there."""
    registration = {"client_name": "Visual Studio Code", "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                    "redirect_uris": ["https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect",
                                      "http://127.0.0.1/", "http://127.0.0.1:33418/"]}
    user = http_user(servers, registration)
    user.redirect_uri = "http://127.0.0.1:59656/"  # not registered as such: any port of a loopback URI
    tokens = user.tokens()
    assert who(servers, tokens["access_token"]) == "alice"


class _InspectorPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"<!doctype html><title>MCP Inspector</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_mcp_inspector_registers_from_its_browser_origin(servers):
    """MCP Inspector runs in the browser (http://localhost:6274): Chromium sends the CORS preflight
    itself before the JSON registration and the token request, and lets the page read the answers,
    WWW-Authenticate and Retry-After included."""
    from playwright.sync_api import sync_playwright

    page_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _InspectorPage)
    threading.Thread(target=page_server.serve_forever, daemon=True).start()
    # Its own origin on loopback (the Inspector's is http://localhost:6274): Chromium lets a
    # loopback page reach another loopback server, and would block a public one (Local Network Access).
    inspector = f"http://localhost:{page_server.server_address[1]}/"
    script = """async ({issuer}) => {
        const registered = await fetch(issuer + "/oauth/mcp/register", {method: "POST",
            headers: {"Content-Type": "application/json", "MCP-Protocol-Version": "2025-06-18"},
            body: JSON.stringify({client_name: "MCP Inspector", token_endpoint_auth_method: "none",
                redirect_uris: ["http://localhost:6274/oauth/callback"],
                grant_types: ["authorization_code", "refresh_token"], response_types: ["code"]})});
        const client = await registered.json();
        const refused = await fetch(issuer + "/oauth/mcp/token", {method: "POST",
            headers: {"Authorization": "Basic " + btoa(client.client_id + ":wrong")},
            body: new URLSearchParams({grant_type: "refresh_token", refresh_token: "x"})});
        return {status: registered.status, client, refused: refused.status,
                challenge: refused.headers.get("WWW-Authenticate")};
    }"""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(inspector)
            answer = page.evaluate(script, {"issuer": servers["issuer"]})
        finally:
            browser.close()
            page_server.shutdown()
            page_server.server_close()
    assert answer["status"] == 201 and answer["client"]["redirect_uris"] == ["http://localhost:6274/oauth/callback"]
    assert answer["refused"] == 401 and answer["challenge"].startswith("Basic ")
    log = servers["web"].log()
    assert '"OPTIONS /oauth/mcp/register HTTP/1.1" 204' in log and '"OPTIONS /oauth/mcp/token HTTP/1.1" 204' in log


def test_chatgpt_connects_with_a_client_id_metadata_document_over_https(servers):
    """ChatGPT's connectors use Client ID Metadata Documents: the `client_id` is an https URL of a
    JSON document (OpenAI's apps SDK auth docs; `https://chatgpt.com/oauth/<id>/client.json`). The
    web app fetches it over https (here from a local server whose certificate it trusts), shows
    its host on the consent page, sends the user back to ChatGPT's callback with `iss`, and takes
    the code from the public client with PKCE."""
    cimd: Server = servers["cimd"]
    client_id = cimd.url("/oauth/g-matrix/client.json")
    serve_json(cimd, "/oauth/g-matrix/client.json", {
        "client_id": client_id, "client_name": "ChatGPT", "redirect_uris": [CHATGPT_CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
    asm = httpx.get(f"{servers['issuer']}/.well-known/oauth-authorization-server", timeout=60).json()
    assert asm["client_id_metadata_document_supported"] is True
    assert asm["token_endpoint_auth_methods_supported"][0] == "none"  # what makes Claude pick CIMD too
    user = OAuthHTTPUser(servers["web"].url, servers["issuer"], servers["resource"],
                         metadata_document=(client_id, CHATGPT_CALLBACK))
    tokens = user.tokens()
    assert "/oauth/g-matrix/client.json" in cimd.hits
    assert "ChatGPT" in user.consent_page and client_id in user.consent_page
    assert who(servers, tokens["access_token"]) == "alice"


def test_a_hosted_connectors_disconnect_removes_its_registration_and_ends_its_connection(servers):
    """RFC 7592, as hosted connectors use it on "disconnect" (twentyhq/twenty #19858 serves GET on
    `registration_client_uri`; Linear and Sentry do too): GET reads the registration with the
    registration access token, DELETE removes it; its connection ends: the refresh token is
    refused, and `superset mcp run` refuses the access token within the revocation memo."""
    user = http_user(servers, CLAUDE_AI_REGISTRATION)
    secret = user.registration["client_secret"]
    code, verifier = user.code()
    tokens = ok(user.token(grant_type="authorization_code", code=code, redirect_uri=CLAUDE_CALLBACK,
                           code_verifier=verifier, client_secret=secret))
    assert mcp_status(servers, tokens["access_token"]) == 200
    uri = user.registration["registration_client_uri"]
    bearer = {"Authorization": f"Bearer {user.registration['registration_access_token']}", **HOSTED}
    read = ok(httpx.get(uri, headers=bearer, timeout=60))
    assert read["client_id"] == user.client_id and "client_secret" not in read
    assert httpx.delete(uri, headers=HOSTED, timeout=60).status_code == 401  # no token, no removal
    assert httpx.delete(uri, headers=bearer, timeout=60).status_code == 204
    deadline = time.monotonic() + MEMO_BOUND
    while mcp_status(servers, tokens["access_token"]) != 401 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mcp_status(servers, tokens["access_token"]) == 401
    gone = user.refresh(tokens["refresh_token"], client_secret=secret)
    assert gone.status_code in (400, 401) and gone.json()["error"] == "invalid_client"
    assert httpx.get(uri, headers=bearer, timeout=60).status_code == 401


def test_the_revocation_limit_counts_the_forwarded_address_across_workers(servers):
    """Hosted connectors reach Superset through its proxy from a few egress addresses (Anthropic's
    160.79.104.0/21): behind ENABLE_PROXY_FIX the limit counts the forwarded client address, in
    Superset's rate-limit storage (RATELIMIT_STORAGE_URI, a Redis here) shared by both workers,
    and answers 429 with Retry-After; another address is not held back."""
    probe = secrets.token_hex(8)

    def revoke(address: str) -> httpx.Response:
        with httpx.Client(timeout=60) as fresh:  # a new connection each time: either worker
            return fresh.post(f"{servers['issuer']}/oauth/mcp/revoke", data={"token": "x", "client_id": "nobody"},
                              headers={"X-Forwarded-For": address, "X-Probe": probe})

    answers = [revoke("160.79.104.7") for _ in range(20)]
    # Five pass, whichever worker serves them; then every one is refused, on both workers.
    assert [a.status_code == 429 for a in answers] == [False] * REVOCATION_LIMIT + [True] * (20 - REVOCATION_LIMIT)
    for refused in answers[REVOCATION_LIMIT:]:
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["error"] == "temporarily_unavailable"
    assert len(set(servers["web"].served_by(probe, 20))) == 2  # both workers answered: the count is shared
    assert revoke("160.79.104.8").status_code != 429
