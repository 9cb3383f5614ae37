"""The documentation's screenshots (docs/images/), taken from a real ``superset run`` in headless Chromium.

``make screenshots`` (or ``python -m demo.screenshots [OUT_DIR]``) builds or
reuses the sandbox Superset home in ``.demo/``, starts the web app with OAuth
on, connects two apps through the real authorization flow (registration,
Superset login, the consent page, the code exchange with PKCE) and saves:

* ``mcp-access-admin.png`` — the MCP access page as the admin (everyone's
  connected apps, a freshly minted token from the throw-away sandbox secret);
* ``mcp-access-alice.png`` — the same page as alice (Gamma): her own apps only;
* ``oauth-consent.png`` — the consent page an MCP client sends a user to.

Not part of the test suite. Needs Debian's chromium (``make services``).
"""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path
from typing import Any

from demo.browser import NAVBAR, authorize, launch, logged_in_page
from demo.sandbox import SupersetHome, WebServer, free_port

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".demo"
OUT = ROOT / "docs" / "images"
VIEWPORT = {"width": 1280, "height": 800}


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(out: Path = OUT) -> int:
    out.mkdir(parents=True, exist_ok=True)
    home = SupersetHome(HOME, secret=secrets.token_urlsafe(48))
    home.bootstrap(log=step)
    web_port = free_port()
    issuer = f"http://127.0.0.1:{web_port}"
    resource = f"http://127.0.0.1:{free_port()}/mcp"
    config = home.config(
        "screenshots_config",
        MCP_OAUTH_ENABLED=True, MCP_OAUTH_ISSUER=issuer, MCP_OAUTH_RESOURCE=resource,
    )
    step("superset init and superset mcp-jwt db upgrade (the page's permissions, the OAuth tables)")
    home.superset("init", config=config)
    home.superset("mcp-jwt", "db", "upgrade", config=config)
    from playwright.sync_api import sync_playwright

    step("starting `superset run` on 127.0.0.1 (about 20 s)")
    with WebServer(home, config, "screenshots-web", port=web_port) as web, sync_playwright() as pw:
        step(f"web app at {web.url} (log: {web.log_path})")
        browser = launch(pw)
        admin = logged_in_page(browser, web.url, "admin", viewport=VIEWPORT)
        alice = logged_in_page(browser, web.url, "alice", viewport=VIEWPORT)
        step("alice connects a client: registration, consent, code exchange with PKCE")
        authorize(alice, web.url, resource, "Claude Code (demo)", "mcp:read mcp:sql",
                  before_allow=lambda page: shoot(page, out / "oauth-consent.png"))
        step("admin connects a client")
        authorize(admin, web.url, resource, "Cursor (demo)", "mcp:all")
        step("admin mints a token on the page")
        admin.goto(f"{web.url}/mcp-access/")
        admin.locator("#ttl").select_option("3600")
        admin.locator("#mint").click()
        admin.locator("#token").wait_for()
        shoot(admin, out / "mcp-access-admin.png")
        alice.goto(f"{web.url}/mcp-access/")
        shoot(alice, out / "mcp-access-alice.png")
        browser.close()
    for name in ("mcp-access-admin.png", "mcp-access-alice.png", "oauth-consent.png"):
        path = out / name
        step(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size // 1024} KB")
    return 0


def shoot(page: Any, path: Path) -> None:
    """A full-page PNG once Superset's navbar is drawn and the fonts are loaded."""
    if page.locator("#app").count():
        page.locator(NAVBAR).first.wait_for()
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
