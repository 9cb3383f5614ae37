"""The MCP access page in headless Chromium against a real `superset run`.

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
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest

from demo.browser import NAVBAR, launch, logged_in_page
from demo.sandbox import MCPServer, WebServer, call_tool, free_port

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
def servers(home) -> Iterator[tuple[WebServer, MCPServer]]:
    mcp_port = free_port()
    config = home.config("browser_config", MCP_JWT_SERVER_URL=f"http://127.0.0.1:{mcp_port}/mcp")
    if not gamma_granted_the_page(home):  # a home reused from before this page existed
        home.superset("init", config=config)
    with WebServer(home, config, "web-browser") as web, \
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
    assert page.locator("#mcp-url").inner_text() == mcp.url  # MCP_JWT_SERVER_URL

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
