"""RFC 9728 metadata location and the challenge parameters (core, no server)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from superset_mcp_jwt.errors import Reason, TokenError
from superset_mcp_jwt.oauth.config import SUPPORTED_SCOPES
from superset_mcp_jwt.oauth.resource import challenge, metadata_path, metadata_url, protected_resource_metadata
from superset_mcp_jwt.settings import Settings
from tests.documented import documented_config

SECRET = "vU3Tq0h8kXw1s9bYpL2mZr7cN5aJ4eFgHdKiOoQtRsE"
RESOURCE = "https://superset.example.com:5008/mcp"


def settings(**oauth):
    base = Settings.from_config(documented_config(SECRET))
    if not oauth:
        return base
    return dataclasses.replace(base, oauth=SimpleNamespace(**oauth))


@pytest.mark.parametrize(
    "resource, path, url",
    [
        (RESOURCE, "/.well-known/oauth-protected-resource/mcp",
         "https://superset.example.com:5008/.well-known/oauth-protected-resource/mcp"),
        ("https://x.example/tools/mcp/", "/.well-known/oauth-protected-resource/tools/mcp",
         "https://x.example/.well-known/oauth-protected-resource/tools/mcp"),
        ("http://127.0.0.1:5008", "/.well-known/oauth-protected-resource",
         "http://127.0.0.1:5008/.well-known/oauth-protected-resource"),
        # Only a terminating "/" is removed (RFC 9728 §3.1), not other trailing characters.
        ("https://x.example/MCPX", "/.well-known/oauth-protected-resource/MCPX",
         "https://x.example/.well-known/oauth-protected-resource/MCPX"),
    ],
)
def test_metadata_sits_before_the_resource_path(resource, path, url):
    assert metadata_path(resource) == path
    assert metadata_url(resource) == url


def test_metadata_names_the_resource_and_superset_as_its_authorization_server():
    s = settings(issuer="https://superset.example.com", resource=RESOURCE, default_scopes=["mcp:all"],
                 scopes_supported=SUPPORTED_SCOPES)
    assert protected_resource_metadata(s) == {
        "resource": RESOURCE,
        "authorization_servers": ["https://superset.example.com"],
        "scopes_supported": ["mcp:read", "mcp:write", "mcp:sql", "mcp:all"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Apache Superset MCP",
    }


def test_without_oauth_the_challenge_advertises_nothing_new():
    header = TokenError(Reason.MISSING_TOKEN).www_authenticate(**challenge(settings()))
    assert header == 'Bearer realm="superset-mcp"'


def test_with_oauth_every_challenge_says_where_to_get_a_token_and_which_scope():
    s = settings(issuer="https://superset.example.com", resource=RESOURCE, default_scopes=["mcp:all"])
    missing = TokenError(Reason.MISSING_TOKEN).www_authenticate(**challenge(s))
    assert missing == (
        'Bearer realm="superset-mcp", resource_metadata='
        '"https://superset.example.com:5008/.well-known/oauth-protected-resource/mcp", scope="mcp:all"'
    )
    expired = TokenError(Reason.EXPIRED).www_authenticate(**challenge(s))
    assert expired.startswith('Bearer realm="superset-mcp", error="invalid_token", error_description=')
    assert 'resource_metadata="https://superset.example.com:5008/.well-known/' in expired


def test_required_scopes_are_the_scope_a_client_is_told_to_ask_for():
    s = dataclasses.replace(
        settings(issuer="https://superset.example.com", resource=RESOURCE, default_scopes=["mcp:all"]),
        required_scopes=("mcp:read", "mcp:sql"),
    )
    assert challenge(s)["scope"] == "mcp:read mcp:sql"
