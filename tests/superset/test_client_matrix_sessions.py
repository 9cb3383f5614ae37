"""What MCP clients really do with their sessions, replayed against real servers (issue 17).

One module fixture: the web app under gunicorn (two workers; the authorization
server) and a real `superset mcp run`, on the session's SQLite home. Each
matrix test replays one behaviour recorded in a client's public tracker (named
in its docstring) with plain HTTP, exactly the requests the client sends; the
step-up tests run the official MCP SDK clients (Python `mcp.client.auth` from
the venv, TypeScript `@modelcontextprotocol/sdk` from tests/ts_client) with
Debian's Chromium as the user.

The deployment asks for least privilege by default (`MCP_OAUTH_DEFAULT_SCOPES
= ["mcp:read"]`: the 401 challenge says `scope="mcp:read"`), so an SDK client
starts read-only and steps up; and its refresh grace window is short
(`GRACE_SECONDS`) so that a test can wait for its end.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterator, Optional
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from demo.browser import CHROMIUM, CHROMIUM_ARGS
from demo.oauth_client import BrowserUser, LoopbackCallback, MemoryTokenStorage
from demo.sandbox import (
    INITIALIZE, MCP_ACCEPT, PASSWORD, call_tool, mint, oauth_servers,
)
from tests.superset.oauth_http import OAuthHTTPUser, at_once

#: MCP_OAUTH_REFRESH_TOKEN_GRACE_SECONDS of this deployment (the default is 60).
GRACE_SECONDS = 6
#: MCP_JWT_REVOCATION_MEMO_SECONDS (2 s, the default) and a margin.
MEMO_BOUND = 3.0
SQL = {"request": {"database_id": 1, "sql": "SELECT 1 AS one"}}
TS_CLIENT = Path(__file__).resolve().parents[1] / "ts_client"


@pytest.fixture(scope="module")
def servers(home) -> Iterator[dict[str, Any]]:
    with oauth_servers(home, "matrix_sessions", MCP_OAUTH_DEFAULT_SCOPES=["mcp:read"],
                       MCP_OAUTH_REFRESH_TOKEN_GRACE_SECONDS=GRACE_SECONDS) as servers:
        yield servers


def http_user(servers: dict[str, Any], username: str = "alice", client_name: str = "Claude Code") -> OAuthHTTPUser:
    return OAuthHTTPUser(servers["web"].url, servers["issuer"], servers["resource"], username, client_name)


def mcp_status(servers: dict[str, Any], access_token: str) -> int:
    return httpx.post(servers["mcp"].url, json=INITIALIZE, timeout=60, headers={
        "Accept": MCP_ACCEPT, "Authorization": f"Bearer {access_token}",
    }).status_code


def who(servers: dict[str, Any], access_token: str) -> str:
    _, text = asyncio.run(call_tool(servers["mcp"].url, access_token, "get_instance_info", {}))
    return json.loads(text)["current_user"]["username"]


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


# --- the client behaviour matrix, session side ------------------------------------------------


def test_claude_code_asks_for_mcp_all_and_offline_access(servers):
    """anthropics/claude-code #41610: Claude Code appends `offline_access` to the scope whatever
    the authorization server advertises (`scope=mcp:all offline_access`). It is not refused: it
    asks for a refresh token, which comes anyway; the consent page and the token show `mcp:all` only."""
    user = http_user(servers)
    tokens = user.tokens(scope="mcp:all offline_access")
    shown = user.consent_page.split('<ul id="scopes">', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r"<code>([^<]+)</code>", shown) == ["mcp:all"]
    assert tokens["scope"] == "mcp:all" and tokens["refresh_token"]
    asm = httpx.get(f"{servers['issuer']}/.well-known/oauth-authorization-server", timeout=60).json()
    assert "offline_access" not in asm["scopes_supported"]  # MCP SEP-2207: never advertised
    assert mcp_status(servers, tokens["access_token"]) == 200


def test_claude_ai_sends_offline_access_with_a_leading_space(servers):
    """anthropics/claude-ai-mcp #453 (also modelcontextprotocol/mcpb #188): Claude.ai's connector
    sends `scope=+offline_access` (` offline_access`). It gets the default scopes, not invalid_scope."""
    tokens = http_user(servers, client_name="Claude").tokens(scope=" offline_access")
    assert tokens["scope"] == "mcp:read" and tokens["refresh_token"]


def test_claude_code_refreshes_without_scope(servers):
    """anthropics/claude-code #89862: the refresh request carries no `scope`; the grant's scope comes back."""
    user = http_user(servers)
    first = user.tokens(scope="mcp:all offline_access")
    refreshed = ok(user.refresh(first["refresh_token"]))
    assert refreshed["scope"] == "mcp:all" and refreshed["refresh_token"] != first["refresh_token"]
    assert who(servers, refreshed["access_token"]) == "alice"


def test_claude_code_sessions_share_one_refresh_token_the_second_three_seconds_later(servers):
    """anthropics/claude-code #91641: concurrent Claude Code sessions keep one refresh token per
    server and each refreshes it; the second, 3 s after the first rotated it, was taken for a thief
    and every session was logged out. Both now get tokens of their own, and both keep working."""
    user = http_user(servers)
    shared = user.tokens(scope="mcp:all offline_access")["refresh_token"]
    session_a = ok(user.refresh(shared))
    time.sleep(3)
    session_b = ok(user.refresh(shared))
    assert session_a["refresh_token"] != session_b["refresh_token"]
    for session in (session_a, session_b):
        assert who(servers, session["access_token"]) == "alice"
        assert who(servers, ok(user.refresh(session["refresh_token"]))["access_token"]) == "alice"


def test_claude_ai_refreshes_one_token_twice_at_once_from_two_addresses(servers):
    """PrefectHQ/fastmcp #4264: the Claude.ai connector refreshes the same refresh token from two
    egress addresses at once. Two requests at once, from 127.0.0.1 and 127.0.0.2, to two workers:
    both 200, each refresh token returned works, each access token is accepted."""
    user = http_user(servers, client_name="Claude")
    shared = user.tokens(scope="mcp:all")["refresh_token"]
    egress = [httpx.HTTPTransport(local_address=address) for address in ("127.0.0.1", "127.0.0.2")]
    answers = at_once(*[(lambda t=t: user.token(transport=t, grant_type="refresh_token", refresh_token=shared))
                        for t in egress])
    issued = [ok(answer) for answer in answers]
    assert issued[0]["refresh_token"] != issued[1]["refresh_token"]
    for tokens in issued:
        assert mcp_status(servers, tokens["access_token"]) == 200
        ok(user.refresh(tokens["refresh_token"]))


def test_codex_presents_a_stale_generation_within_the_window(servers):
    """exceptionless/Exceptionless #2404: Codex keeps stale refresh-token generations across
    processes. A token two rotations old, presented within the window of its own rotation,
    gets tokens in the family; the newest generation keeps working."""
    user = http_user(servers, client_name="Codex")
    first = user.tokens(scope="mcp:all")
    second = ok(user.refresh(first["refresh_token"]))
    third = ok(user.refresh(second["refresh_token"]))
    stale = ok(user.refresh(first["refresh_token"]))
    for tokens in (third, stale):
        ok(user.refresh(tokens["refresh_token"]))


def test_a_replay_after_the_window_is_theft_and_kills_the_family(servers):
    """RFC 9700 §4.14.2, unchanged past the window: a rotated-out token presented after it ends the
    family; its refresh tokens are refused, and `superset mcp run` refuses its access tokens."""
    user = http_user(servers)
    first = user.tokens(scope="mcp:all")
    second = ok(user.refresh(first["refresh_token"]))
    rotated_at = time.monotonic()
    assert mcp_status(servers, second["access_token"]) == 200
    time.sleep(max(0.0, rotated_at + GRACE_SECONDS + 1 - time.monotonic()))
    replay = user.refresh(first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert user.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"
    time.sleep(MEMO_BOUND)
    assert [mcp_status(servers, t["access_token"]) for t in (first, second)] == [401, 401]


# --- step-up authorization ---------------------------------------------------------------------


def tools_call(servers: dict[str, Any], access_token: str, name: str, arguments: dict[str, Any]) -> httpx.Response:
    return httpx.post(servers["mcp"].url, timeout=60, headers={
        "Accept": MCP_ACCEPT, "Authorization": f"Bearer {access_token}",
    }, json={"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}})


def test_a_read_token_calling_a_sql_tool_is_told_to_step_up_by_name_and_through_call_tool(servers):
    """MCP 2025-11-25 step-up: 403 insufficient_scope with the held and the needed scope, before the
    tool runs, whether the tool is called by name or through Superset 6.1.0's `call_tool` proxy."""
    read_only = http_user(servers, "admin").tokens(scope="mcp:read")["access_token"]
    metadata = f"http://127.0.0.1:{servers['mcp'].port}/.well-known/oauth-protected-resource/mcp"
    challenge = ('Bearer realm="superset-mcp", error="insufficient_scope", error_description='
                 f'"The access token lacks a required scope.", resource_metadata="{metadata}", scope="mcp:read mcp:sql"')
    for name, arguments in [("execute_sql", SQL), ("call_tool", {"name": "execute_sql", "arguments": SQL})]:
        refused = tools_call(servers, read_only, name, arguments)
        assert refused.status_code == 403, (name, refused.text)
        assert refused.headers["WWW-Authenticate"] == challenge
        assert refused.json()["error"] == "insufficient_scope"
    # What the token allows goes through, by name and through the proxy.
    assert tools_call(servers, read_only, "get_instance_info", {}).status_code == 200
    assert tools_call(servers, read_only, "call_tool", {"name": "list_charts", "arguments": {}}).status_code == 200


def test_no_step_up_when_the_roles_forbid_the_tool_or_the_token_was_pasted(servers):
    """A Gamma user (alice) may not run SQL whatever her token: no 403 (a consent she could not use),
    the tool's permission error as before. A pasted (non-OAuth) scoped token is not stepped up either:
    there is no sign-in behind it to widen; its missing permission is named in the tool's error."""
    alice = http_user(servers, "alice").tokens(scope="mcp:read")["access_token"]
    assert tools_call(servers, alice, "execute_sql", SQL).status_code == 200
    _, denied = asyncio.run(call_tool(servers["mcp"].url, alice, "execute_sql", SQL))
    assert "Permission denied: can_execute_sql_query on SQLLab" in denied and "alice" in denied
    pasted = mint(servers["home"].secret, "admin", scope="mcp:read")
    assert tools_call(servers, pasted, "execute_sql", SQL).status_code == 200
    _, denied = asyncio.run(call_tool(servers["mcp"].url, pasted, "execute_sql", SQL))
    assert "Permission denied: can_execute_sql_query on SQLLab" in denied


class ConsentPages:
    """What each consent page the browser answered showed: its scopes, and those marked New."""

    def __init__(self) -> None:
        self.pages: list[dict[str, list[str]]] = []

    async def __call__(self, page: Any) -> None:
        self.pages.append({
            "scopes": [text.strip() for text in await page.locator("#scopes li code").all_inner_texts()],
            "new": [text.strip() for text in await page.locator("#scopes li.mcp-added code").all_inner_texts()],
            "granted": [t.strip() for t in await page.locator("#already-granted code").all_inner_texts()],
        })


async def python_sdk_call(servers: dict[str, Any], username: str, consent: ConsentPages) -> tuple[bool, str, int]:
    """The Python SDK's OAuthClientProvider signs ``username`` in, then calls execute_sql: (is_error, text, sign-ins)."""
    from mcp import ClientSession
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamablehttp_client
    from mcp.shared.auth import OAuthClientMetadata
    from playwright.async_api import async_playwright

    signed_in = 0
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        user = BrowserUser(browser, username, PASSWORD, on_consent=consent)
        callback = LoopbackCallback()
        redirect_uri = await callback.start()

        async def redirect_handler(url: str) -> None:
            nonlocal signed_in
            signed_in += 1
            await user.authorize(url, redirect_uri)

        async def callback_handler() -> tuple[str, Optional[str]]:
            query = await callback.wait()
            return query["code"], query.get("state")

        provider = OAuthClientProvider(
            servers["mcp"].url,
            OAuthClientMetadata(client_name="Python SDK step-up test", redirect_uris=[redirect_uri],
                                grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                                token_endpoint_auth_method="none"),
            MemoryTokenStorage(), redirect_handler=redirect_handler, callback_handler=callback_handler,
        )
        try:
            async with streamablehttp_client(servers["mcp"].url, auth=provider) as (read, write, _):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    result = await session.call_tool("execute_sql", SQL)
        finally:
            callback.close()
            await browser.close()
    return bool(result.isError), "".join(getattr(p, "text", "") for p in result.content), signed_in


def test_python_sdk_steps_up_through_chromium_consent_once(servers):
    """The MCP Python SDK 1.30 steps up by itself: on `403` with `error="insufficient_scope"`
    (mcp/client/auth/oauth2.py, lines 537-541) it takes the challenge's scope (lines 621-625),
    runs the authorization again (line 674) and retries the request (line 680). An admin starts
    read-only (the challenge's default `mcp:read`), calls execute_sql, signs in once more; the
    consent page shows `mcp:sql` as New beside the `mcp:read` already granted; the call succeeds."""
    consent = ConsentPages()
    is_error, text, signed_in = asyncio.run(python_sdk_call(servers, "admin", consent))
    assert signed_in == 2  # the first sign-in, and one step-up
    assert consent.pages == [
        {"scopes": ["mcp:read"], "new": [], "granted": []},
        {"scopes": ["mcp:read", "mcp:sql"], "new": ["mcp:sql"], "granted": ["mcp:read"]},
    ]
    assert not is_error and "Permission denied" not in text and '"one"' in text, text


def test_python_sdk_gamma_user_is_offered_no_step_up(servers):
    """alice (Gamma) may not run SQL: no 403, so the SDK never asks her to sign in again; the call
    ends in the tool's permission error."""
    consent = ConsentPages()
    _, text, signed_in = asyncio.run(python_sdk_call(servers, "alice", consent))
    assert signed_in == 1 and len(consent.pages) == 1
    assert "Permission denied: can_execute_sql_query on SQLLab" in text


def test_typescript_sdk_steps_up_through_chromium_consent(servers):
    """`@modelcontextprotocol/sdk` 1.32.2 (tests/ts_client, pinned): its streamable HTTP transport
    handles `403` with `error="insufficient_scope"` (dist/esm/client/streamableHttp.js, lines 350-375):
    it takes the challenge's scope, calls `auth()` and retries once per distinct challenge. But
    `auth()` refreshes first when it holds a refresh token (dist/esm/client/auth.js, line 351), gets
    the same scope back, and gives up (streamableHttp.js line 356; modelcontextprotocol/typescript-sdk
    #2255): recorded here as it is. With the provider withholding its refresh token while a step-up
    is pending (tests/ts_client/step_up.mjs), the SDK's own step-up runs: a second sign-in asking for
    `mcp:read mcp:sql`, the consent page marking `mcp:sql` New, and the retried call succeeds."""
    if shutil.which("node") is None or not (TS_CLIENT / "node_modules").is_dir():
        pytest.fail("the TypeScript SDK client is not installed: run `make test` (npm ci in tests/ts_client)")
    consent = ConsentPages()
    events = asyncio.run(typescript_sdk_run(servers, "admin", consent))
    kinds = [event["event"] for event in events]
    # The first call: 403, a refresh (same scope), 403 again, the SDK gives up. The second: 403, a sign-in.
    assert kinds == ["authorize", "result", "forbidden", "forbidden", "gave-up", "result", "forbidden",
                     "authorize", "result", "done"], events
    assert events[4]["message"].endswith("Server returned 403 after trying upscoping")
    assert 'scope="mcp:read mcp:sql"' in events[2]["challenge"]
    sql = events[8]
    assert sql["tool"] == "execute_sql" and not sql["isError"] and "one" in sql["text"], sql
    assert events[-1]["scopesAsked"] == ["mcp:read", "mcp:read mcp:sql"]
    assert events[-1]["scope"] == "mcp:read mcp:sql"
    assert consent.pages[1] == {"scopes": ["mcp:read", "mcp:sql"], "new": ["mcp:sql"], "granted": ["mcp:read"]}


async def typescript_sdk_run(servers: dict[str, Any], username: str, consent: ConsentPages) -> list[dict[str, Any]]:
    """Run step_up.mjs, answering each authorization it asks for in Chromium: its events."""
    from playwright.async_api import async_playwright

    events: list[dict[str, Any]] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        user = BrowserUser(browser, username, PASSWORD, on_consent=consent)
        process = await asyncio.create_subprocess_exec(
            "node", str(TS_CLIENT / "step_up.mjs"), servers["mcp"].url, "execute_sql", json.dumps(SQL),
            cwd=TS_CLIENT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            async for line in process.stdout:
                event = json.loads(line)
                events.append(event)
                if event["event"] == "authorize":
                    redirect_uri = parse_qs(urlsplit(event["url"]).query)["redirect_uri"][0]
                    await user.authorize(event["url"], redirect_uri)
            await asyncio.wait_for(process.wait(), 120)
        finally:
            if process.returncode is None:
                process.kill()
            await browser.close()
        stderr = (await process.stderr.read()).decode() if process.stderr else ""
    print("\n".join(json.dumps(event) for event in events), stderr, sep="\n")  # shown when the test fails
    assert process.returncode == 0, "the TypeScript client failed (its events are printed above)"
    return events
