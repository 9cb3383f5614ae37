"""Step-up authorization on Superset's MCP tools: which tool a ``tools/call`` reaches, and the scope
that would let this token's user call it.

Superset 6.1.0 applies FastMCP's search transform (``MCP_TOOL_SEARCH_CONFIG``):
``tools/list`` shows ``search_tools`` and a ``call_tool`` proxy, and a client
calls a tool either by its own name or through the proxy, with the real name
in ``arguments["name"]``. Both reach the same tool, so both are stepped up.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Optional, Sequence

import anyio
from flask import Flask

from ..tokens import scope_allows, scope_for_method
from .permissions import AUTH_MODULE, quiet_denials

logger = logging.getLogger("superset_mcp_jwt.superset_compat")

#: Superset 6.1.0's defaults (``superset.mcp_service.mcp_config.MCP_TOOL_SEARCH_CONFIG``).
_SEARCH_DEFAULTS = {"enabled": True, "call_tool_name": "call_tool"}


def call_tool_proxy(app: Flask) -> Optional[str]:
    """The name of the search transform's ``call_tool`` proxy, or None when tool search is off."""
    config = app.config.get("MCP_TOOL_SEARCH_CONFIG")
    if not isinstance(config, dict):
        try:
            from superset.mcp_service.mcp_config import MCP_TOOL_SEARCH_CONFIG as config
        except ImportError:
            config = _SEARCH_DEFAULTS
    if not config.get("enabled", False):
        return None
    name = config.get("call_tool_name", _SEARCH_DEFAULTS["call_tool_name"])
    return name if isinstance(name, str) else None


class ToolStepUp:
    """``await step_up(username, scopes, tool_name, arguments)``: the scope to add, or None.

    A scope is offered only when the token's scopes are what stands in the
    way: the tool needs a permission (``can_<method>`` on a view) that the
    token's scopes do not grant, and the user's roles do grant it. When the
    roles forbid the tool too, the call goes on and fails with the tool's
    permission error, as before: a consent the user cannot use is never asked for.
    """

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._proxy = call_tool_proxy(app)

    async def __call__(
        self, username: str, scopes: Sequence[str], tool_name: str, arguments: Any
    ) -> Optional[str]:
        if tool_name == self._proxy and isinstance(arguments, dict):
            tool_name = arguments.get("name")
        if not isinstance(tool_name, str) or not tool_name or len(tool_name) > 256:
            return None
        from superset.mcp_service.app import mcp

        try:
            tool = await mcp.get_tool(tool_name)
        except Exception:  # an unknown or broken tool: FastMCP answers the call itself
            return None
        fn = getattr(tool, "fn", None)
        if fn is None:
            return None
        return await anyio.to_thread.run_sync(self._scope_to_add, username, list(scopes), fn)

    def _scope_to_add(self, username: str, scopes: list[str], fn: Any) -> Optional[str]:
        auth_module = sys.modules[AUTH_MODULE]
        method = getattr(fn, auth_module.METHOD_PERMISSION_ATTR, "read")
        if scope_allows(scopes, getattr(fn, auth_module.CLASS_PERMISSION_ATTR, None), method) is not False:
            return None  # the scopes are not what stands in the way
        roles_check = getattr(auth_module.check_tool_permission, "__wrapped__", auth_module.check_tool_permission)
        with self._app.app_context(), quiet_denials():
            from flask import g

            user = auth_module.load_user_with_relationships(username=username)
            if user is None or not user.is_active:
                return None
            g.user = user
            if not roles_check(fn):
                return None  # the roles forbid it anyway: no step-up that cannot succeed
        return scope_for_method(method)
