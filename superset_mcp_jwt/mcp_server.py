"""The MCP-server face: a FastMCP auth provider over the same core as the Flask guard."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Optional, Sequence

import anyio
from fastmcp.server.auth import AccessToken, TokenVerifier
from fastmcp.server.dependencies import get_access_token
from fastmcp.server.middleware import Middleware as MCPMiddleware
from flask import Flask
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .authn import Authenticator
from .errors import Reason, TokenError
from .identity import Identity
from .oauth.resource import WELL_KNOWN, metadata_path, protected_resource_metadata
from .tokens import allowed_methods, scopes_for_superset, thaw, token_scopes

#: ``await step_up(username, token scopes, tool name, arguments)``: the scope that would let the
#: user call the tool, or None when a wider token would not help (see ``superset_compat.step_up``).
StepUp = Callable[[str, Sequence[str], str, Any], Awaitable[Optional[str]]]
#: The most of a ``tools/call`` body read to decide a step-up; a longer body goes on unread.
MAX_STEP_UP_BODY = 1024 * 1024


class UserAccessToken(AccessToken):
    """A token verified by superset-mcp-jwt, with the Superset user it maps to."""

    username: str


def verified_token() -> Optional[UserAccessToken]:
    """The current MCP request's token, if superset-mcp-jwt verified it."""
    token = get_access_token()
    return token if isinstance(token, UserAccessToken) else None


class MCPJWTAuthProvider(TokenVerifier):
    """FastMCP token verifier for ``superset mcp run``.

    Checks ``Authorization`` headers with the app's :class:`Authenticator`, in
    an app context of its own, off the event loop (the user lookup hits the
    metadata database), and answers rejections per RFC 6750 before any MCP
    handling.
    """

    def __init__(self, app: Flask, authenticator: Authenticator, step_up: Optional[StepUp] = None) -> None:
        settings = authenticator.settings
        super().__init__(required_scopes=list(settings.required_scopes))
        self._app = app
        #: Step-up authorization, with OAuth on (there is an authorization server to step up with).
        self._step_up = step_up if settings.oauth is not None else None
        self._authenticator = authenticator
        self._settings = settings
        self._leeway = settings.leeway
        #: Where FastMCP mounts the MCP endpoint (told through :meth:`get_routes`).
        self.mcp_path: Optional[str] = None

    async def authenticate(
        self, authorization: Sequence[str], client: Optional[str] = None
    ) -> UserAccessToken:
        """Verify header values and resolve the user; raise :class:`TokenError`.

        A repeated token whose user is cached is answered on the event loop;
        anything needing the database runs in a worker thread with an app context.
        """
        identity = self._authenticator.authenticate_from_cache(authorization, client)
        if identity is None:
            identity = await anyio.to_thread.run_sync(self._authenticate, list(authorization), client)
        return self._access_token(authorization, identity)

    def _authenticate(self, authorization: list[str], client: Optional[str]) -> Identity:
        with self._app.app_context():
            # The HTTP layer needs only the user name: each tool call loads the
            # user (roles, groups, active) afresh through the identity bridge.
            return self._authenticator.authenticate(
                authorization, self._app.appbuilder.sm, client=client, need_user=False
            )

    def _access_token(self, authorization: Sequence[str], identity: Identity) -> UserAccessToken:
        claims = thaw(identity.claims)
        return UserAccessToken(
            token=authorization[0].split()[-1],
            client_id=claims["sub"],
            subject=claims["sub"],
            scopes=scopes_for_superset(token_scopes(claims)),
            expires_at=int(claims["exp"] + self._leeway),
            claims=claims,
            username=identity.username,
        )

    async def verify_token(self, token: str) -> Optional[AccessToken]:
        """FastMCP's verifier interface: the access token, or None if rejected."""
        try:
            return await self.authenticate([f"Bearer {token}"])
        except TokenError:
            return None

    def get_routes(self, mcp_path: Optional[str] = None) -> list[BaseRoute]:
        """With OAuth on, the RFC 9728 metadata: under the public resource's path and the root form."""
        self.mcp_path = mcp_path
        if self._settings.oauth is None:
            return []
        document = protected_resource_metadata(self._settings)

        async def metadata(request: Request) -> Response:
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=_CORS)
            return JSONResponse(document, headers={**_CORS, "Cache-Control": "max-age=300"})

        paths = {metadata_path(self._settings.oauth.resource), WELL_KNOWN}
        if mcp_path:
            paths.add(WELL_KNOWN + "/" + mcp_path.strip("/"))
        return [Route(path, metadata, methods=["GET", "OPTIONS"]) for path in sorted(paths)]

    def get_middleware(self) -> list[Any]:
        middleware = [
            Middleware(
                AuthenticationMiddleware,  # type: ignore[arg-type]
                backend=_BearerBackend(self),
                on_error=self._rejection_response,
            ),
            Middleware(AuthContextMiddleware),  # type: ignore[arg-type]
        ]
        if self._step_up is not None:
            middleware.append(Middleware(ScopeStepUpMiddleware, provider=self))  # type: ignore[arg-type]
        return middleware

    def step_up_challenge(self, held: Sequence[str], needed: str) -> tuple[dict[str, Any], dict[str, str]]:
        """The 403 ``insufficient_scope`` answer (body, headers): ask for what is held and what is needed."""
        error = TokenError(Reason.INSUFFICIENT_SCOPE)
        scope = " ".join(dict.fromkeys([*held, needed]))
        challenge = {**self._authenticator.challenge, "scope": scope}
        return error.body(), error.headers(**challenge)

    def steppable(self, token: Any) -> Optional[list[str]]:
        """The scopes of ``token`` if a step-up could widen them: one of our OAuth tokens, narrowed."""
        oauth = self._settings.oauth
        if (
            self._step_up is None
            or oauth is None
            or not isinstance(token, UserAccessToken)
            or token.claims.get("iss") != oauth.issuer
            or not token.claims.get("client_id")
        ):
            return None
        scopes = token_scopes(token.claims)
        methods = allowed_methods(scopes)
        if methods is None or "*" in methods:
            return None
        return [s for s in scopes if s in oauth.scopes_supported]

    def _rejection_response(self, conn: HTTPConnection, exc: AuthenticationError) -> Response:
        error = exc.error if isinstance(exc, _Rejected) else None
        if error is None:  # raised by something other than our backend
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(
            error.body(),
            status_code=error.status,
            headers=error.headers(**self._authenticator.challenge),
        )


#: Metadata is public and read by browser-based clients (RFC 9728 §3).
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Allow-Headers": "*",
}


class _Rejected(AuthenticationError):
    def __init__(self, error: TokenError) -> None:
        super().__init__(error.reason.code)
        self.error = error


class _BearerBackend(AuthenticationBackend):
    """Reads every ``Authorization`` header (not just the first) and verifies it."""

    def __init__(self, provider: MCPJWTAuthProvider) -> None:
        self._provider = provider

    async def authenticate(self, conn: HTTPConnection) -> Any:
        values = [v.decode("latin-1") for k, v in conn.scope["headers"] if k == b"authorization"]
        if not values and (
            conn.scope["method"] == "OPTIONS"
            or conn.scope["path"].rstrip("/") != (self._provider.mcp_path or "").rstrip("/")
        ):
            return None  # a CORS preflight, or a public route (the RFC 9728 metadata)
        try:
            token = await self._provider.authenticate(values, conn.headers.get("user-agent"))
        except TokenError as error:
            raise _Rejected(error) from None
        # FastMCP checks MCP_REQUIRED_SCOPES against the token's own scopes;
        # token.scopes are what Superset's scope check is shown.
        return AuthCredentials(token_scopes(token.claims)), AuthenticatedUser(token)


class ToolVisibilityMiddleware(MCPMiddleware):
    """Lists only the tools the caller may call (``tools/list`` and the search tool's catalog).

    ``visible(username, tools)`` decides, in a worker thread (it reads the
    metadata database); calls are still checked when made.
    """

    def __init__(self, visible: Callable[[Optional[str], list[Any]], list[Any]]) -> None:
        self._visible = visible

    async def on_list_tools(self, context: Any, call_next: Any) -> Sequence[Any]:
        tools = list(await call_next(context))
        token = verified_token()
        username = token.username if token is not None else None
        return await anyio.to_thread.run_sync(self._visible, username, tools)


class ScopeStepUpMiddleware:
    """Answers ``403 insufficient_scope`` to a ``tools/call`` that a wider token would allow.

    Before FastMCP sees the request: for our own OAuth tokens whose scopes
    narrow the user's rights, the JSON-RPC body is read (at most
    :data:`MAX_STEP_UP_BODY` bytes) and handed on unchanged; when it calls a
    tool whose scope the token lacks but the user's roles allow, the client
    is told which scope to ask for (RFC 6750 §3.1, MCP "step-up
    authorization"). Everything else goes through untouched.
    """

    def __init__(self, app: ASGIApp, provider: MCPJWTAuthProvider) -> None:
        self.app = app
        self._provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider = self._provider
        user = scope.get("user") if scope["type"] == "http" else None
        held = (
            provider.steppable(getattr(user, "access_token", None))
            if scope.get("method") == "POST"
            and scope.get("path", "").rstrip("/") == (provider.mcp_path or "").rstrip("/")
            else None
        )
        if held is None:
            await self.app(scope, receive, send)
            return
        messages, body, complete = await _read_body(receive)
        replay = _replaying(messages, receive)
        needed = await self._needed_scope(user.access_token, body) if complete else None
        if needed is None:
            await self.app(scope, replay, send)
            return
        payload, headers = provider.step_up_challenge(held, needed)
        response = JSONResponse(payload, status_code=403, headers=headers)
        await response(scope, replay, send)

    async def _needed_scope(self, token: UserAccessToken, body: bytes) -> Optional[str]:
        try:
            message = json.loads(body)
        except ValueError:
            return None
        calls = message if isinstance(message, list) else [message]
        for call in calls[:16]:
            params = call.get("params") if isinstance(call, dict) and call.get("method") == "tools/call" else None
            if not isinstance(params, dict) or not isinstance(params.get("name"), str):
                continue
            needed = await self._provider._step_up(  # type: ignore[misc]
                token.username, token_scopes(token.claims), params["name"], params.get("arguments")
            )
            if needed is not None:
                return needed
        return None


async def _read_body(receive: Receive) -> tuple[list[Message], bytes, bool]:
    """The request's first messages, up to :data:`MAX_STEP_UP_BODY` bytes: (messages, body, whole body read)."""
    messages: list[Message] = []
    body = b""
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, body, False
        body += message.get("body", b"")
        if len(body) > MAX_STEP_UP_BODY:
            return messages, body, False
        if not message.get("more_body", False):
            return messages, body, True


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out ``messages`` first, then the request's own."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
