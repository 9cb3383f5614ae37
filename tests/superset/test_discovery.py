"""Discovery matches permissions on the real Superset 6.1.0 `superset mcp run`.

`tools/list` and the search tool show a user only the tools their roles allow,
narrowed by the token's `mcp:` scopes; calls stay checked (test_mcp_server.py).
"""

from __future__ import annotations

import asyncio
import re
from typing import Iterator

import pytest

from demo.sandbox import MCPServer, mint

#: Superset 6.1.0's tools needing more than can_read (from their @tool permissions).
SQL_TOOLS = {"execute_sql"}
WRITE_TOOLS = {"save_sql_query", "update_chart_preview", "create_virtual_dataset"}
SEARCH = {
    "enabled": True, "strategy": "regex", "max_results": 500,
    "always_visible": ["get_instance_info", "execute_sql"],
}


@pytest.fixture(scope="module")
def server(home) -> Iterator[MCPServer]:
    config = home.config("discovery_config", MCP_TOOL_SEARCH_CONFIG=SEARCH)
    with MCPServer(home, config, "mcp-discovery") as running:
        yield running


async def discover(url: str, token: str) -> tuple[set[str], set[str]]:
    """(tools/list names, names the search tool finds for the pattern '.')."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async with streamablehttp_client(url, headers={"Authorization": f"Bearer {token}"}) as (r, w, _):
        async with ClientSession(r, w) as session:
            await session.initialize()
            listed = {tool.name for tool in (await session.list_tools()).tools}
            result = await session.call_tool("search_tools", {"pattern": "."})
    text = "".join(getattr(part, "text", "") for part in result.content)
    return listed, set(re.findall(r'"name":\s*"([a-z_]+)"', text))


def test_admin_discovers_sql_and_write_tools(server, home):
    listed, found = asyncio.run(discover(server.url, mint(home.secret, "admin")))
    assert {"execute_sql", "get_instance_info", "search_tools", "call_tool"} <= listed
    assert WRITE_TOOLS <= found and "list_charts" in found


def test_a_gamma_user_does_not_discover_execute_sql(server, home):
    admin = asyncio.run(discover(server.url, mint(home.secret, "admin")))[1]
    listed, found = asyncio.run(discover(server.url, mint(home.secret, "alice")))
    assert "execute_sql" not in listed and {"get_instance_info", "search_tools"} <= listed
    assert found and found < admin  # fewer tools, all of them the admin's too


def test_an_mcp_read_token_discovers_no_write_or_sql_tool(server, home):
    token = mint(home.secret, "admin", scope="mcp:read")
    listed, found = asyncio.run(discover(server.url, token))
    assert not (SQL_TOOLS | WRITE_TOOLS) & (listed | found)
    assert "list_charts" in found and "get_instance_info" in listed


def test_an_mcp_sql_token_discovers_execute_sql_but_no_write_tool(server, home):
    listed, found = asyncio.run(discover(server.url, mint(home.secret, "admin", scope="mcp:sql")))
    assert "execute_sql" in listed and not WRITE_TOOLS & found
