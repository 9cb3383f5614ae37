"""RFC 7592: a registered client reads or removes its own registration (no Flask).

:class:`MCPClientConfigurationEndpoint` is Authlib's
``ClientConfigurationEndpoint`` with our answers. The request is authenticated
by the ``registration_access_token`` the client got when it registered, sent
as a bearer token to its ``registration_client_uri``
(``<issuer>/oauth/mcp/register/<client_id>``); a token that is unknown, or
another client's, is answered ``401 invalid_token`` the same way, so the
endpoint tells nobody which clients exist. ``GET`` reads the registration
(never a secret), ``DELETE`` removes it and ends its connections (a hosted
connector's "disconnect"), ``PUT`` is refused with ``403``: a client that
needs other metadata registers again.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Protocol
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import UnauthorizedClientError
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint

from .models import Client

logger = logging.getLogger("superset_mcp_jwt")

#: The longest ``Authorization`` header read (a registration access token is 43 characters).
MAX_AUTHORIZATION_CHARS = 512


class Registrations(Protocol):
    """What the endpoint needs of ``clients.ClientRegistry``."""

    def by_registration_token(self, token: str) -> Optional[Client]: ...

    def information(self, client: Client) -> dict[str, Any]: ...

    def registration_client_uri(self, client_id: str) -> str: ...


class RegistrationToken:
    """A registration access token as presented, with the client it was issued to."""

    def __init__(self, value: str, client: Client) -> None:
        self.value = value
        self.client = client

    def check_client(self, client: Any) -> bool:
        return client.get_client_id() == self.client.client_id


def _bearer(request: Any) -> Optional[str]:
    header = request.headers.get("Authorization") or ""
    scheme, _, value = header[:MAX_AUTHORIZATION_CHARS].partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value and " " not in value else None


def _path_client_id(request: Any) -> str:
    """The ``client_id`` the request's URL names (its last path segment)."""
    return urlsplit(request.uri).path.rstrip("/").rsplit("/", 1)[-1]


class MCPClientConfigurationEndpoint(ClientConfigurationEndpoint):
    """RFC 7592 for registered (``dcr``) clients, on the server's registry and service."""

    @property
    def registrations(self) -> Registrations:
        return self.server.clients

    def create_endpoint_request(self, request: Any) -> Any:
        # No body is ever read (PUT is refused): the server's own request type will do.
        return self.server.create_oauth2_request(request)

    def authenticate_token(self, request: Any) -> RegistrationToken:
        """The presented registration access token, if it is this URL's client's; else 401."""
        value = _bearer(request)
        client = self.registrations.by_registration_token(value) if value else None
        if client is None or client.client_id != _path_client_id(request):
            raise InvalidTokenError("The registration access token is invalid for this client.")
        return RegistrationToken(value, client)

    def authenticate_client(self, request: Any) -> Any:
        return self.server.query_client(_path_client_id(request))

    def revoke_access_token(self, token: RegistrationToken, request: Any) -> None:
        """Nothing to do: the token was the client's, and the client is gone already."""

    def check_permission(self, client: Any, request: Any) -> bool:
        return True  # a registered client may read and remove its own registration

    def introspect_client(self, client: Any) -> dict[str, Any]:
        return self.registrations.information(client.client)

    def generate_client_registration_info(self, client: Any, request: Any) -> dict[str, str]:
        # Only a hash is stored: the token shown is the one the client has just presented.
        return {
            "registration_client_uri": self.registrations.registration_client_uri(client.client_id),
            "registration_access_token": request.credential.value,
        }

    def delete_client(self, client: Any, request: Any) -> None:
        revoked = self.server.service.revoke_client(client.client_id)
        logger.info(
            "MCP OAuth: client %s removed its registration (RFC 7592), %d connection(s) ended",
            client.client_id, revoked,
        )

    def create_update_client_response(self, client: Any, request: Any) -> Any:
        raise UnauthorizedClientError(
            "This server does not change registrations: register again with the new metadata.",
            status_code=403,
        )
