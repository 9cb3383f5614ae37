"""Where the authorization server's endpoints live, and its RFC 8414 metadata document."""

from __future__ import annotations

import urllib.parse
from typing import Any

from .config import OAuthSettings
from .models import AUTH_METHODS

AUTHORIZE_PATH = "/oauth/mcp/authorize"
TOKEN_PATH = "/oauth/mcp/token"
REGISTER_PATH = "/oauth/mcp/register"
REVOKE_PATH = "/oauth/mcp/revoke"
JWKS_PATH = "/oauth/mcp/jwks"
METADATA_PATH = "/.well-known/oauth-authorization-server"


def metadata_paths(settings: OAuthSettings) -> tuple[str, ...]:
    """The metadata URL paths: the root form, and (RFC 8414 §3.1) the issuer-path form if it has a path."""
    issuer_path = urllib.parse.urlsplit(settings.issuer).path.rstrip("/")
    return (METADATA_PATH, METADATA_PATH + issuer_path) if issuer_path else (METADATA_PATH,)


def endpoint_paths(settings: OAuthSettings) -> tuple[str, ...]:
    """Every path the authorization server may answer (registration and JWKS whether on or not;
    one RFC 7592 client configuration URI stands for all of them)."""
    return (*metadata_paths(settings), AUTHORIZE_PATH, TOKEN_PATH, REVOKE_PATH, REGISTER_PATH,
            REGISTER_PATH + "/client-id", JWKS_PATH)


def authorization_server_metadata(settings: OAuthSettings) -> dict[str, Any]:
    """The RFC 8414 document: what an MCP client needs to register, authorize and get tokens."""
    issuer = settings.issuer
    # "none" stays listed (and first): Claude picks Client ID Metadata Documents only when it is.
    # Secrets come only from registration: without it every client is public.
    auth_methods = list(AUTH_METHODS) if settings.dynamic_registration else ["none"]
    document: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": issuer + AUTHORIZE_PATH,
        "token_endpoint": issuer + TOKEN_PATH,
        "revocation_endpoint": issuer + REVOKE_PATH,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": list(settings.scopes_supported),
        "authorization_response_iss_parameter_supported": True,
    }
    if settings.dynamic_registration:
        document["registration_endpoint"] = issuer + REGISTER_PATH
    if settings.asymmetric:
        document["jwks_uri"] = issuer + JWKS_PATH
    if settings.client_metadata_documents:
        document["client_id_metadata_document_supported"] = True
    return document
