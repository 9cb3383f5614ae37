"""Debian's Chromium driven by Playwright's Python API, for the tests and the screenshots.

Needs ``/usr/bin/chromium`` (``make services`` installs it) and the playwright
Python package; Playwright's own browser downloads are not used.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import shutil
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlencode, urlparse

import httpx

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from demo.sandbox import PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Superset's React navbar (Superset 6.1.0 draws it as <header id="main-menu">).
NAVBAR = "header#main-menu"
#: The loopback redirect URI ``authorize`` registers (RFC 8252); the browser's request there is
#: answered by Playwright, so nothing needs to listen on it.
REDIRECT_URI = "http://127.0.0.1:8976/oauth/callback"


def launch(playwright: Any) -> Any:
    """A headless Debian Chromium."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


#: Sign-in attempts before giving up (see :func:`logged_in_page`).
SIGN_IN_ATTEMPTS = 3


def logged_in_page(browser: Any, base_url: str, username: str, **context: Any) -> Any:
    """A new page signed in through Superset's own login form.

    Superset's login page sends its event log as the page goes away, still without
    the session; on a slow machine that request's answer (a redirect to the login
    page) can arrive after the login's and replace the new session cookie. So: wait
    until the welcome page has settled, check the session with ``/api/v1/me/``, and
    sign in again if it was lost.
    """
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(90_000)  # a loaded 2-core CI machine renders Superset's SPA slowly
    for _ in range(SIGN_IN_ATTEMPTS):
        page.goto(f"{base_url}/login/")
        page.wait_for_load_state("networkidle")  # the form drawn for good by Superset's React app
        if "/login/" in page.url:
            page.locator("#username").fill(username)
            page.locator("#password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            try:
                page.wait_for_url(lambda url: "/login/" not in url, timeout=30_000)
            except PlaywrightTimeoutError:
                continue  # the form did not go: fill it again
        page.wait_for_load_state("networkidle")
        if page.request.get(f"{base_url}/api/v1/me/", max_redirects=0).status == 200:
            return page
    raise RuntimeError(f"{username} could not stay signed in after {SIGN_IN_ATTEMPTS} attempts")


def authorize(page: Any, web_url: str, resource: str, client_name: str, scope: str,
              before_allow: Optional[Callable[[Any], None]] = None) -> dict[str, Any]:
    """Connect a new public client as ``page``'s signed-in user; return the token response.

    Registers the client (RFC 7591), opens the authorization request with PKCE
    S256 in the browser, clicks Allow on the consent page (``before_allow`` sees
    the page first), checks ``state`` on the redirect and exchanges the code.
    """
    registered = httpx.post(f"{web_url}/oauth/mcp/register", json={
        "client_name": client_name, "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
    })
    registered.raise_for_status()
    client_id = registered.json()["client_id"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    query = urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "code_challenge": challenge, "code_challenge_method": "S256", "state": state,
        "scope": scope, "resource": resource,
    })
    redirected: list[str] = []

    def capture(route: Any) -> None:
        redirected.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="done")

    callback = re.compile(re.escape(REDIRECT_URI) + r".*")
    page.route(callback, capture)
    try:
        response = page.goto(f"{web_url}/oauth/mcp/authorize?{query}")
        allow = page.get_by_role("button", name=re.compile(r"^Allow"))
        if response is None or response.status != 200 or allow.count() == 0:
            status = response.status if response is not None else "no response"
            raise RuntimeError(f"no consent page (HTTP {status}); see the web server log")
        if before_allow is not None:
            before_allow(page)
        allow.click()
        page.wait_for_url(callback)
    finally:
        page.unroute(callback)
    params = parse_qs(urlparse(redirected[-1]).query)
    if params.get("state") != [state] or "code" not in params:
        raise RuntimeError(f"unexpected authorization response: {sorted(params)}")
    tokens = httpx.post(f"{web_url}/oauth/mcp/token", data={
        "grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": REDIRECT_URI,
        "client_id": client_id, "code_verifier": verifier, "resource": resource,
    })
    tokens.raise_for_status()
    return {**tokens.json(), "client_id": client_id}
