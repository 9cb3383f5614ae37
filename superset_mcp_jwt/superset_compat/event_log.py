"""The user of the rows Superset's MCP middleware writes to its action log (every Superset shape).

Superset's ``LoggingMiddleware`` (``superset.mcp_service.middleware``) writes
an ``mcp_tool_call`` row per tool call and an ``mcp_message`` row per message,
and ``GlobalErrorHandlerMiddleware`` an ``mcp_tool_error`` row per failure.
Each takes its ``user_id`` from the module's ``get_user_id()`` (imported by name
from ``superset.utils.core``: ``g.user``) when the middleware starts, before
the tool's own auth hook has set ``g.user`` — so with a bearer token every such
row had no user. On 6.1.0 and on Superset's main branch alike
(apache/superset ``superset/mcp_service/middleware.py`` at
00a49448b74fbb35b0c55ac185dd3b3fe32f1057, after PR #37859), replacing that
module global with one that answers the verified token's user id first fixes
them all. The ``mcp.<tool>.<phase>`` rows (``event_logger.log_context`` inside
the tools) read ``g.user`` after the auth hook has set it: they carry the user
already.
"""

from __future__ import annotations

import importlib
import logging
import types
from typing import Any, Callable, Optional

from .app import superset_version

logger = logging.getLogger("superset_mcp_jwt.superset_compat")

MIDDLEWARE_MODULE = "superset.mcp_service.middleware"
#: The name Superset's middleware reads the user id through.
USER_ID_FUNCTION = "get_user_id"


def reads_user_id(module: types.ModuleType) -> bool:
    """True if a class of ``module`` (its logging middleware) calls the module's ``get_user_id``."""

    def names(code: types.CodeType) -> bool:
        return USER_ID_FUNCTION in code.co_names or any(
            isinstance(c, types.CodeType) and names(c) for c in code.co_consts
        )

    if not callable(getattr(module, USER_ID_FUNCTION, None)):
        return False
    return any(
        isinstance(member, types.FunctionType) and names(member.__code__)
        for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__
        for member in vars(cls).values()
    )


def attribute_mcp_events(module: Optional[types.ModuleType] = None) -> bool:
    """Make Superset's MCP middleware rows carry the verified token's user; False if the shape is unknown.

    An unknown shape is logged, not refused: those rows are Superset's own
    audit trail, and the extension's activity records still name every call's user.
    """
    if module is None:
        try:
            module = importlib.import_module(MIDDLEWARE_MODULE)
        except ImportError:
            return False
    if getattr(getattr(module, USER_ID_FUNCTION, None), "_superset_mcp_jwt", False):
        return True
    if not reads_user_id(module):
        logger.warning(
            "superset-mcp-jwt: Superset %s's MCP middleware does not read the user through %s.%s; "
            "its mcp_tool_call / mcp_message rows may carry no user (the MCP access page's "
            "activity records still do)",
            superset_version(), MIDDLEWARE_MODULE, USER_ID_FUNCTION,
        )
        return False
    setattr(module, USER_ID_FUNCTION, _token_user_id_first(getattr(module, USER_ID_FUNCTION)))
    return True


def _token_user_id_first(original: Callable[[], Any]) -> Callable[[], Any]:
    def get_user_id() -> Any:
        """The verified bearer token's user id, else Superset's own answer (superset-mcp-jwt)."""
        from ..mcp_server import verified_token

        token = verified_token()
        if token is not None and token.user_id is not None:
            return token.user_id
        return original()

    get_user_id._superset_mcp_jwt = True  # type: ignore[attr-defined]
    return get_user_id
