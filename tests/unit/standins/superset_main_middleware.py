"""Stand-in for Superset main's ``superset.mcp_service.middleware`` (tool visibility).

Shaped like apache/superset ``superset/mcp_service/middleware.py`` as the index
stores its newest copy (``RBACToolVisibilityMiddleware.on_list_tools`` runs
``_visible_tools`` in ``asyncio.to_thread``; the index did not name that copy's
commit). As there, it imports ``get_user_from_request`` by name when it is
imported, so replacing the module global in ``auth`` later would not reach it;
no auth source lists every tool, a credential failure (``ValueError``,
``PermissionError``) none; visibility is ``is_tool_visible_to_current_user``.
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
            try:
                user = get_user_from_request()
            except ValueError as exc:
                if isinstance(exc, MCPNoAuthSourceError):
                    return tools
                return []
            except PermissionError:
                return []
            if user is None:
                return tools
            g.user = user
            return [t for t in tools if is_tool_visible_to_current_user(t)]
        except Exception:  # noqa: BLE001 - as main: unexpected errors list every tool; calls still check
            return tools
