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


# --- Superset main's LoggingMiddleware and the tools' event_logger.log_context ---------------
# Shapes read from apache/superset superset/mcp_service/middleware.py at commit
# 00a49448b74fbb35b0c55ac185dd3b3fe32f1057 (after PR #37859, "add event_logger
# instrumentation to MCP tools"): the middleware imports ``get_user_id`` by name from
# ``superset.utils.core`` (``g.user.id``), calls it when a call starts (before the tool's
# ``mcp_auth_hook`` sets ``g.user``) and writes ``mcp_tool_call`` with that id; tools wrap
# their phases in ``event_logger.log_context(action="mcp.<tool>.<phase>")``, whose row takes
# the user from ``get_user_id()`` inside the tool.

#: What the event logger wrote: (action, user_id).
EVENTS: list[tuple[str, Any]] = []


def get_user_id() -> Any:
    """As superset.utils.core.get_user_id: the id of ``g.user``, or None."""
    try:
        return g.user.id
    except Exception:
        return None


class event_logger:  # noqa: N801 - Superset's name
    @staticmethod
    def log(user_id: Any, action: str, **_: Any) -> None:
        EVENTS.append((action, user_id))

    @staticmethod
    def log_context(action: str) -> Any:
        import contextlib

        @contextlib.contextmanager
        def phase() -> Any:
            yield
            EVENTS.append((action, get_user_id()))  # superset.utils.log reads g.user too

        return phase()


class LoggingMiddleware:
    def _extract_context_info(self) -> Any:
        try:
            return get_user_id()
        except (RuntimeError, AttributeError):
            return None

    def call_tool(self, tool: Any, name: str) -> Any:
        """on_call_tool's order: the user id first, then the call, then the row."""
        user_id = self._extract_context_info()
        try:
            return tool()
        finally:
            event_logger.log(user_id=user_id, action="mcp_tool_call", curated_payload={"tool": name})
