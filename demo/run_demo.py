"""The demo: the documented HS256 procedure on a real Superset 6.1.0, made to work — and OAuth.

Builds (once) a SQLite Superset home in .demo/ with an Admin (admin) and a
Gamma user (alice), writes a superset_config.py with a fresh secret, the
one-line enablement and OAuth on, starts `superset run` and `superset mcp run`
on loopback, and calls the MCP server with the official MCP Python SDK client:
first with pasted tokens as each user, then as a client that knows only the
MCP URL and signs alice in through Superset's login and consent pages in
headless Chromium. Exits non-zero if anything does not behave as promised.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sys
import time
from pathlib import Path

import httpx

from demo.oauth_client import sign_in_and_call
from demo.sandbox import (
    INITIALIZE, MCP_ACCEPT, PASSWORD, MCPServer, SupersetHome, WebServer, call_tool, free_port, mint,
)

ROOT = Path(__file__).resolve().parents[1] / ".demo"
SQL = {"request": {"database_id": 1, "sql": "SELECT 'hello from Superset' AS greeting"}}


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main() -> int:
    # The SDK client warns that Superset's tools are hidden behind its search
    # transform; that is expected here.
    logging.getLogger("client").setLevel(logging.ERROR)  # the MCP SDK client's logger
    home = SupersetHome(ROOT, secret=secrets.token_urlsafe(48))
    step(f"Superset home: {ROOT} (SQLite metadata; reused on later runs)")
    home.bootstrap(log=lambda message: step(message))
    web_port, mcp_port = free_port(), free_port()
    config = home.config(
        "superset_config",
        MCP_OAUTH_ENABLED=True,
        MCP_OAUTH_ISSUER=f"http://127.0.0.1:{web_port}",
        MCP_OAUTH_RESOURCE=f"http://127.0.0.1:{mcp_port}/mcp",
    )
    step(f"config written with a fresh MCP_JWT_SECRET and OAuth on: {config}")
    step("superset mcp-jwt db upgrade (the OAuth tables)")
    home.superset("mcp-jwt", "db", "upgrade", config=config)
    step("starting `superset run` and `superset mcp run` on 127.0.0.1 (about 20 s)")
    failures = 0
    with WebServer(home, config, "demo-web", port=web_port) as web, \
            MCPServer(home, config, "demo-mcp", port=mcp_port) as server:
        step(f"MCP server ready at {server.url}; Superset at {web.url}")
        for user in ("admin", "alice"):
            step(f"superset mcp-jwt token --sub {user} --ttl 10m")
            minted = home.superset("mcp-jwt", "token", "--sub", user, "--ttl", "10m", config=config)
            token = minted.stdout.strip().splitlines()[-1]
            _, info = asyncio.run(call_tool(server.url, token, "get_instance_info", {}))
            who = json.loads(info)["current_user"]["username"]
            _, result = asyncio.run(call_tool(server.url, token, "execute_sql", SQL))
            if result.startswith("{"):
                outcome = f"allowed: {json.loads(result)['rows']}"
            else:
                outcome = "denied: " + result.split("Error calling tool 'execute_sql': ")[-1]
            print(f"  token for {user!r:8} -> server says current_user = {who!r}")
            print(f"                      execute_sql -> {outcome}")
            failures += who != user
            failures += outcome.startswith("allowed") != (user == "admin")

        forged = mint("not-the-server-secret-" + secrets.token_urlsafe(32), "admin")
        response = httpx.post(
            server.url,
            headers={"Authorization": f"Bearer {forged}", "Accept": MCP_ACCEPT},
            json=INITIALIZE,
        )
        print(f"  token signed with another secret -> HTTP {response.status_code}")
        print(f"      WWW-Authenticate: {response.headers.get('WWW-Authenticate')}")
        failures += response.status_code != 401

        step("OAuth: an MCP client that knows only the MCP URL, alice at a headless Chromium")
        is_error, text, storage, seen = asyncio.run(
            sign_in_and_call(server.url, "alice", PASSWORD, "get_instance_info", {})
        )
        who = None if is_error else json.loads(text)["current_user"]["username"]
        print("  401 + resource_metadata -> discovery -> registration (RFC 7591) -> "
              + " -> ".join(seen) + " -> code + PKCE -> token")
        print(f"  OAuth client {storage.client_info.client_id[:12]}... -> server says current_user = {who!r}")
        _, result = asyncio.run(call_tool(server.url, storage.tokens.access_token, "execute_sql", SQL))
        denied = not result.startswith("{")
        print(f"                      execute_sql -> {'denied (alice is Gamma)' if denied else 'allowed'}")
        failures += who != "alice"
        failures += not denied
        step("stopping the servers")
    if failures:
        step(f"FAILED: {failures} check(s) did not hold; server log: {server.log_path}")
        return 1
    step("done: each token acted as its own Superset user, with that user's permissions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
