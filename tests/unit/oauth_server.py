"""A framework-neutral Authlib server over the real grants, store and service (no Flask)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import urllib.parse
from collections import defaultdict
from typing import Any, Optional

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload

from superset_mcp_jwt.errors import Reason, TokenError
from superset_mcp_jwt.oauth.grants import MCPAuthorizationServerMixin
from superset_mcp_jwt.oauth.issuer import AccessTokenIssuer
from superset_mcp_jwt.oauth.service import OAuthService
from superset_mcp_jwt.oauth.clients import ClientRegistry
from superset_mcp_jwt.revocation import RevocationList
from superset_mcp_jwt.settings import Settings
from tests.documented import documented_config
from tests.unit.oauth_fixtures import REDIRECT, Clock, make_client, make_store

ISSUER = "https://superset.example.com"
RESOURCE = "https://superset.example.com:5008/mcp"


class Payload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: dict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class Request(OAuth2Request):
    def __init__(self, method: str, params: Any, headers: Optional[dict[str, str]] = None,
                 path: str = "/oauth/mcp/endpoint") -> None:
        super().__init__(method, f"{ISSUER}{path}", headers=headers or {})
        pairs = list(params.items()) if isinstance(params, dict) else list(params)
        self.payload = Payload(pairs)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


class Response:
    def __init__(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:
        # As Authlib's Flask server does: a dict body goes out as JSON.
        self.status, self.headers = status, dict(headers)
        self.body = json.dumps(body) if isinstance(body, dict) else body
        self.location: Optional[str] = self.headers.get("Location")

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.location).query))


class Users:
    def __init__(self) -> None:
        self.active = {"alice", "bob"}


class DictStore:
    """A shared cache standing in for Flask-Caching (Redis or the metadata DB)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def set(self, key: str, value: Any, timeout: Any = None) -> bool:
        self.data[key] = value
        return True


class Server(MCPAuthorizationServerMixin, AuthorizationServer):
    def __init__(self, service: OAuthService, clients: Any, users: Users) -> None:
        super().__init__()
        self.users = users
        self.setup_mcp(service, clients)

    def create_oauth2_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        return Response(status, body, headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def user_is_active(self, username: str) -> bool:
        return username in self.users.active


def settings(**overrides: Any) -> Settings:
    return Settings.from_config(documented_config(
        secrets.token_urlsafe(32), MCP_OAUTH_ENABLED=True, MCP_OAUTH_ISSUER=ISSUER,
        MCP_OAUTH_RESOURCE=RESOURCE, **overrides,
    ))


class World:
    """Everything one test needs: store on a SQLite file, service, server, revocation list."""

    def __init__(self, tmp_path: Any, **overrides: Any) -> None:
        self.clock = Clock(time.time())
        self.settings = settings(**overrides)
        self.store = make_store(tmp_path, self.clock, leeway=self.settings.leeway)  # as manager.py does
        self.store.save_client(make_client())
        self.store.save_client(make_client("client-2", "http://127.0.0.1:9/cb", "Other"))
        self.cache = DictStore()
        self.revocations = RevocationList(self.cache, memo_seconds=0)
        self.issuer = AccessTokenIssuer(self.settings)
        self.service = OAuthService(self.store, self.settings.oauth, self.issuer, self.revocations)
        self.users = Users()
        self.registry = ClientRegistry(self.store, self.settings.oauth)
        self.server = Server(self.service, self.registry, self.users)

    def authorize(self, user: Optional[str] = "alice", **params: str) -> Response:
        """Validate like the GET, then decide like the consent POST; the redirect back."""
        request = Request("GET", params)
        try:
            grant = self.server.get_consent_grant(request, end_user=user)
        except Exception as error:  # an OAuth2Error
            response = self.server.error_redirect_or_none(request, error)
            if response is None:
                raise
            return response
        return self.server.create_authorization_response(request, grant_user=user, grant=grant)

    def token(self, headers: Optional[dict[str, str]] = None, **form: str) -> Response:
        return self.server.create_token_response(Request("POST", form, headers))

    def revoke(self, headers: Optional[dict[str, str]] = None, **form: str) -> Response:
        return self.server.create_endpoint_response("revocation", Request("POST", form, headers))

    def configuration(self, method: str, client_id: str, token: Optional[str]) -> Response:
        """An RFC 7592 request to ``client_id``'s registration_client_uri, with ``token`` as its bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        request = Request(method, {}, headers, path=f"/oauth/mcp/register/{client_id}")
        return self.server.create_endpoint_response("client_configuration", request)

    def is_revoked(self, claims: dict[str, Any]) -> bool:
        """What the Authenticator will say of this token (through the shared revocation list)."""
        try:
            self.revocations.check(claims)
        except TokenError as error:
            return error.reason is Reason.REVOKED
        return False


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(challenge: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code", "client_id": "client-1", "redirect_uri": REDIRECT, "state": "st-1",
        "code_challenge": challenge, "code_challenge_method": "S256", "resource": RESOURCE,
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}
