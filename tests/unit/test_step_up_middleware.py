"""The step-up middleware of the MCP face, on plain ASGI: what it reads, hands on and answers.

The decision itself (which tool, the user's roles) is Superset's, tested on a real
`superset mcp run` in tests/superset/test_client_matrix_sessions.py; here a stand-in
``step_up`` records what it was asked.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any, Optional

import pytest
from flask import Flask
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser

from superset_mcp_jwt.authn import Authenticator
from superset_mcp_jwt.mcp_server import (
    MAX_STEP_UP_BODY,
    MCPJWTAuthProvider,
    ScopeStepUpMiddleware,
    UserAccessToken,
)
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.tokens import TokenVerifier
from tests.documented import documented_config

OAUTH_ISSUER = "https://superset.example.com"
RESOURCE = "https://superset.example.com:5008/mcp"


class StepUp:
    def __init__(self, answer: Optional[str]) -> None:
        self.answer = answer
        self.asked: list[tuple[str, list[str], str, Any]] = []

    async def __call__(self, username: str, scopes: Any, name: str, arguments: Any) -> Optional[str]:
        self.asked.append((username, list(scopes), name, arguments))
        return self.answer


def provider(step_up: StepUp, oauth: bool = True) -> MCPJWTAuthProvider:
    keys = dict(MCP_OAUTH_ENABLED=True, MCP_OAUTH_ISSUER=OAUTH_ISSUER, MCP_OAUTH_RESOURCE=RESOURCE) if oauth else {}
    settings = Settings.from_config(documented_config(secrets.token_urlsafe(32), **keys))
    built = MCPJWTAuthProvider(Flask(__name__), Authenticator(settings, TokenVerifier(settings)), step_up=step_up)
    built.mcp_path = "/mcp"
    return built


def token(scope: str = "mcp:read", iss: str = OAUTH_ISSUER, client_id: Optional[str] = "client-1") -> UserAccessToken:
    claims = {"iss": iss, "sub": "admin", "scope": scope, "exp": 2_000_000_000}
    if client_id:
        claims["client_id"] = client_id
    return UserAccessToken(token="t", client_id="admin", subject="admin", scopes=scope.split(), expires_at=None,
                           claims=claims, username="admin")


def call(body: bytes, chunks: int = 1) -> list[dict[str, Any]]:
    size = max(1, -(-len(body) // chunks))
    parts = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
    return [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1} for i, part in enumerate(parts)]


def tools_call(name: str, arguments: Any = None) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments or {}}}).encode()


class Downstream:
    """FastMCP standing in: the body it received."""

    def __init__(self) -> None:
        self.body: Optional[bytes] = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.body = body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def run(middleware: ScopeStepUpMiddleware, user_token: Any, messages: list[dict[str, Any]],
        method: str = "POST", path: str = "/mcp") -> tuple[int, dict[str, str], bytes, int]:
    """(status, headers, body, messages the middleware took from receive before answering)."""
    pending = list(messages)
    taken = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal taken
        taken += 1
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [],
             "user": AuthenticatedUser(user_token) if user_token is not None else None}
    asyncio.run(middleware(scope, receive, send))
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:]), taken


def test_a_call_the_token_is_too_narrow_for_is_answered_403_with_held_and_needed_scope() -> None:
    step_up, app = StepUp("mcp:sql"), Downstream()
    status, headers, body, _ = run(ScopeStepUpMiddleware(app, provider(step_up)), token("mcp:read"),
                                   call(tools_call("execute_sql", {"sql": "x"}), chunks=3))
    assert status == 403 and app.body is None  # the tool never ran
    assert headers["www-authenticate"] == (
        'Bearer realm="superset-mcp", error="insufficient_scope", error_description="The access token lacks '
        'a required scope.", resource_metadata="https://superset.example.com:5008/.well-known/'
        'oauth-protected-resource/mcp", scope="mcp:read mcp:sql"'
    )
    assert headers["cache-control"] == "no-store"
    assert json.loads(body)["error"] == "insufficient_scope"
    assert step_up.asked == [("admin", ["mcp:read"], "execute_sql", {"sql": "x"})]


@pytest.mark.parametrize("chunks", [1, 4])
def test_when_no_step_up_helps_the_body_goes_on_unchanged(chunks: int) -> None:
    step_up, app = StepUp(None), Downstream()
    body = tools_call("call_tool", {"name": "execute_sql", "arguments": {"sql": "é"}})
    status, _, answer, _ = run(ScopeStepUpMiddleware(app, provider(step_up)), token("mcp:read"), call(body, chunks))
    assert (status, answer, app.body) == (200, b"ok", body)
    assert step_up.asked[0][2:] == ("call_tool", {"name": "execute_sql", "arguments": {"sql": "é"}})


def test_a_body_over_the_bound_goes_on_unread() -> None:
    step_up, app = StepUp("mcp:sql"), Downstream()
    body = tools_call("execute_sql", {"sql": "x" * (MAX_STEP_UP_BODY + 10)})
    status, _, _, _ = run(ScopeStepUpMiddleware(app, provider(step_up)), token("mcp:read"), call(body, chunks=8))
    assert status == 200 and app.body == body and step_up.asked == []


@pytest.mark.parametrize(("user_token", "method", "path", "oauth"), [
    (token("mcp:all"), "POST", "/mcp", True),  # nothing to widen
    (token(""), "POST", "/mcp", True),  # no narrowing scope: the user's full rights
    (token("mcp:read", iss="superset-mcp", client_id=None), "POST", "/mcp", True),  # a pasted token
    (token("mcp:read", client_id=None), "POST", "/mcp", True),  # not issued to a client
    (token("mcp:read"), "GET", "/mcp", True),
    (token("mcp:read"), "POST", "/.well-known/oauth-protected-resource/mcp", True),
    (None, "POST", "/mcp", True),
    (token("mcp:read"), "POST", "/mcp", False),  # OAuth off: nothing to step up with
], ids=["mcp-all", "no-scope", "pasted", "no-client", "get", "other-path", "anonymous", "oauth-off"])
def test_everything_else_goes_through_without_the_body_being_read(
    user_token: Any, method: str, path: str, oauth: bool
) -> None:
    step_up, app = StepUp("mcp:sql"), Downstream()
    middleware = ScopeStepUpMiddleware(app, provider(step_up, oauth=oauth))
    status, _, _, _ = run(middleware, user_token, call(tools_call("execute_sql")), method, path)
    assert status == 200 and step_up.asked == [] and app.body == tools_call("execute_sql")


def test_other_messages_and_bad_json_are_not_stepped_up() -> None:
    step_up, app = StepUp("mcp:sql"), Downstream()
    middleware = ScopeStepUpMiddleware(app, provider(step_up))
    for body in [b"{not json", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode(),
                 json.dumps({"method": "tools/call", "params": {"name": 7}}).encode(), b"[1, 2]"]:
        assert run(middleware, token("mcp:read"), call(body))[0] == 200
    assert step_up.asked == []
    batch = json.dumps([json.loads(tools_call("get_instance_info")), json.loads(tools_call("execute_sql"))]).encode()
    assert run(middleware, token("mcp:read"), call(batch))[0] == 403
    assert [asked[2] for asked in step_up.asked] == ["get_instance_info"]  # the stand-in answers the first


def test_the_provider_adds_the_middleware_only_with_oauth_on() -> None:
    kinds = [m.cls for m in provider(StepUp(None)).get_middleware()]
    assert kinds[-1] is ScopeStepUpMiddleware
    assert ScopeStepUpMiddleware not in [m.cls for m in provider(StepUp(None), oauth=False).get_middleware()]
