"""A real MCP client that knows only the MCP URL, and a headless browser playing its user.

The client is the official MCP Python SDK's ``OAuthClientProvider``: on the
server's 401 it discovers the protected resource and authorization server
metadata, registers itself (RFC 7591), sends the user's browser to the
authorization endpoint with PKCE, takes the code at a real loopback listener
(RFC 8252) and exchanges it. The "user" is Debian's Chromium driven by
Playwright through Superset's own login page and the consent page.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from demo.browser import CHROMIUM, CHROMIUM_ARGS, SIGN_IN_ATTEMPTS



class LoopbackCallback:
    """An HTTP listener on 127.0.0.1, where the authorization server redirects back (once per sign-in)."""

    def __init__(self) -> None:
        self._server: Optional[asyncio.base_events.Server] = None
        self._results: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.redirect_uri = ""

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.redirect_uri = f"http://127.0.0.1:{port}/callback"
        return self.redirect_uri

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode("latin-1")
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # headers
        target = request_line.split(" ")[1] if " " in request_line else "/"
        query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        body = b"Signed in. You can close this window."
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()
        if urlsplit(target).path == "/callback":
            self._results.put_nowait(query)

    async def wait(self, timeout: float = 180) -> dict[str, str]:
        """The next redirect's query parameters (``code``, ``state``, ``iss`` — or ``error``)."""
        return await asyncio.wait_for(self._results.get(), timeout)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


@dataclass
class BrowserUser:
    """Signs in through Superset's login page if asked to, then answers the consent page."""

    browser: Any  # a playwright.async_api.Browser
    username: str
    password: str
    decision: str = "Allow"
    timeout_ms: int = 90_000  # a loaded 2-core machine renders Superset's SPA slowly
    seen: list[str] = field(default_factory=list)  # the pages passed through, for the demo's output
    #: Sees each consent page before the decision (a test reads what it shows).
    on_consent: Optional[Callable[[Any], Awaitable[None]]] = None
    #: Redirect URIs of hosted clients (``https://claude.ai/api/mcp/auth_callback``): the browser's
    #: visit there is answered here, never sent on, and its URL kept in ``callbacks``.
    hosted_callbacks: tuple[str, ...] = ()
    callbacks: list[str] = field(default_factory=list)

    async def _hosted_callback(self, route: Any) -> None:
        self.callbacks.append(route.request.url)
        await route.fulfill(status=200, content_type="text/plain", body="Connected.")

    async def authorize(self, authorization_url: str, redirect_uri: str) -> None:
        context = await self.browser.new_context()
        # Superset's login page sends its event log (a beacon to /superset/log/) as the form goes,
        # still without the session; on a loaded machine its answer can arrive after the login's and
        # replace the new session cookie, and Superset's client then sends the consent page to
        # /login?next=<the URL, not encoded>, losing the request's parameters. The beacon is
        # answered here, in the browser: it is telemetry, not part of the sign-in.
        await context.route(re.compile(r".*/superset/log/.*"), self._event_log)
        for callback in self.hosted_callbacks:
            await context.route(re.compile(re.escape(callback) + r"(\?.*)?$"), self._hosted_callback)
        page = await context.new_page()
        page.set_default_timeout(self.timeout_ms)
        visited: list[str] = []  # the main frame's navigations, for a failure's message
        page.on("framenavigated", lambda frame: visited.append(frame.url) if frame == page.main_frame else None)
        base_url = f"{urlsplit(authorization_url).scheme}://{urlsplit(authorization_url).netloc}"
        try:
            for _ in range(SIGN_IN_ATTEMPTS):
                await page.goto(authorization_url)  # each attempt starts from the client's request
                if "/login/" in page.url and not await self._sign_in(page):
                    continue
                if (await context.request.get(f"{base_url}/api/v1/me/", max_redirects=0)).status != 200:
                    continue  # the session was lost on the way: sign in again
                button = page.get_by_role("button", name=re.compile(f"^{self.decision}"))
                await button.wait_for()
                # Click once Superset's scripts have run (its React app draws the navbar
                # last), as a person would: a click racing the page's start-up can be lost.
                await page.wait_for_load_state("networkidle")
                await page.get_by_text("Settings").first.wait_for()
                if "consent page" not in self.seen:
                    self.seen.append("consent page")
                if self.on_consent is not None:
                    await self.on_consent(page)
                await button.click()
                await page.wait_for_url(lambda url: url.startswith(redirect_uri) or "/login/" in url)
                if page.url.startswith(redirect_uri):
                    return
            raise RuntimeError(f"{self.username} could not stay signed in after {SIGN_IN_ATTEMPTS} attempts")
        except Exception as exc:
            raise RuntimeError(f"the browser went through {visited}, and is at {page.url}") from exc
        finally:
            await context.close()

    async def _sign_in(self, page: Any) -> bool:
        """Fill Superset's login form; False when it did not go."""
        if "Superset login page" not in self.seen:
            self.seen.append("Superset login page")
        await page.wait_for_load_state("networkidle")  # the form drawn for good
        await page.locator("#username").fill(self.username)
        await page.locator("#password").fill(self.password)
        try:
            async with page.expect_navigation(timeout=30_000):
                await page.get_by_role("button", name="Sign in").click()
        except PlaywrightTimeoutError:
            return False
        await page.wait_for_load_state("networkidle")
        return "/login/" not in page.url

    @staticmethod
    async def _event_log(route: Any) -> None:
        await route.fulfill(status=200, content_type="application/json", body="{}")


class MemoryTokenStorage:
    """The SDK's token storage, kept in memory (a desktop client would keep it on disk)."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client_info: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


async def oauth_call_tool(
    mcp_url: str, user: BrowserUser, tool: str, arguments: dict[str, Any],
    storage: Optional[MemoryTokenStorage] = None, client_name: str = "superset-mcp-jwt demo client",
) -> tuple[bool, str, MemoryTokenStorage]:
    """Connect with OAuth (signing ``user`` in when needed), call one tool: (is_error, text, storage)."""
    from mcp import ClientSession
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamablehttp_client
    from mcp.shared.auth import OAuthClientMetadata

    storage = storage or MemoryTokenStorage()
    callback = LoopbackCallback()
    redirect_uri = await callback.start()  # a new port each run: RFC 8252 §7.3 allows that

    async def redirect_handler(url: str) -> None:
        await user.authorize(url, redirect_uri)

    async def callback_handler() -> tuple[str, Optional[str]]:
        query = await callback.wait()
        if "code" not in query:
            # The whole redirect, for a caller checking ``state`` and ``iss`` on errors too.
            raise PermissionError(f"authorization refused: {query.get('error')}", query)
        return query["code"], query.get("state")

    provider = OAuthClientProvider(
        mcp_url,
        OAuthClientMetadata(
            client_name=client_name,
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    try:
        async with streamablehttp_client(mcp_url, auth=provider) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                result = await session.call_tool(tool, arguments)
    finally:
        callback.close()
    text = "".join(getattr(part, "text", "") for part in result.content)
    return bool(result.isError), text, storage


async def sign_in_and_call(
    mcp_url: str, username: str, password: str, tool: str, arguments: dict[str, Any],
    decision: str = "Allow", storage: Optional[MemoryTokenStorage] = None,
) -> tuple[bool, str, MemoryTokenStorage, list[str]]:
    """:func:`oauth_call_tool` with a fresh headless Chromium as the user; also the pages it passed."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            user = BrowserUser(browser, username, password, decision)
            is_error, text, storage = await oauth_call_tool(mcp_url, user, tool, arguments, storage)
        finally:
            await browser.close()
    return is_error, text, storage, user.seen
