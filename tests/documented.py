"""Superset's documented HS256 MCP setup, as the tests' starting config."""

from __future__ import annotations

from typing import Any

ISSUER = "superset-mcp"
AUDIENCE = "superset-mcp-clients"


def documented_config(secret: str, **overrides: Any) -> dict[str, Any]:
    """The documented keys (auth on, HS256, ``secret``, issuer, audience), then ``overrides``."""
    return {
        "MCP_AUTH_ENABLED": True,
        "MCP_JWT_ALGORITHM": "HS256",
        "MCP_JWT_SECRET": secret,
        "MCP_JWT_ISSUER": ISSUER,
        "MCP_JWT_AUDIENCE": AUDIENCE,
        **overrides,
    }
