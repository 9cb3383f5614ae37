"""Stand-in for the wiring of Superset's own MCP OAuth in ``superset.mcp_service.mcp_config``.

Installed as ``superset.mcp_service.mcp_config`` by the unit tests. Superset's
``create_default_mcp_auth_factory`` returns the OAuth resource-server provider
when ``MCP_OAUTH_ENABLED`` is on, as apache/superset
``tests/unit_tests/mcp_service/test_auth_oauth.py`` at commit
76f1ad659454fb37bd734e73e9bbb607e41cd904 shows (its config holds
``MCP_OAUTH_ENABLED``, ``MCP_OAUTH_ISSUER``, ``MCP_OAUTH_RESOURCES``,
``MCP_OAUTH_PRIVATE_KEY``, ``MCP_OAUTH_SCOPES``; no ``MCP_AUTH_ENABLED``). The
builder's name, ``_build_oauth_provider``, is the one this project's issue 18
reports; the stored copies of ``mcp_config.py`` read here (e.g. at
000a667cfebcc8dedce8b22712306fc985eb6953) hold no ``MCP_OAUTH_*`` wiring yet.
"""

from __future__ import annotations

from typing import Any

from superset.mcp_service.auth_oauth import build_oauth_resource_provider  # type: ignore[import-not-found]


def _build_oauth_provider(app: Any) -> Any:
    return build_oauth_resource_provider(app.config, token_verifier="Superset's MCPJWTVerifier")


def create_default_mcp_auth_factory(app: Any) -> Any:
    if app.config.get("MCP_OAUTH_ENABLED", False):
        return _build_oauth_provider(app)
    return None
