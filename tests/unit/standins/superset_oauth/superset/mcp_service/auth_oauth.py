"""Stand-in for ``superset.mcp_service.auth_oauth``: the MCP server as Superset's OAuth resource server.

Shaped like apache/superset ``superset/mcp_service/auth_oauth.py`` at commit
76f1ad659454fb37bd734e73e9bbb607e41cd904: ``validate_oauth_config`` needs
``MCP_OAUTH_ISSUER`` and ``MCP_OAUTH_RESOURCES``; ``build_oauth_resource_provider``
wraps a token verifier so unauthenticated clients find the authorization server.
"""

from __future__ import annotations

from typing import Any


class MCPOAuthConfigError(ValueError):
    """MCP OAuth is enabled without the settings it needs."""


def validate_oauth_config(config: Any) -> tuple[str, list[str]]:
    issuer = str(config.get("MCP_OAUTH_ISSUER") or "").rstrip("/")
    resources = [str(resource) for resource in config.get("MCP_OAUTH_RESOURCES") or []]
    if not issuer or not resources:
        raise MCPOAuthConfigError("MCP_OAUTH_ENABLED requires MCP_OAUTH_ISSUER and MCP_OAUTH_RESOURCES.")
    return issuer, resources


def build_oauth_resource_provider(config: Any, token_verifier: Any) -> dict[str, Any]:
    issuer, resources = validate_oauth_config(config)
    return {"verifier": token_verifier, "authorization_servers": [issuer], "resource": resources[0]}
