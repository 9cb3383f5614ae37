"""Superset's MCP response cache, which answers repeated calls ahead of per-user authentication.

``MCP_CACHE_CONFIG["enabled"]`` puts FastMCP's ``ResponseCachingMiddleware`` in
front of the tools; its keys are the tool and its arguments only, so one
user's result could be served to another. Superset main refuses that unless
``dangerously_share_cache_across_principals`` says every request comes from one
principal (apache/superset PR #43388); superset-mcp-jwt refuses it the same way
on every release (with bearer tokens there are many principals by design).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError

KEY = "MCP_CACHE_CONFIG"
OPT_IN = "dangerously_share_cache_across_principals"


def check(config: Mapping[str, Any]) -> None:
    """Refuse to start with the response cache on, unless shared across principals on purpose."""
    cache = config.get(KEY)
    if isinstance(cache, Mapping) and cache.get("enabled") and cache.get(OPT_IN) is not True:
        raise ConfigError(
            KEY,
            'has "enabled": True: Superset\'s MCP response cache answers a repeated call before '
            "the caller's token, user and permissions are checked, so one user could be served "
            f'another\'s results. Set "enabled": False (or "{OPT_IN}": True if every request '
            "really comes from one principal)",
        )
