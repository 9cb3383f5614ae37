"""The OAuth 2.1 grants and endpoints, on Authlib's framework-neutral core (no Flask).

* :class:`MCPAuthorizationCodeGrant` with :class:`S256CodeChallenge`: public
  clients (``none``) and confidential ones (``client_secret_post``,
  ``client_secret_basic``, each only by its registered method, through
  Authlib's client authentication), PKCE S256 required of every client,
  ``resource`` (RFC 8707) must name this MCP server; a code works once, and a
  reused one revokes the family it started.
* :class:`MCPRefreshTokenGrant`: rotation on every use, scope only narrows;
  a refresh token presented again within the grace window after its rotation
  gets a sibling in its family, later it is a replay and revokes the family.
* :class:`MCPRevocationEndpoint` (RFC 7009): refresh tokens (their family) and
  our access JWTs (their ``jti``).
* :class:`~.configuration.MCPClientConfigurationEndpoint` (RFC 7592): a
  registered client reads or removes its own registration.
* :class:`MCPAuthorizationServerMixin` puts them together for a framework
  face (the Flask one is ``oauth_views.py``), with RFC 9207 ``iss`` on every
  redirect back to the client.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Callable, Mapping, Optional, Protocol

from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter

from .config import SUPPORTED_SCOPES, OAuthSettings
from .configuration import MCPClientConfigurationEndpoint
from .models import Client
from .service import OAuthService
from .store import CodeRecord, RefreshRecord

logger = logging.getLogger("superset_mcp_jwt")

GRANT_TYPES = ("authorization_code", "refresh_token")
#: How the token and revocation endpoints authenticate clients, tried in this order by
#: Authlib's ``ClientAuthentication``; each client passes only by its registered method.
#: With ``client_secret_basic`` listed, a failed authentication answers 401 and
#: ``WWW-Authenticate: Basic``.
AUTHENTICATION_METHODS = ["client_secret_basic", "client_secret_post", "none"]

#: Asks for a refresh token (OpenID Connect; MCP SEP-2207). This server always issues one,
#: so it is never refused, never granted as a scope, and not in ``scopes_supported``.
OFFLINE_ACCESS = "offline_access"
#: Scope namespaces this server owns: an unknown scope in them is refused, never ignored.
OWN_SCOPE_PREFIXES = ("mcp:", "superset:")


def our_scopes(scope: Optional[str]) -> list[str]:
    """The scopes of this server a request asks for, in order, once each.

    ``offline_access`` and scopes of other servers (``openid``, ``profile``,
    ``claudeai``, ...) are left out: real clients send them whatever the
    metadata says, and refusing them would end the connection before the
    consent page. An unknown scope in our own namespaces (``mcp:admin``) is
    :class:`InvalidScopeError`: the client means us, and granting something
    else than it asked for would be wrong.
    """
    requested = scope.split() if scope else []
    unknown = [s for s in requested if s not in SUPPORTED_SCOPES and s.startswith(OWN_SCOPE_PREFIXES)]
    if unknown:
        raise InvalidScopeError("The requested scope is not one this server grants.")
    return list(dict.fromkeys(s for s in requested if s in SUPPORTED_SCOPES))


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the ``resource`` is not this authorization server's MCP server."""

    error = "invalid_target"


class ClientLookup(Protocol):
    def get(self, client_id: str) -> Optional[Client]:
        """The registered (or metadata-document) client, or None."""


class OAuthClient(ClientMixin):
    """A :class:`Client` as Authlib sees it: its one auth method, code + refresh, exact redirect URIs."""

    def __init__(self, client: Client, default_scopes: tuple[str, ...]) -> None:
        self.client = client
        self.client_id = client.client_id
        self.client_name = client.client_name
        self._default_scopes = default_scopes

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # redirect_uri is always required

    def get_allowed_scope(self, scope: Optional[str]) -> str:
        return " ".join(our_scopes(scope) or self._default_scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return self.client.check_redirect_uri(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client.check_secret(client_secret)  # False for a public client: it has none

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.client.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


class S256CodeChallenge(CodeChallenge):
    """PKCE that refuses ``plain`` and a missing challenge at the authorization endpoint."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


def _unspent(record: Any, now: float, replayed: Callable[[Any], None]) -> Any:
    """``record`` (a code or refresh token) if it may still be used; a reuse is reported to ``replayed``."""
    if record.used_at is not None:
        replayed(record)
        return None
    return record if record.expires_at > now else None


def _check_resource(
    datalist: Mapping[str, list], settings: OAuthSettings, redirect_uri: Optional[str] = None
) -> None:
    """``resource`` absent, or exactly this MCP server (once)."""
    values = datalist.get("resource", [])
    if len(values) > 1 or (values and values[0] != settings.resource):
        raise InvalidTargetError(
            "The resource is not this server's MCP endpoint.", redirect_uri=redirect_uri
        )


class MCPAuthorizationCodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTHENTICATION_METHODS

    @property
    def service(self) -> OAuthService:
        return self.server.service

    def validate_authorization_request(self) -> str:
        redirect_uri = super().validate_authorization_request()
        payload = self.request.payload
        _check_resource(payload.datalist, self.service.settings, redirect_uri)
        return redirect_uri

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        self.service.store.save_code(
            code,
            client_id=request.client.get_client_id(),
            username=request.user,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            resource=self.service.settings.resource,
            ttl=self.service.settings.authorization_code_ttl,
        )

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    def query_authorization_code(self, code: str, client: OAuthClient) -> Optional[CodeRecord]:
        record = self.service.store.find_code(code)
        if record is None or record.client_id != client.get_client_id():
            return None
        return _unspent(record, self.service.store.now(), self.service.code_replayed)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _check_resource(self.request.payload.datalist, self.service.settings)

    def create_token_response(self) -> tuple[int, dict[str, Any], list]:
        record: CodeRecord = self.request.authorization_code
        if not self.server.user_is_active(record.username):
            raise InvalidGrantError("The user is not active.")
        token = self.service.redeem_code(record, self.request.client.client_name)
        if token is None:
            raise InvalidGrantError("Invalid 'code' in request.")
        return 200, token, self.TOKEN_RESPONSE_HEADER


class MCPRefreshTokenGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTHENTICATION_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    @property
    def service(self) -> OAuthService:
        return self.server.service

    def authenticate_refresh_token(self, refresh_token: str) -> Optional[RefreshRecord]:
        record = self.service.store.find_refresh_token(refresh_token)
        if record is None or record.family_revoked:
            return None
        if record.used_at is not None and self.service.within_grace(record):
            return record  # rotated out moments ago: the store decides, under the family's lock
        return _unspent(record, self.service.store.now(), self.service.refresh_replayed)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _check_resource(self.request.payload.datalist, self.service.settings)

    def _validate_token_scope(self, token: RefreshRecord) -> None:
        """The scope may only narrow the grant (RFC 6749 §6); ``offline_access`` and foreign scopes aside."""
        self._scopes = our_scopes(self.request.payload.scope) or token.scope.split()
        if not set(self._scopes) <= set(token.scope.split()):
            raise InvalidScopeError()

    def create_token_response(self) -> tuple[int, dict[str, Any], list]:
        record: RefreshRecord = self.request.refresh_token
        if not self.server.user_is_active(record.username):
            self.service.revoke_family(record.family_id)
            raise InvalidGrantError("The user is not active.")
        token = self.service.rotate(record, self._scopes)
        if token is None:
            raise InvalidGrantError()
        return 200, token, self.TOKEN_RESPONSE_HEADER


class _AccessToken:
    """One of our access JWTs, read back for revocation."""

    def __init__(self, claims: Mapping[str, Any]) -> None:
        self.claims = claims

    def check_client(self, client: OAuthClient) -> bool:
        return self.claims.get("client_id") == client.get_client_id()


class MCPRevocationEndpoint(RevocationEndpoint):
    """RFC 7009: answers 200 whether or not the token was known (to its authenticated client)."""

    CLIENT_AUTH_METHODS = AUTHENTICATION_METHODS

    @property
    def service(self) -> OAuthService:
        return self.server.service

    def authenticate_token(self, request: Any, client: OAuthClient) -> Any:
        self.check_params(request, client)
        token = self.query_token(request.form["token"])
        # Another client's token is treated as unknown: nothing is revoked, nothing is revealed.
        return token if token is not None and token.check_client(client) else None

    def query_token(self, token_string: str, token_type_hint: Optional[str] = None) -> Any:
        """Our refresh token or access JWT, whatever ``token_type_hint`` says.

        RFC 7009 §2.1: a server that cannot find the token under the hint MUST
        search the other types, and MAY ignore the hint; a wrong hint must
        never leave a token unrevoked while the client is told it is revoked.
        """
        if len(token_string) > 8192:
            return None
        record = self.service.store.find_refresh_token(token_string)
        if record is not None:
            return record
        claims = self.service.issuer.read(token_string)
        return _AccessToken(claims) if claims is not None else None

    def revoke_token(self, token: Any, request: Any) -> None:
        if isinstance(token, RefreshRecord):
            self.service.revoke_family(token.family_id)
            logger.info("MCP OAuth: refresh token revoked by its client: family=%s", token.family_id)
        else:
            self.service.revoke_access_token(token.claims["jti"], token.claims["exp"])
            logger.info("MCP OAuth: access token revoked by its client: jti=%s", token.claims["jti"])


class _Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self._issuer = issuer

    def get_issuer(self) -> str:
        return self._issuer


class MCPAuthorizationServerMixin:
    """The MCP authorization server's policy, for a framework's Authlib ``AuthorizationServer``.

    Put it first among the bases; call :meth:`setup_mcp` once. The framework
    class implements :meth:`user_is_active` (it knows the user table).
    """

    service: OAuthService

    def setup_mcp(self, service: OAuthService, clients: ClientLookup) -> None:
        self.service = service
        self.clients = clients
        self.scopes_supported = list(service.settings.scopes_supported)
        self.register_grant(MCPAuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(MCPRefreshTokenGrant)
        self.register_endpoint(MCPRevocationEndpoint)
        self.register_endpoint(MCPClientConfigurationEndpoint)
        self._issuer_parameter = _Issuer(service.settings.issuer)
        self.register_extension(self._issuer_parameter)

    def query_client(self, client_id: str) -> Optional[OAuthClient]:
        if not isinstance(client_id, str) or not client_id or len(client_id) > 2048:
            return None
        client = self.clients.get(client_id)
        return OAuthClient(client, self.service.settings.default_scopes) if client else None

    def user_is_active(self, username: str) -> bool:
        """True if ``username`` exists and may still sign in."""
        raise NotImplementedError

    def validate_requested_scope(self, scope: Optional[str]) -> None:
        """Refuse unknown scopes of ours; the rest is :func:`our_scopes`' (Authlib's hook)."""
        our_scopes(scope)

    def save_token(self, token: Any, request: Any) -> None:
        raise NotImplementedError("the grants save their tokens through OAuthService")

    def error_redirect_or_none(self, request: Any, error: OAuth2Error) -> Any:
        """The redirect back to the client for an error found while validating, with ``iss``.

        None when the error has no validated redirect URI: the face then shows
        an error page and never redirects.
        """
        if not error.redirect_uri:
            return None
        response = self.handle_error_response(request, error)
        self._issuer_parameter.add_issuer_parameter(self, response)
        return response
