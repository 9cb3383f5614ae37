"""An MCP client and its signed-in user over plain HTTP, for tests below the MCP SDKs.

The client registers (public, PKCE), the user signs in with Superset's login
form and answers the consent form, and the client exchanges, refreshes and
revokes, every request on a fresh connection (so it may land on any worker),
each form field exactly as a client sends it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import threading
import uuid
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from demo.sandbox import PASSWORD

REDIRECT_URI = "http://127.0.0.1:9/callback"  # never followed: the tests read the Location header


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, page[:300]
    return match.group(1)


class OAuthHTTPUser:
    """A registered public client and its signed-in user, talking to one web app (``web_url``)."""

    def __init__(self, web_url: str, issuer: str, resource: str, username: str = "alice",
                 client_name: str = "HTTP test client", registration: Optional[dict[str, Any]] = None,
                 metadata_document: Optional[tuple[str, str]] = None) -> None:
        """``registration``: the RFC 7591 body the client sends (by default a public one on
        :data:`REDIRECT_URI`); its answer is ``self.registration``, its first redirect URI the one used.
        ``metadata_document``: (``client_id`` URL, redirect URI) of a client that does not register."""
        self.web_url, self.issuer, self.resource = web_url, issuer, resource
        self.probe = uuid.uuid4().hex
        self.browser = httpx.Client(base_url=web_url, headers={"X-Probe": self.probe}, timeout=60,
                                    limits=httpx.Limits(max_keepalive_connections=0))
        login = self.browser.get("/login/")
        signed_in = self.browser.post("/login/", data={
            "csrf_token": csrf(login.text), "username": username, "password": PASSWORD,
        })
        assert signed_in.status_code == 302 and "/login" not in signed_in.headers["location"]
        self.registration: dict[str, Any] = {}
        if metadata_document is not None:
            self.client_id, self.redirect_uri = metadata_document
        else:
            body = registration or {
                "client_name": client_name, "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none",
            }
            registered = httpx.post(f"{web_url}/oauth/mcp/register", timeout=60, json=body)
            assert registered.status_code == 201, registered.text
            self.registration = registered.json()
            self.client_id = self.registration["client_id"]
            self.redirect_uri = body["redirect_uris"][0]
        self.consent_page = ""

    def code(self, scope: Optional[str] = "mcp:all") -> tuple[str, str]:
        """Through the consent page (Allow): (authorization code, PKCE verifier)."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        params = {
            "response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
            "state": state, "code_challenge": challenge, "code_challenge_method": "S256",
            "scope": scope, "resource": self.resource,
        }
        consent = self.browser.get(f"/oauth/mcp/authorize?{urlencode({k: v for k, v in params.items() if v is not None})}")
        assert consent.status_code == 200, consent.text[:300]
        self.consent_page = consent.text
        form = {name: html.unescape(value) for name, value in
                re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', consent.text)}
        answer = self.browser.post("/oauth/mcp/authorize", data={**form, "decision": "allow"})
        assert answer.status_code == 302, answer.text[:300]
        back = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
        assert back.get("state") == state and back.get("iss") == self.issuer, back
        return back["code"], verifier

    def exchange(self, code: str, verifier: str, web_url: Optional[str] = None) -> httpx.Response:
        return self.token(web_url, grant_type="authorization_code", code=code, redirect_uri=self.redirect_uri,
                          code_verifier=verifier)

    def refresh(self, refresh_token: str, web_url: Optional[str] = None, **form: str) -> httpx.Response:
        return self.token(web_url, grant_type="refresh_token", refresh_token=refresh_token, **form)

    def tokens(self, scope: Optional[str] = "mcp:all") -> dict[str, Any]:
        exchanged = self.exchange(*self.code(scope))
        assert exchanged.status_code == 200, exchanged.text
        return exchanged.json()

    def revoke(self, token: str, web_url: Optional[str] = None) -> httpx.Response:
        return httpx.post(f"{web_url or self.web_url}/oauth/mcp/revoke", timeout=60,
                          headers={"X-Probe": self.probe},
                          data={"token": token, "client_id": self.client_id})

    def token(self, web_url: Optional[str] = None, transport: Optional[httpx.BaseTransport] = None,
              **form: str) -> httpx.Response:
        """A token request with ``form`` (``client_id`` and ``resource`` added) on a fresh connection."""
        with httpx.Client(transport=transport, timeout=60) as client:
            return client.post(f"{web_url or self.web_url}/oauth/mcp/token", headers={"X-Probe": self.probe},
                               data={"client_id": self.client_id, "resource": self.resource, **form})

    def close(self) -> None:
        self.browser.close()


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together by a barrier; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # reported as the outcome
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results
