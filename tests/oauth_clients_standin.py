"""A minimal stand-in for ``superset_mcp_jwt.oauth.clients`` (helper "clients", branch asclients).

Installed into ``sys.modules`` only when the real module is missing, so the
OAuth tests run on this branch before the lead merges both; once merged, the
real ClientRegistry is used and this file can go. Loopback redirect URIs only.
"""

from __future__ import annotations

import datetime
import secrets
import sys
import types
import urllib.parse
from typing import Any, Mapping, Optional


def _install() -> None:
    try:
        import superset_mcp_jwt.oauth.clients  # noqa: F401
        return
    except ImportError:
        pass
    from superset_mcp_jwt.oauth.models import Client

    class RegistrationError(Exception):
        def __init__(self, error: str, description: str, status: int = 400) -> None:
            super().__init__(f"{error}: {description}")
            self.error, self.description, self.status = error, description, status

        def body(self) -> dict[str, str]:
            return {"error": self.error, "error_description": self.description}

    class ClientRegistry:
        def __init__(self, store: Any, settings: Any, fetch: Any = None, clock: Any = None) -> None:
            self.store, self.settings = store, settings

        def register(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
            uris = metadata.get("redirect_uris")
            if not isinstance(uris, list) or not uris or not all(
                isinstance(u, str) and urllib.parse.urlsplit(u).hostname in ("127.0.0.1", "localhost") for u in uris
            ):
                raise RegistrationError("invalid_redirect_uri", "Only loopback redirect URIs (stand-in).")
            client = Client(
                client_id=secrets.token_urlsafe(24), client_name=str(metadata.get("client_name", "MCP client")),
                redirect_uris=tuple(uris), kind="dcr", created_at=datetime.datetime.now(datetime.timezone.utc),
            )
            self.store.save_client(client)
            return {"client_id": client.client_id, "client_name": client.client_name, "redirect_uris": uris,
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]}

        def get(self, client_id: str) -> Optional[Client]:
            return self.store.get_client(client_id)

    module = types.ModuleType("superset_mcp_jwt.oauth.clients")
    module.RegistrationError = RegistrationError  # type: ignore[attr-defined]
    module.ClientRegistry = ClientRegistry  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    import superset_mcp_jwt.oauth as package

    package.clients = module  # type: ignore[attr-defined]


_install()
