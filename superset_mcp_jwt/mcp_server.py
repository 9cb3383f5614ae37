"""The MCP-server face: a FastMCP auth provider over the same core as the Flask guard."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

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

from .authn import Authenticator
from .errors import TokenError
from .identity import Identity
from .oauth.resource import WELL_KNOWN, metadata_path, protected_resource_metadata
from .tokens import scopes_for_superset, thaw, token_scopes


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

    def __init__(self, app: Flask, authenticator: Authenticator) -> None:
        settings = authenticator.settings
        super().__init__(required_scopes=list(settings.required_scopes))
        self._app = app
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
        return [
            Middleware(
                AuthenticationMiddleware,  # type: ignore[arg-type]
                backend=_BearerBackend(self),
                on_error=self._rejection_response,
            ),
            Middleware(AuthContextMiddleware),  # type: ignore[arg-type]
        ]

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
