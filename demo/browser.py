"""Debian's Chromium driven by Playwright's Python API, for the tests and the screenshots.

Needs ``/usr/bin/chromium`` (``make services`` installs it) and the playwright
Python package; Playwright's own browser downloads are not used.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

from demo.sandbox import PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Superset's React navbar (Superset 6.1.0 draws it as <header id="main-menu">).
NAVBAR = "header#main-menu"


def launch(playwright: Any) -> Any:
    """A headless Debian Chromium."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def logged_in_page(browser: Any, base_url: str, username: str, **context: Any) -> Any:
    """A new page signed in through Superset's own login form."""
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(90_000)  # a loaded 2-core CI machine renders Superset's SPA slowly
    page.goto(f"{base_url}/login/")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/superset/welcome/.*"), timeout=90_000)
    return page
