"""The demo: the documented HS256 procedure on a real Superset 6.1.0, made to work.

Builds (once) a SQLite Superset home in .demo/ with an Admin (admin) and a
Gamma user (alice), writes a superset_config.py with a fresh secret and the
one-line enablement, starts `superset mcp run` on loopback, and calls it with
the official MCP Python SDK client as each user. Exits non-zero if anything
does not behave as promised.
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

from demo.sandbox import INITIALIZE, MCP_ACCEPT, MCPServer, SupersetHome, call_tool, mint

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
    config = home.config("superset_config")
    step(f"config written with a fresh MCP_JWT_SECRET: {config}")
    step("starting `superset mcp run` on 127.0.0.1 (about 10 s)")
    failures = 0
    with MCPServer(home, config, "demo-mcp") as server:
        step(f"MCP server ready at {server.url}")
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
        step("stopping the MCP server")
    if failures:
        step(f"FAILED: {failures} check(s) did not hold; server log: {server.log_path}")
        return 1
    step("done: each token acted as its own Superset user, with that user's permissions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
