"""The MCP access page in headless Chromium against the real web app under gunicorn (two workers).

Log in through Superset's own login page, find the page in Superset's menu,
check it is drawn inside Superset's own navbar and that nothing overflows,
mint a token and use it on a real `superset mcp run`. Needs Debian's chromium
(installed by `make test`).
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import httpx
import pytest

from demo.browser import NAVBAR, authorize, launch, logged_in_page
from demo.sandbox import INITIALIZE, MCP_ACCEPT, GunicornWebServer, MCPServer, call_tool, free_port

VIEWPORT = {"width": 1280, "height": 800}
#: Right edges and scroll widths of the boxes that hold long text.
OVERFLOW = """() => {
  const page = document.querySelector('#mcp-access').getBoundingClientRect();
  return {
    viewport: window.innerWidth,
    document: document.documentElement.scrollWidth,
    page: page.right,
    boxes: [...document.querySelectorAll('#mcp-access .mcp-code')].map(e => ({
      id: e.id, right: e.getBoundingClientRect().right,
      scroll: e.scrollWidth, client: e.clientWidth})),
  };
}"""


def gamma_granted_the_page(home) -> bool:
    with sqlite3.connect(home.database) as db:
        return db.execute(
            "SELECT count(*) FROM ab_permission_view_role pvr"
            " JOIN ab_role r ON r.id = pvr.role_id"
            " JOIN ab_permission_view pv ON pv.id = pvr.permission_view_id"
            " JOIN ab_permission p ON p.id = pv.permission_id"
            " JOIN ab_view_menu v ON v.id = pv.view_menu_id"
            " WHERE r.name = 'Gamma' AND p.name = 'can_read' AND v.name = 'MCPAccess'"
        ).fetchone()[0] == 1


@pytest.fixture(scope="module")
def servers(home) -> Iterator[tuple[GunicornWebServer, MCPServer]]:
    """The web app and the MCP server with OAuth on (static tokens work beside it)."""
    mcp_port, web_port = free_port(), free_port()
    mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"
    config = home.config(
        "browser_config", MCP_JWT_SERVER_URL=mcp_url, MCP_OAUTH_ENABLED=True,
        MCP_OAUTH_ISSUER=f"http://127.0.0.1:{web_port}", MCP_OAUTH_RESOURCE=mcp_url,
    )
    if not gamma_granted_the_page(home):  # a home reused from before this page existed
        home.superset("init", config=config)
    home.superset("mcp-jwt", "db", "upgrade", config=config)
    with GunicornWebServer(home, config, "web-browser", port=web_port) as web, \
            MCPServer(home, config, "mcp-browser", port=mcp_port) as mcp:
        yield web, mcp


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def test_admin_finds_the_page_in_superset_mints_a_token_and_uses_it(browser, servers):
    web, mcp = servers
    page = logged_in_page(browser, web.url, "admin", viewport=VIEWPORT)
    # Found through Superset's own menu: Settings -> Manage -> MCP access.
    page.get_by_text("Settings").first.hover()
    page.get_by_text("MCP access", exact=True).click()
    page.wait_for_url(re.compile(r".*/mcp-access/$"))
    # Drawn by Superset's React app: its navbar, with our page below it.
    page.locator(NAVBAR).wait_for()
    assert page.locator(f"{NAVBAR} >> text=Settings").count() >= 1
    navbar, content = page.locator(NAVBAR).bounding_box(), page.locator("#mcp-access").bounding_box()
    assert navbar["height"] > 0 and content["y"] >= navbar["y"] + navbar["height"]
    assert page.locator("#mcp-url").inner_text() == mcp.url  # MCP_OAUTH_RESOURCE

    page.locator("#ttl").select_option("3600")
    page.locator("#mint").click()
    token = page.locator("#token").input_value().strip()
    snippet = json.loads(page.locator("#snippet").inner_text())
    assert snippet["mcpServers"]["superset"]["args"][-3:] == [
        mcp.url, "--header", f"Authorization: Bearer {token}"]
    page.locator(NAVBAR).wait_for()  # the result page is Superset's too
    # The long token and snippet wrap inside the page: no horizontal overflow anywhere.
    sizes = page.evaluate(OVERFLOW)
    assert sizes["document"] <= sizes["viewport"], sizes
    assert {box["id"] for box in sizes["boxes"]} >= {"token", "snippet"}
    for box in sizes["boxes"]:
        assert box["right"] <= sizes["page"] + 0.5 and box["scroll"] <= box["client"], sizes
    # Playwright's sync API owns this thread's event loop: the MCP client gets its own.
    with ThreadPoolExecutor(1) as pool:
        call = call_tool(mcp.url, token, "get_instance_info", {})
        is_error, text = pool.submit(asyncio.run, call).result()
    assert not is_error and json.loads(text)["current_user"]["username"] == "admin"
    # Shown once: a fresh visit does not show it again.
    page.goto(f"{web.url}/mcp-access/")
    assert page.locator("#token").count() == 0 and page.locator("#mint").count() == 1


def test_gamma_user_gets_the_page_from_superset_init_but_not_minting(browser, servers):
    web, _ = servers
    page = logged_in_page(browser, web.url, "alice", viewport=VIEWPORT)
    # Superset keeps its Manage menu for Alpha and Admin: Gamma opens the page by its URL.
    menu = page.request.get(f"{web.url}/api/v1/menu/").text()
    assert "/mcp-token/" not in menu and "/mcp-access/" not in menu
    response = page.goto(f"{web.url}/mcp-access/")
    assert response.status == 200
    page.locator(NAVBAR).wait_for()
    assert page.locator("#mcp-url").count() == 1 and page.locator("#mint").count() == 0
    assert page.goto(f"{web.url}/mcp-token/").status == 403


def call_as(mcp: MCPServer, token: str) -> tuple[bool, str]:
    """get_instance_info with ``token`` (Playwright's sync API owns this thread's event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, call_tool(mcp.url, token, "get_instance_info", {})).result()


def initialize_status(mcp: MCPServer, token: str) -> int:
    """The HTTP status of a raw MCP ``initialize`` with ``token``."""
    headers = {"Authorization": f"Bearer {token}", "Accept": MCP_ACCEPT}
    return httpx.post(mcp.url, json=INITIALIZE, headers=headers, timeout=30).status_code


def test_alice_sees_her_connected_app_and_revokes_it(browser, servers):
    web, mcp = servers
    page = logged_in_page(browser, web.url, "alice", viewport=VIEWPORT)
    tokens = authorize(page, web.url, mcp.url, "Browser test client", "mcp:read")
    is_error, text = call_as(mcp, tokens["access_token"])
    assert not is_error and json.loads(text)["current_user"]["username"] == "alice"
    assert initialize_status(mcp, tokens["access_token"]) == 200

    page.goto(f"{web.url}/mcp-access/")
    page.locator(NAVBAR).wait_for()
    row = page.locator("tr.mcp-connection", has_text=tokens["client_id"])
    assert row.count() == 1 and "Browser test client" in row.inner_text() and "mcp:read" in row.inner_text()
    assert page.locator("td.mcp-user").count() == 0  # no user column for alice
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_url(re.compile(r".*/mcp-access/\?notice=revoked$"))
    page.locator(NAVBAR).wait_for()
    assert page.locator("tr.mcp-connection", has_text=tokens["client_id"]).count() == 0
    # Revoked means revoked: the refresh token is refused, and within the revocation
    # memo time (2 s) so is the access token on `superset mcp run`.
    refreshed = httpx.post(f"{web.url}/oauth/mcp/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": tokens["client_id"], "resource": mcp.url,
    })
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    deadline = time.monotonic() + 5
    while initialize_status(mcp, tokens["access_token"]) == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert initialize_status(mcp, tokens["access_token"]) == 401


def test_admin_sees_everyones_connections(browser, servers):
    web, mcp = servers
    alice = logged_in_page(browser, web.url, "alice", viewport=VIEWPORT)
    tokens = authorize(alice, web.url, mcp.url, "Alice's other client", "mcp:read")
    admin = logged_in_page(browser, web.url, "admin", viewport=VIEWPORT)
    admin.goto(f"{web.url}/mcp-access/")
    admin.locator(NAVBAR).wait_for()
    row = admin.locator("tr.mcp-connection", has_text=tokens["client_id"])
    assert row.locator("td.mcp-user").inner_text() == "alice"
