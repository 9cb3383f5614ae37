"""The real `superset mcp run` (Superset 6.1.0) with the one-line enablement.

One server per configuration, started once per module; the official MCP
Python SDK client for tool calls, raw HTTP for the 401 matrix.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Iterator

import httpx
import jwt
import pytest

from demo.sandbox import AUDIENCE, INITIALIZE, ISSUER, MCP_ACCEPT, MCPServer, call_tool, mint

SELECT_ONE = {"request": {"database_id": 1, "sql": "SELECT 1 AS one"}}


@pytest.fixture(scope="module")
def server(home) -> Iterator[MCPServer]:
    with MCPServer(home, home.config("mcp_config"), "mcp-default") as running:
        yield running


def post(server: MCPServer, headers: dict[str, str] | list[tuple[str, str]], url: str = "") -> httpx.Response:
    base = [("Accept", MCP_ACCEPT), ("Content-Type", "application/json")]
    extra = list(headers.items()) if isinstance(headers, dict) else headers
    return httpx.post(url or server.url, headers=base + extra, content=json.dumps(INITIALIZE), timeout=30)


def whoami(server: MCPServer, token: str) -> str:
    is_error, text = asyncio.run(call_tool(server.url, token, "get_instance_info", {}))
    assert not is_error, text
    return json.loads(text)["current_user"]["username"]


@pytest.mark.postgresql
def test_each_token_acts_as_its_own_user(server, home):
    assert whoami(server, mint(home.secret, "admin")) == "admin"
    assert whoami(server, mint(home.secret, "alice")) == "alice"


@pytest.mark.postgresql
def test_rbac_applies_to_the_tokens_user(server, home):
    _, alice = asyncio.run(call_tool(server.url, mint(home.secret, "alice"), "execute_sql", SELECT_ONE))
    assert "Permission denied" in alice and "SQLLab" in alice
    is_error, admin = asyncio.run(call_tool(server.url, mint(home.secret, "admin"), "execute_sql", SELECT_ONE))
    assert not is_error and json.loads(admin)["rows"] == [{"one": 1}]


@pytest.mark.postgresql
def test_data_access_follows_the_user(server, home):
    def databases(user: str) -> int:
        _, text = asyncio.run(call_tool(server.url, mint(home.secret, user), "get_instance_info", {}))
        return json.loads(text)["instance_summary"]["total_databases"]

    assert databases("admin") == 1
    assert databases("alice") == 0  # Gamma has no database access


@pytest.mark.postgresql
def test_concurrent_calls_never_see_each_others_identity(server, home):
    tokens = {user: mint(home.secret, user) for user in ("admin", "alice")}
    order = ["admin", "alice"] * 8

    async def burst() -> list[tuple[bool, str]]:
        calls = [call_tool(server.url, tokens[u], "get_instance_info", {}) for u in order]
        calls += [call_tool(server.url, tokens[u], "execute_sql", SELECT_ONE) for u in order]
        return await asyncio.gather(*calls)

    results = asyncio.run(burst())
    seen = [json.loads(text)["current_user"]["username"] for _, text in results[: len(order)]]
    assert seen == order
    for user, (_, text) in zip(order, results[len(order):]):
        denied = "Permission denied" in text
        assert denied == (user == "alice"), (user, text[:200])


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides):
    claims = {"sub": "admin", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not ...}


def bad_tokens(secret: str) -> dict[str, str]:
    now = int(time.time())
    return {
        "bad_signature": jwt.encode(_claims(), "y" * 64, algorithm="HS256"),
        "expired": jwt.encode(_claims(exp=now - 3600), secret, algorithm="HS256"),
        "wrong_issuer": jwt.encode(_claims(iss="evil"), secret, algorithm="HS256"),
        "wrong_audience": jwt.encode(_claims(aud="other"), secret, algorithm="HS256"),
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}.",
        "alg_none_signed": f"{_b64({'alg': 'none'})}.{_b64(_claims())}.c2ln",
        "wrong_algorithm": jwt.encode(_claims(), secret + "x" * 40, algorithm="HS512"),
        "unknown_user": jwt.encode(_claims(sub="nobody"), secret, algorithm="HS256"),
        "inactive_user": jwt.encode(_claims(sub="carol"), secret, algorithm="HS256"),
        "no_exp": jwt.encode(_claims(exp=...), secret, algorithm="HS256"),
        "future_nbf": jwt.encode(_claims(nbf=now + 3600), secret, algorithm="HS256"),
        "empty_sub": jwt.encode(_claims(sub=""), secret, algorithm="HS256"),
        "garbage": "not-a-token",
    }


@pytest.mark.postgresql
@pytest.mark.parametrize("case", sorted(bad_tokens("x" * 32)))
def test_bad_tokens_get_401_before_any_mcp_handling(server, home, case):
    token = bad_tokens(home.secret)[case]
    response = post(server, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, case
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="superset-mcp", error="invalid_token"'
    )
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "The access token is invalid or expired.",
    }
    assert "jsonrpc" not in response.text


def test_missing_token_gets_a_challenge_without_error(server):
    """RFC 6750 §3.1: no credentials, no error code (OAuth off: nothing else advertised)."""
    response = post(server, {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="superset-mcp"'
    assert response.headers["Cache-Control"] == "no-store"


def test_token_in_query_string_is_ignored(server, home):
    token = mint(home.secret, "admin")
    response = post(server, {}, url=f"{server.url}?access_token={token}")
    assert response.status_code == 401


def test_two_authorization_headers_get_400(server, home):
    token = mint(home.secret, "admin")
    response = post(server, [("Authorization", f"Bearer {token}")] * 2)
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_valid_token_reaches_mcp(server, home):
    response = post(server, {"Authorization": f"Bearer {mint(home.secret, 'alice')}"})
    assert response.status_code == 200
    assert "serverInfo" in response.text


def test_default_log_has_reason_codes_but_no_secret_token_or_claims(server, home):
    token = bad_tokens(home.secret)["wrong_issuer"]
    post(server, {"Authorization": f"Bearer {token}"})
    log = server.log()
    assert "MCP bearer token rejected: bad_issuer" in log
    assert home.secret not in log
    assert token not in log
    assert "'evil'" not in log


def test_token_from_the_cli_works_against_the_server(server, home):
    minted = home.superset("mcp-jwt", "token", "--sub", "alice", config=home.config("mcp_config"))
    assert whoami(server, minted.stdout.strip().splitlines()[-1]) == "alice"


def _action_log(home, jti: str) -> list[dict]:
    rows = home.sql("SELECT user_id, json FROM logs WHERE action = 'mcp_jwt_auth'")
    return [dict(json.loads(j), user_id=u) for u, j in rows if jti in j]


@pytest.mark.postgresql
def test_audit_lines_and_superset_action_log(server, home):
    jti = "audit-" + str(time.time_ns())
    good = mint(home.secret, "alice", jti=jti)
    assert post(server, {"Authorization": f"Bearer {good}", "User-Agent": "audit-test/1.0"}).status_code == 200
    expired = mint(home.secret, "alice", ttl=-3600, jti=jti + "-expired")
    assert post(server, {"Authorization": f"Bearer {expired}"}).status_code == 401
    forged = jwt.encode(_claims(jti=jti + "-forged"), "q" * 64, algorithm="HS256")
    assert post(server, {"Authorization": f"Bearer {forged}"}).status_code == 401

    log = server.log()
    assert f"MCP bearer token accepted: user=alice jti='{jti}' client='audit-test/1.0'" in log
    assert "MCP bearer token rejected: expired client=" in log
    # Written off the request path by a background writer: give it a moment.
    deadline = time.monotonic() + 10
    while len(records := {r["jti"]: r for r in _action_log(home, jti)}) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert records[jti]["outcome"] == "accepted" and records[jti]["user"] == "alice"
    assert records[jti]["user_id"] is not None
    assert records[jti + "-expired"] == {
        "outcome": "rejected", "reason": "expired", "jti": jti + "-expired",
        "client": "'python-httpx/" + httpx.__version__ + "'", "user_id": None,
    }
    assert jti + "-forged" not in records  # unsigned junk never reaches the database
    assert good not in log
    # A second use of the same token is a server-log line, not another database row.
    post(server, {"Authorization": f"Bearer {good}"})
    time.sleep(1)
    assert [r["outcome"] for r in _action_log(home, jti) if r["jti"] == jti] == ["accepted"]


@pytest.mark.postgresql
def test_deactivation_stops_tools_at_once_and_http_within_the_user_cache_ttl(server, home):
    def set_active(active: bool) -> None:
        home.sql("UPDATE ab_user SET active = :active WHERE username = 'dave'", active=active)

    home.ensure_user("dave")
    set_active(True)
    token = mint(home.secret, "dave")
    try:
        assert whoami(server, token) == "dave"
        set_active(False)
        # The HTTP layer may still know dave for MCP_JWT_USER_CACHE_SECONDS (5 s),
        # but every tool call loads the user afresh and refuses at once.
        is_error, text = asyncio.run(call_tool(server.url, token, "get_instance_info", {}))
        assert "unknown or inactive" in text
        time.sleep(5.5)
        assert post(server, {"Authorization": f"Bearer {token}"}).status_code == 401
    finally:
        set_active(True)


@pytest.mark.parametrize(
    "scope, sql_allowed",
    [("mcp:read", False), ("mcp:sql", True), ("mcp:read mcp:write", False), ("mcp:all", True),
     ("reports:read", True),  # no mcp: or superset: scope at all: the user's full rights
     # Superset main's scopes, per resource (SQL Lab's execute_sql is a write there)
     ("superset:read superset:sqllab:write", True), ("superset:read superset:chart:write", False)],
)
def test_scope_narrowed_tokens(server, home, scope, sql_allowed):
    token = mint(home.secret, "admin", scope=scope)
    assert whoami(server, token) == "admin"  # a read tool works under every scope
    _, text = asyncio.run(call_tool(server.url, token, "execute_sql", SELECT_ONE))
    assert ("Permission denied: can_execute_sql_query on SQLLab" in text) == (not sql_allowed), text[:200]


@pytest.mark.postgresql
def test_scopes_never_widen_the_users_rights(server, home):
    token = mint(home.secret, "alice", scope="mcp:all")
    _, text = asyncio.run(call_tool(server.url, token, "execute_sql", SELECT_ONE))
    assert "Permission denied" in text
