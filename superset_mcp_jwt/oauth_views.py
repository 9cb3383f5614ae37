"""The Flask face of the authorization server: its endpoints, metadata and the consent page.

Thin: the protocol is Authlib's (grants in :mod:`.oauth.grants`), the state is
:class:`OAuthService`'s. This module turns Flask requests into those calls,
sends visitors through the app's own login page, renders the consent page in
Superset's look, and adds the HTTP details: CORS on the machine endpoints,
their CSRF exemption, ``no-store``, no framing of the consent page, and the
per-address rate limits (``429`` with ``Retry-After``).
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any, Callable, Optional, Protocol

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request
from flask import Blueprint, Flask, Response, current_app, redirect, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms.validators import ValidationError

from . import superset_compat
from .errors import RETRY_AFTER_SECONDS
from .pages import render_page
from .oauth.config import RATE_LIMIT_KEYS
from .oauth.grants import MCPAuthorizationServerMixin, OAuthClient
from .oauth.metadata import (
    AUTHORIZE_PATH,
    JWKS_PATH,
    REGISTER_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    authorization_server_metadata,
    metadata_paths,
)
from .oauth.rate_limits import LimiterUnavailable, RateLimits
from .oauth.service import OAuthService
from .oauth.store import StoreUnavailable, TablesMissing
from .settings import Settings

logger = logging.getLogger("superset_mcp_jwt")

#: Bodies the machine endpoints read at most (registration metadata, token and revocation forms).
MAX_BODY_BYTES = 16 * 1024

#: What each scope lets the client do, in the user's words (``tokens.SCOPE_METHODS``).
SCOPE_DESCRIPTIONS = {
    "mcp:read": "Read: list and view your charts, dashboards, datasets and their data",
    "mcp:write": "Write: read, and create or change charts and dashboards",
    "mcp:sql": "SQL: read, and run SQL queries on the databases you may query",
    "mcp:all": "Everything your Superset account may do through Superset's MCP tools",
}

_ERROR_PAGE_TEXT = {
    "invalid_client": "The application that sent you here is not registered with this Superset.",
    "invalid_request": "The sign-in request is incomplete, or its return address is not one the "
                       "application registered.",
}

_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, MCP-Protocol-Version",
    "Access-Control-Expose-Headers": "WWW-Authenticate, Retry-After",
    "Access-Control-Max-Age": "86400",
}
_NO_FRAMING = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_UNAVAILABLE = {"error": "temporarily_unavailable",
                "error_description": "The authorization server is not available right now."}


class ClientRegistration(Protocol):
    """What the face needs of ``oauth.clients.ClientRegistry``."""

    def register(self, metadata: Any) -> dict[str, Any]: ...

    def get(self, client_id: str) -> Any: ...

    def by_registration_token(self, token: str) -> Any: ...

    def information(self, client: Any) -> dict[str, Any]: ...

    def registration_client_uri(self, client_id: str) -> str: ...


class _Payload(FlaskOAuth2Payload):
    """GET parameters from the query, POST parameters from the body only (no secrets in URLs)."""

    @property
    def data(self) -> Any:
        return self._request.form if self._request.method == "POST" else self._request.args


class _Request(FlaskOAuth2Request):
    """Flask's request for Authlib, with the public issuer URL (TLS may end at a proxy)."""

    def __init__(self, flask_request: Any, issuer: str) -> None:
        OAuth2Request.__init__(self, flask_request.method, issuer + flask_request.full_path,
                               headers=flask_request.headers)
        self._request = flask_request
        self.payload = _Payload(flask_request)


class FlaskMCPAuthorizationServer(MCPAuthorizationServerMixin, AuthorizationServer):
    """Authlib's Flask server with the MCP grants; users are the app's FAB users."""

    def __init__(self, service: OAuthService, clients: ClientRegistration) -> None:
        super().__init__()
        self.setup_mcp(service, clients)

    def create_oauth2_request(self, framework_request: Any) -> OAuth2Request:
        return _Request(request, self.service.settings.issuer)

    def user_is_active(self, username: str) -> bool:
        user = current_app.appbuilder.sm.find_user(username=username)
        return bool(user is not None and user.is_active)


class _WarnOnce:
    def __init__(self) -> None:
        self.done = False

    def __call__(self, error: StoreUnavailable) -> None:
        if isinstance(error, TablesMissing) and not self.done:
            self.done = True
            logger.warning("superset-mcp-jwt: %s (OAuth requests answer 503 until then)", error)
        elif not isinstance(error, TablesMissing):
            logger.error("superset-mcp-jwt: the OAuth store is unavailable (%s)", error)


def install(
    app: Flask,
    settings: Settings,
    service: OAuthService,
    clients: ClientRegistration,
    limits: RateLimits,
    client_address: Callable[[], str],
) -> None:
    """Add the authorization server's routes to ``app`` (called by ``MCPJWTManager.init_app``).

    ``limits`` counts requests per address (``MCP_OAUTH_RATE_LIMIT_*``);
    ``client_address()`` is the address of the request being served, as the
    app sees it (``superset_compat.client_address``).
    """
    oauth = settings.oauth
    assert oauth is not None
    server = FlaskMCPAuthorizationServer(service, clients)
    warn = _WarnOnce()
    blueprint = Blueprint("superset_mcp_jwt_oauth", __name__)

    def unavailable(error: StoreUnavailable) -> Response:
        warn(error)
        return _json(_UNAVAILABLE, 503, _NO_STORE)

    def limited(group: str) -> Optional[int]:
        """Count this request against ``group``'s limit: None, or the seconds to wait (then 429)."""
        address = client_address()
        try:
            retry_after = limits.hit(group, address)
        except LimiterUnavailable as error:
            logger.error("superset-mcp-jwt: the rate-limit storage is unavailable (%s)", error)
            raise
        if retry_after is not None:
            service.recorder.rate_limited(group)
            logger.info("MCP OAuth: rate limit reached: %s requests from %s (%s)",
                        group, address, RATE_LIMIT_KEYS[group])
        return retry_after

    def machine(view: Callable[..., Response], group: str) -> Callable[..., Response]:
        """CORS, preflight, body bound, rate limit and 503-on-store-failure for a machine endpoint."""

        def endpoint(**path: str) -> Response:
            if request.method == "OPTIONS":
                response = Response(status=204)
            elif (request.content_length or 0) > MAX_BODY_BYTES:
                response = _json({"error": "invalid_request", "error_description": "The request is too large."}, 413)
            else:
                try:
                    retry_after = limited(group) if group else None
                    response = view(**path) if retry_after is None else _too_many(retry_after)
                except StoreUnavailable as error:
                    response = unavailable(error)
                except LimiterUnavailable:
                    response = _json(_UNAVAILABLE, 503, {**_NO_STORE, "Retry-After": str(RETRY_AFTER_SECONDS)})
            response.headers.update(_CORS_HEADERS)
            return response

        endpoint.__name__ = view.__name__
        return endpoint

    def metadata() -> Response:
        return _json(authorization_server_metadata(oauth), 200, {"Cache-Control": "public, max-age=3600"})

    def token() -> Response:
        response = server.create_token_response()
        response.headers.update(_NO_STORE)
        return response

    def revoke() -> Response:
        response = server.create_endpoint_response("revocation")
        response.headers.update(_NO_STORE)
        return response

    def register() -> Response:
        from .oauth.clients import RegistrationError

        try:
            metadata = json.loads(request.get_data(cache=False))
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            return _json({"error": "invalid_client_metadata",
                          "error_description": "The body must be a JSON object."}, 400, _NO_STORE)
        try:
            body = clients.register(metadata)
        except RegistrationError as error:
            return _json(error.body(), error.status, _NO_STORE)
        return _json(body, 201, _NO_STORE)

    def configuration(client_id: str) -> Response:
        """RFC 7592 (``oauth.configuration``): GET reads, DELETE removes, PUT is refused."""
        response = server.create_endpoint_response("client_configuration")
        response.headers.update(_NO_STORE)
        return response

    def jwks() -> Response:
        return _json(service.issuer.jwks(), 200, {"Cache-Control": "public, max-age=300"})

    for number, path in enumerate(metadata_paths(oauth)):
        blueprint.add_url_rule(path, f"metadata_{number}", machine(metadata, ""), methods=["GET", "OPTIONS"])
    machine_views = [machine(token, "token"), machine(revoke, "revocation")]
    blueprint.add_url_rule(TOKEN_PATH, "token", machine_views[0], methods=["POST", "OPTIONS"])
    blueprint.add_url_rule(REVOKE_PATH, "revoke", machine_views[1], methods=["POST", "OPTIONS"])
    if oauth.dynamic_registration:
        machine_views += [machine(register, "registration"), machine(configuration, "registration")]
        blueprint.add_url_rule(REGISTER_PATH, "register", machine_views[-2], methods=["POST", "OPTIONS"])
        blueprint.add_url_rule(REGISTER_PATH + "/<client_id>", "configuration", machine_views[-1],
                               methods=["GET", "PUT", "DELETE", "OPTIONS"])
    if oauth.asymmetric:
        blueprint.add_url_rule(JWKS_PATH, "jwks", machine(jwks, ""), methods=["GET", "OPTIONS"])

    def authorize() -> Any:
        try:
            answer, group = (_decide, "consent") if request.method == "POST" else (_ask, "authorization")
            retry_after = limited(group)
            response = answer(server) if retry_after is None else _page(
                429, error="Too many sign-in requests from your network. Wait a minute and try again.",
                retry_after=retry_after,
            )
        except StoreUnavailable as error:
            warn(error)
            response = _page(503, error="The sign-in service is not available right now. Try again later.")
        except LimiterUnavailable:
            response = _page(503, error="The sign-in service is not available right now. Try again later.")
        response.headers.update(_NO_FRAMING)
        response.headers.update(_NO_STORE)
        return response

    blueprint.add_url_rule(AUTHORIZE_PATH, "authorize", authorize, methods=["GET", "POST"])
    superset_compat.forbid_framing(app, authorize)
    app.register_blueprint(blueprint)
    superset_compat.csrf_exempt(app, *machine_views)
    logger.info("superset-mcp-jwt: OAuth authorization server at %s for %s", oauth.issuer, oauth.resource)


def _ask(server: FlaskMCPAuthorizationServer) -> Response:
    """GET /authorize: validate, send a visitor to the login page, else show the consent page."""
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return _error(server, error)
    if not current_user.is_authenticated:
        return redirect(superset_compat.login_url(current_app, request.script_root + request.full_path))
    return _consent_page(server, grant.client, grant.request.scope, request.args.to_dict())


def _decide(server: FlaskMCPAuthorizationServer) -> Response:
    """POST /authorize: the consent form. CSRF-checked; every parameter validated again."""
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        logger.warning("MCP OAuth: consent form refused: missing or invalid CSRF token")
        return _page(400, error="This form has expired or did not come from this site. Start again from your app.")
    if not current_user.is_authenticated:
        return _page(401, error="You are not signed in. Start again from your app.")
    if request.args:
        return _page(400, error="The consent form must not carry URL parameters.")
    username = current_user.username
    try:
        grant = server.get_consent_grant(end_user=username)
    except OAuth2Error as error:
        return _error(server, error)
    allowed = request.form.get("decision") == "allow"
    logger.info(
        "MCP OAuth: consent %s: user=%s client=%s scope=%s",
        "given" if allowed else "denied", username, grant.client.client_id[:100], grant.request.scope,
    )
    return server.create_authorization_response(grant_user=username if allowed else None, grant=grant)


def _error(server: FlaskMCPAuthorizationServer, error: OAuth2Error) -> Response:
    """Back to the client when its redirect URI was validated; otherwise an error page, never a redirect."""
    response = server.error_redirect_or_none(None, error)
    if response is not None:
        return response
    logger.warning("MCP OAuth: authorization request refused: %s (%s)", error.error, error.description)
    # Fixed words per error: the request's own values (an attacker's URL) are never echoed.
    return _page(400, error=_ERROR_PAGE_TEXT.get(error.error, "This sign-in request is not valid."))


def _consent_page(
    server: FlaskMCPAuthorizationServer, client: OAuthClient, scope: str, params: dict[str, str]
) -> Response:
    redirect_host = urllib.parse.urlsplit(params.get("redirect_uri", "")).netloc
    client_host = urllib.parse.urlsplit(client.client_id).hostname if client.client_id.startswith("https://") else None
    # A step-up (or any new sign-in of a connected client) asks again: say what it adds.
    granted = sorted({
        name for connection in server.service.connections(current_user.username)
        if connection.client_id == client.client_id for name in connection.scopes
    })
    scopes = [
        (name, SCOPE_DESCRIPTIONS.get(name, name), bool(granted) and name not in granted)
        for name in scope.split()
    ]
    return _page(
        200,
        client_name=client.client_name,
        client_id=client.client_id,
        client_host=client_host,
        redirect_host=redirect_host,
        resource=server.service.settings.resource,
        scopes=scopes,
        granted=granted,
        adds=any(added for _, _, added in scopes),
        params=params,
        consent_csrf=generate_csrf(),
        user=current_user.username,
    )


def _page(status: int, retry_after: Optional[int] = None, **context: Any) -> Response:
    html = render_page(
        "superset_mcp_jwt/consent.html",
        in_superset=current_user.is_authenticated,
        title="Allow access to Superset?" if status == 200 else "Sign-in request refused",
        **{"error": None, **context},
    )
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Response(html, status, mimetype="text/html", headers=headers)


def _too_many(retry_after: int) -> Response:
    """429 for a machine endpoint: ``Retry-After`` and an OAuth error body."""
    body = {"error": "temporarily_unavailable",
            "error_description": f"Too many requests from this address; retry after {retry_after} seconds."}
    return _json(body, 429, {**_NO_STORE, "Retry-After": str(retry_after)})


def _json(body: Any, status: int, headers: Optional[dict[str, str]] = None) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json", headers=headers or {})


