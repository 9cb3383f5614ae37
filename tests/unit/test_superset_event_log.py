"""Superset's own MCP event-log rows carry the token's user: Superset main's shape, on stand-ins.

The stand-ins (tests/unit/standins/) follow apache/superset's
``superset/mcp_service/middleware.py`` at 00a49448b74fbb35b0c55ac185dd3b3fe32f1057
(PR #37859's ``mcp_tool_call`` rows and ``mcp.<tool>.<phase>`` events); the real
6.1.0 is covered by tests/superset/test_activity.py.
"""

from __future__ import annotations

import logging
import time
import types

from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser

from superset_mcp_jwt.mcp_server import UserAccessToken
from superset_mcp_jwt.superset_compat import attribute_mcp_events
from tests.unit.test_superset_shapes import load, main_app, modules  # noqa: F401 (the fixture)


def as_user(username: str, user_id: int) -> object:
    token = UserAccessToken(token="t", client_id=username, subject=username, scopes=[],
                            expires_at=int(time.time()) + 60, claims={"sub": username},
                            username=username, user_id=user_id)
    return auth_context_var.set(AuthenticatedUser(token))


def run_call(middleware: types.ModuleType, auth: types.ModuleType, app: object) -> list[tuple[str, object]]:
    """A tool call as main runs it: the middleware, then mcp_auth_hook, then a phase inside the tool."""
    def list_charts() -> str:
        with middleware.event_logger.log_context(action="mcp.list_charts.query"):
            return "ok"

    setattr(list_charts, auth.CLASS_PERMISSION_ATTR, "Chart")
    setattr(list_charts, auth.METHOD_PERMISSION_ATTR, "read")
    tool = auth.mcp_auth_hook(list_charts)
    middleware.EVENTS.clear()
    with app.app_context():  # type: ignore[attr-defined]
        middleware.LoggingMiddleware().call_tool(tool, "list_charts")
    return list(middleware.EVENTS)


def test_main_mcp_tool_call_rows_get_the_tokens_user_and_phases_keep_it(modules):
    auth = load("superset.mcp_service.auth", "superset_main_auth.py")
    middleware = load("superset.mcp_service.middleware", "superset_main_middleware.py")
    app = main_app(auth)
    auth.USERS["alice"].id = 7
    reset = as_user("alice", 7)
    try:
        # Control: as Superset writes them, the middleware's row has no user.
        assert run_call(middleware, auth, app) == [("mcp.list_charts.query", 7), ("mcp_tool_call", None)]
        assert attribute_mcp_events(middleware) is True
        assert attribute_mcp_events(middleware) is True  # once: the wrapper is not wrapped again
        assert run_call(middleware, auth, app) == [("mcp.list_charts.query", 7), ("mcp_tool_call", 7)]
    finally:
        auth_context_var.reset(reset)
    # Without a token of ours Superset's own answer stands (g.user, here none).
    assert middleware.get_user_id() is None


def test_an_unknown_logging_shape_is_a_warning_not_a_refusal(modules, caplog):
    shape = types.ModuleType("superset.mcp_service.middleware")

    class LoggingMiddleware:
        def user(self) -> None:
            return None  # reads the user some other way

    LoggingMiddleware.__module__ = shape.__name__
    shape.LoggingMiddleware = LoggingMiddleware  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, "superset_mcp_jwt.superset_compat"):
        assert attribute_mcp_events(shape) is False
    assert "does not read the user through superset.mcp_service.middleware.get_user_id" in caplog.text
