"""The RFC 8414 document and where it is served."""

from __future__ import annotations

import pytest
from authlib.oauth2 import rfc8414, rfc9207

from superset_mcp_jwt.oauth.config import OAuthSettings
from superset_mcp_jwt.oauth.metadata import authorization_server_metadata, metadata_paths
from tests.unit.test_oauth_config import RSA_PEM, rs256, settings


def test_document_is_valid_rfc8414_and_says_s256_only() -> None:
    oauth = settings().oauth
    document = authorization_server_metadata(oauth)
    metadata = rfc8414.AuthorizationServerMetadata(document)
    metadata.validate(metadata_classes=[rfc9207.AuthorizationServerMetadata])
    assert document["issuer"] == "https://superset.example.com"
    assert document["code_challenge_methods_supported"] == ["S256"]
    # "none" first: Claude picks Client ID Metadata Documents only when it is listed.
    assert document["token_endpoint_auth_methods_supported"] == ["none", "client_secret_post", "client_secret_basic"]
    assert document["scopes_supported"] == ["mcp:read", "mcp:write", "mcp:sql", "mcp:all"]
    assert document["registration_endpoint"] == "https://superset.example.com/oauth/mcp/register"
    assert document["client_id_metadata_document_supported"] is True
    assert "jwks_uri" not in document


def test_the_whole_document_with_every_option_on() -> None:
    """Exactly what a client reads: each key spelled as RFC 8414 / 7009 / 9207 name it."""
    document = authorization_server_metadata(rs256(MCP_OAUTH_PRIVATE_KEY=RSA_PEM).oauth)
    base = "https://superset.example.com"
    assert document == {
        "issuer": base,
        "authorization_endpoint": base + "/oauth/mcp/authorize",
        "token_endpoint": base + "/oauth/mcp/token",
        "revocation_endpoint": base + "/oauth/mcp/revoke",
        "registration_endpoint": base + "/oauth/mcp/register",
        "jwks_uri": base + "/oauth/mcp/jwks",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "scopes_supported": ["mcp:read", "mcp:write", "mcp:sql", "mcp:all"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": True,
    }
    assert document["authorization_response_iss_parameter_supported"] is True


def test_optional_parts_follow_the_settings() -> None:
    off = authorization_server_metadata(
        settings(MCP_OAUTH_DYNAMIC_REGISTRATION=False, MCP_OAUTH_CLIENT_METADATA_DOCUMENTS=False).oauth
    )
    assert "registration_endpoint" not in off and "client_id_metadata_document_supported" not in off
    # Secrets are issued only by registration: without it every client is public.
    assert off["token_endpoint_auth_methods_supported"] == off["revocation_endpoint_auth_methods_supported"] == ["none"]
    asymmetric = authorization_server_metadata(rs256(MCP_OAUTH_PRIVATE_KEY=RSA_PEM).oauth)
    assert asymmetric["jwks_uri"] == "https://superset.example.com/oauth/mcp/jwks"


def test_issuer_path_form() -> None:
    assert metadata_paths(settings().oauth) == ("/.well-known/oauth-authorization-server",)
    with_path = settings(MCP_OAUTH_ISSUER="https://example.com/superset/").oauth
    assert metadata_paths(with_path) == (
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/superset",
    )


@pytest.mark.parametrize(
    "issuer, paths",
    [
        # RFC 8414 §3.1: a terminating "/" of the issuer's path is removed first,
        # even on settings not built by parse_oauth_settings (which strips it too).
        ("https://example.com/superset/", ("/.well-known/oauth-authorization-server",
                                           "/.well-known/oauth-authorization-server/superset")),
        ("https://example.com/", ("/.well-known/oauth-authorization-server",)),
        # Only "/" is removed: other trailing characters belong to the path.
        ("https://example.com/MCPX", ("/.well-known/oauth-authorization-server",
                                      "/.well-known/oauth-authorization-server/MCPX")),
    ],
)
def test_issuer_path_form_removes_only_a_terminating_slash(issuer, paths) -> None:
    oauth = OAuthSettings(enabled=True, issuer=issuer, resource="https://example.com/mcp")
    assert metadata_paths(oauth) == paths
