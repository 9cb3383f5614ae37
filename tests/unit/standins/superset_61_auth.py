"""Stand-in for Superset 6.1.0's ``superset.mcp_service.auth`` (the shapes we rely on).

``get_user_from_request`` only knows ``g.user`` and ``MCP_DEV_USERNAME``;
``check_tool_permission`` takes the function alone.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from flask import current_app, g

from tests.unit.standins.superset_main_auth import USERS, User  # noqa: F401 (one stand-in DB)

CLASS_PERMISSION_ATTR = "_class_permission_name"
METHOD_PERMISSION_ATTR = "_method_permission_name"


def load_user_with_relationships(username: str | None = None, email: str | None = None) -> User | None:
    return USERS.get(username or "")


def get_user_from_request() -> User:
    if getattr(g, "user", None):
        return g.user
    username = current_app.config.get("MCP_DEV_USERNAME")
    if not username:
        raise ValueError("No authenticated user found.")
    return load_user_with_relationships(username)  # type: ignore[return-value]


def check_tool_permission(func: Callable[..., Any]) -> bool:
    if not getattr(g, "user", None):
        return False
    class_permission_name = getattr(func, CLASS_PERMISSION_ATTR, None)
    if not class_permission_name:
        return True
    method = getattr(func, METHOD_PERMISSION_ATTR, "read")
    return (f"can_{method}", class_permission_name) in g.user.permissions


def _setup_user_context() -> User | None:
    g.pop("user", None)
    user = get_user_from_request()
    g.user = user
    return user


def mcp_auth_hook(tool_func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(tool_func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with current_app.app_context():
            _setup_user_context()
            if not check_tool_permission(tool_func):
                raise PermissionError(tool_func.__name__)
            return tool_func(*args, **kwargs)

    return wrapper
