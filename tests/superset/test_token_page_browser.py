"""The self-service token page in headless Chromium against the real web app under gunicorn.

Log in through Superset's own login page, mint a token, use it on a real
`superset mcp run`. The web app runs as production runs it: gunicorn with two
worker processes. Needs Debian's chromium (installed by `make test`).
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
import re
import shutil
from typing import Iterator

import pytest

from demo.sandbox import PASSWORD, GunicornWebServer, MCPServer, call_tool

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


pytestmark = pytest.mark.postgresql


@pytest.fixture(scope="module")
def servers(home) -> Iterator[tuple[GunicornWebServer, MCPServer]]:
    config = home.config("browser_config")
    with GunicornWebServer(home, config, "web-browser") as web, MCPServer(home, config, "mcp-browser") as mcp:
        yield web, mcp


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def logged_in_page(browser, web: GunicornWebServer, username: str):
    page = browser.new_context().new_page()
    page.set_default_timeout(90_000)  # a loaded 2-core CI machine renders Superset's SPA slowly
    page.goto(f"{web.url}/login/")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/superset/welcome/.*"), timeout=90_000)
    return page


def test_user_mints_a_token_in_the_browser_and_uses_it(browser, servers):
    web, mcp = servers
    page = logged_in_page(browser, web, "admin")
    # Found through Superset's own menu: Settings -> Manage -> MCP access token.
    page.get_by_text("Settings").first.hover()
    page.get_by_text("MCP access token").click()
    page.wait_for_url(re.compile(r".*/mcp-token/$"))
    page.locator("#ttl").select_option("3600")
    page.locator("#mint").click()
    token = page.locator("#token").input_value().strip()
    snippet = json.loads(page.locator("#snippet").inner_text())
    assert snippet["mcpServers"]["superset"]["args"][-1] == f"Authorization: Bearer {token}"
    # Playwright's sync API owns this thread's event loop: the MCP client gets its own.
    with ThreadPoolExecutor(1) as pool:
        call = call_tool(mcp.url, token, "get_instance_info", {})
        is_error, text = pool.submit(asyncio.run, call).result()
    assert not is_error and json.loads(text)["current_user"]["username"] == "admin"
    # Shown once: a fresh visit does not show it again.
    page.goto(f"{web.url}/mcp-token/")
    assert page.locator("#token").count() == 0


def test_gamma_user_is_not_granted_the_page_by_superset_init(browser, servers):
    web, _ = servers
    page = logged_in_page(browser, web, "alice")
    menu = page.request.get(f"{web.url}/api/v1/menu/").text()
    assert "/mcp-token/" not in menu  # no menu entry either
    response = page.goto(f"{web.url}/mcp-token/")
    assert response.status == 403
