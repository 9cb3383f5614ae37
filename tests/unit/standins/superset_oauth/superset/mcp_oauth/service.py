"""Stand-in for ``superset.mcp_oauth.service``: only what says whether Superset's own server is on.

Shaped like apache/superset ``superset/mcp_oauth/service.py`` at commit
0252cde0ff13849151b7e217f4485adf76649d3b: ``is_enabled()`` reads
``MCP_OAUTH_ENABLED`` with ``MCP_OAUTH_ISSUER``, ``MCP_OAUTH_RESOURCES`` (a list)
and ``MCP_OAUTH_PRIVATE_KEY`` at request time, from the app's config.
"""

from __future__ import annotations

from typing import Any

from flask import current_app


def _config(key: str, default: Any = None) -> Any:
    return current_app.config.get(key, default)


def issuer() -> str:
    return str(_config("MCP_OAUTH_ISSUER") or "").rstrip("/")


def resources() -> list[str]:
    return [str(resource) for resource in _config("MCP_OAUTH_RESOURCES") or []]


def is_enabled() -> bool:
    return bool(_config("MCP_OAUTH_ENABLED", False) and issuer() and resources() and _config("MCP_OAUTH_PRIVATE_KEY"))


def authorization_server_metadata() -> dict[str, Any]:
    base = issuer()
    return {"issuer": base, "token_endpoint": f"{base}/oauth/mcp/token", "served_by": "superset.mcp_oauth"}
