"""The whole OAuth path on real servers: a real MCP client that knows only the MCP URL.

The web app under gunicorn with two workers (the authorization server) and
`superset mcp run` (the protected resource) share one metadata DB, SQLite and
PostgreSQL (created by `superset mcp-jwt db upgrade`); the MCP Python SDK's OAuth client
discovers, registers, sends Debian's Chromium through Superset's login and the
consent page, exchanges the code with PKCE and calls tools as the user. Last, an
upgrade from release 0.1.0's tables under the running servers keeps the connections.
"""

from __future__ import annotations

import asyncio
import json
import time
import types
from typing import Any, Iterator
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy
from sqlalchemy.pool import NullPool

from demo.oauth_client import sign_in_and_call
from demo.sandbox import (
    INITIALIZE, MCP_ACCEPT, PASSWORD, call_tool, mint, oauth_servers,
)
from tests.superset.test_oauth_production import OAuthUser

SQL = {"request": {"database_id": 1, "sql": "SELECT 1 AS one"}}

pytestmark = pytest.mark.postgresql


@pytest.fixture(scope="module")
def oauth(home) -> Iterator[dict[str, Any]]:
    with oauth_servers(home, "oauth") as servers:
        yield servers


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_unauthenticated_request_says_where_to_get_a_token(oauth):
    response = httpx.post(oauth["mcp"].url, json=INITIALIZE, headers={"Accept": MCP_ACCEPT}, timeout=60)
    assert response.status_code == 401
    metadata_url = f"http://127.0.0.1:{oauth['mcp'].port}/.well-known/oauth-protected-resource/mcp"
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="superset-mcp", resource_metadata="{metadata_url}", scope="mcp:all"'
    )
    prm = httpx.get(metadata_url, timeout=60).json()
    assert prm["resource"] == oauth["resource"]
    assert prm["authorization_servers"] == [oauth["issuer"]]
    asm = httpx.get(f"{oauth['issuer']}/.well-known/oauth-authorization-server", timeout=60).json()
    assert asm["issuer"] == oauth["issuer"]
    assert asm["code_challenge_methods_supported"] == ["S256"]
    assert asm["authorization_endpoint"] == f"{oauth['issuer']}/oauth/mcp/authorize"


def test_client_knowing_only_the_url_acts_as_alice_with_alices_permissions(oauth):
    is_error, text, storage, seen = run(
        sign_in_and_call(oauth["mcp"].url, "alice", PASSWORD, "get_instance_info", {})
    )
    assert seen == ["Superset login page", "consent page"]
    assert not is_error and json.loads(text)["current_user"]["username"] == "alice"
    claims = _claims(storage.tokens.access_token)
    assert claims["iss"] == oauth["issuer"] and claims["aud"] == oauth["resource"]
    assert claims["sub"] == "alice" and claims["client_id"] == storage.client_info.client_id
    assert claims["exp"] - claims["iat"] <= 3600
    # alice is Gamma: the OAuth token carries her roles, not more.
    _, denied = run(call_tool(oauth["mcp"].url, storage.tokens.access_token, "execute_sql", SQL))
    assert "Permission denied" in denied and "alice" in denied


def test_refresh_rotates_and_a_second_presentation_within_the_window_gets_its_own_tokens(oauth):
    """The default grace window (60 s): the rotated-out token presented again at once is a
    client race, not theft; both refresh tokens work, for alice. (After the window a replay
    ends the family: tests/superset/test_client_matrix_sessions.py, test_oauth_production.py.)"""
    _, _, storage, _ = run(sign_in_and_call(oauth["mcp"].url, "alice", PASSWORD, "get_instance_info", {}))
    first = storage.tokens.refresh_token
    rotated = _refresh(oauth, storage.client_info.client_id, first)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first
    assert _who(oauth, second["access_token"]) == "alice"
    again = _refresh(oauth, storage.client_info.client_id, first)
    assert again.status_code == 200, again.text
    sibling = again.json()
    assert sibling["refresh_token"] not in (first, second["refresh_token"])
    assert _who(oauth, sibling["access_token"]) == "alice"
    for token in (second["refresh_token"], sibling["refresh_token"]):
        assert _refresh(oauth, storage.client_info.client_id, token).status_code == 200


def test_revoke_sub_stops_her_oauth_tokens_and_their_refresh(oauth, home):
    # A user of this test's own (conftest.TEST_USERS): a subject revocation is permanent
    # for tokens without iat, and the session's other tests mint such tokens for alice.
    user = "oauthrev"
    home.ensure_user(user)
    _, _, storage, _ = run(sign_in_and_call(oauth["mcp"].url, user, PASSWORD, "get_instance_info", {}))
    access, refresh = storage.tokens.access_token, storage.tokens.refresh_token
    assert _who(oauth, access) == user
    time.sleep(1.1)  # revoke --sub cuts tokens issued up to now, by whole-second iat
    home.superset("mcp-jwt", "revoke", "--sub", user, config=oauth["config"])
    deadline = time.monotonic() + 3  # MCP_JWT_REVOCATION_MEMO_SECONDS (2 s) and a margin
    while _status(oauth, access) != 401 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _status(oauth, access) == 401
    refused = _refresh(oauth, storage.client_info.client_id, refresh)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_deny_returns_access_denied_with_state_and_iss(oauth):
    # The SDK's task group hands the callback's error on inside an ExceptionGroup.
    with pytest.raises((PermissionError, ExceptionGroup)) as refused:
        run(sign_in_and_call(oauth["mcp"].url, "alice", PASSWORD, "get_instance_info", {}, decision="Deny"))
    redirect = _permission_error(refused.value).args[1]
    assert redirect["error"] == "access_denied"
    assert redirect["iss"] == oauth["issuer"]  # RFC 9207, on errors too
    assert len(redirect["state"]) >= 32  # the SDK's own state, echoed


def test_unregistered_redirect_uri_is_never_followed(oauth):
    registered = httpx.post(
        f"{oauth['issuer']}/oauth/mcp/register", timeout=60,
        json={"client_name": "probe", "redirect_uris": ["http://127.0.0.1:9/callback"],
              "token_endpoint_auth_method": "none"},
    )
    assert registered.status_code == 201, registered.text
    query = urlencode({
        "response_type": "code", "client_id": registered.json()["client_id"],
        "redirect_uri": "https://attacker.example/callback", "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256",
    })
    response = httpx.get(f"{oauth['issuer']}/oauth/mcp/authorize?{query}", timeout=60)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "attacker.example" not in response.text


def test_static_tokens_keep_working_beside_oauth(oauth, home):
    assert _who(oauth, mint(home.secret, "admin")) == "admin"


def _permission_error(error: BaseException) -> PermissionError:
    """The PermissionError the callback raised, however deep in exception groups."""
    if isinstance(error, PermissionError):
        return error
    for inner in getattr(error, "exceptions", ()):
        try:
            return _permission_error(inner)
        except AssertionError:
            continue
    raise AssertionError(f"no PermissionError in {error!r}")


def _claims(token: str) -> dict[str, Any]:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})


def _refresh(oauth: dict[str, Any], client_id: str, refresh_token: str) -> httpx.Response:
    return httpx.post(
        f"{oauth['issuer']}/oauth/mcp/token", timeout=60,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id,
              "resource": oauth["resource"]},
    )


def _status(oauth: dict[str, Any], token: str) -> int:
    return httpx.post(
        oauth["mcp"].url, json=INITIALIZE, timeout=60,
        headers={"Authorization": f"Bearer {token}", "Accept": MCP_ACCEPT},
    ).status_code


def _who(oauth: dict[str, Any], token: str) -> str:
    _, text = run(call_tool(oauth["mcp"].url, token, "get_instance_info", {}))
    return json.loads(text)["current_user"]["username"]


def test_an_upgrade_from_0_1_0_keeps_every_connection(oauth, home):
    """An operator on 0.1.0's schema (revision 0001, the mcp_oauth_* tables) with a connected client
    runs `superset mcp-jwt db upgrade` under the running servers: the same refresh token still
    refreshes, `clients list` still lists the client; then downgrade and upgrade again, rows present.

    0.1.0's schema is reached through `db downgrade 0001`, whose exactness against 0.1.0's DDL
    tests/unit/test_oauth_migrations.py checks. Last in this module: it renames the tables under
    the module's servers (and puts them back if it fails half-way).
    """
    connected = OAuthUser(types.SimpleNamespace(issuer=oauth["issuer"], resource=oauth["resource"]), oauth["web"])
    try:
        first = connected.tokens()
        before = home.superset_commands(["mcp-jwt", "db", "downgrade", "0001"], config=oauth["config"])
        assert "to 0001 (release 0.1.0's schema)" in before.stdout
        tables = set(sqlalchemy.inspect(sqlalchemy.create_engine(home.uri, poolclass=NullPool)).get_table_names())
        assert "mcp_oauth_refresh_tokens" in tables and "superset_mcp_jwt_oauth_refresh_tokens" not in tables
        assert home.sql("SELECT count(*) FROM mcp_oauth_clients WHERE client_id = :c",
                        c=connected.client_id) == [(1,)]
        cycle = home.superset_commands(
            ["mcp-jwt", "db", "upgrade"], ["mcp-jwt", "clients", "list"],
            ["mcp-jwt", "db", "downgrade", "0001"], ["mcp-jwt", "db", "upgrade"], ["mcp-jwt", "clients", "list"],
            config=oauth["config"],
        )
    except BaseException:  # leave the module's servers on today's tables
        home.superset("mcp-jwt", "db", "upgrade", config=oauth["config"])
        raise
    assert cycle.stdout.count("upgraded from 0001 to revision") == 2
    listed = [line.split() for line in cycle.stdout.splitlines() if line.startswith(connected.client_id)]
    assert len(listed) == 2 and listed[0] == listed[1] and listed[0][-1] == "1"  # one live connection
    refreshed = connected.refresh(first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert _who(oauth, refreshed.json()["access_token"]) == "alice"
    connected.close()
