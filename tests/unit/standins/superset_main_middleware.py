"""Stand-in for Superset main's ``superset.mcp_service.middleware``.

As on main, it imports ``get_user_from_request`` by name when it is imported,
so replacing the module global in ``auth`` later would not reach it.
"""

from __future__ import annotations

from typing import Any

from flask import g

from superset.mcp_service.auth import (  # type: ignore[import-not-found]
    MCPNoAuthSourceError,
    get_user_from_request,
    is_tool_visible_to_current_user,
)


class RBACToolVisibilityMiddleware:
    @staticmethod
    def _visible_tools(tools: list[Any]) -> list[Any]:
        """Main pushes an app context of the Flask singleton first; the caller does here."""
        try:
            user = get_user_from_request()
        except ValueError as exc:
            if isinstance(exc, MCPNoAuthSourceError):
                return tools
            return []
        g.user = user
        return [t for t in tools if is_tool_visible_to_current_user(t)]
