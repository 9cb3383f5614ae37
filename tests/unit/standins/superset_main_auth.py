"""Stand-in for Superset main's ``superset.mcp_service.auth``.

Written from the facts in shared/notes/superset-next.md: the shapes, names and
signatures superset-mcp-jwt depends on, nothing else. ``USERS`` stands in for
the metadata DB: username -> ``User``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from fastmcp.server.dependencies import get_access_token
from flask import current_app, g

PERMISSION_PREFIX = "can_"
CLASS_PERMISSION_ATTR = "_class_permission_name"
METHOD_PERMISSION_ATTR = "_method_permission_name"

_METHOD_TO_REQUIRED_SCOPE = {
    "read": "superset:read",
    "write": "superset:write",
    "delete": "superset:write",
    "execute_sql_query": "superset:write",
}


class User:
    def __init__(self, username: str, permissions: set[tuple[str, str]], active: bool = True) -> None:
        self.username = username
        self.permissions = permissions
        self.is_active = active
        self.roles: list[Any] = []


USERS: dict[str, User] = {}
#: Every call of check_tool_permission: (tool name, keyword arguments).
PERMISSION_CALLS: list[tuple[str, dict[str, Any]]] = []


class MCPNoAuthSourceError(ValueError):
    """No authentication source applies."""


def default_user_resolver(app: Any, access_token: Any) -> str | None:
    claims = getattr(access_token, "claims", None) or {}
    for name in ("preferred_username", "username", "email", "sub"):
        if claims.get(name):
            return claims[name]
    return None


def load_user_with_relationships(username: str | None = None, email: str | None = None) -> User | None:
    return USERS.get(username or "")


def _resolve_user_from_jwt_context(app: Any) -> User | None:
    access_token = get_access_token()
    if access_token is None:
        return None
    resolver = app.config.get("MCP_USER_RESOLVER", default_user_resolver)
    username = resolver(app, access_token)
    if not username:
        raise ValueError("JWT context present but no username could be extracted from claims")
    user = load_user_with_relationships(username)
    if not user:
        raise ValueError("JWT authenticated user not found in Superset database.")
    return user


def get_user_from_request() -> User:
    if (user := _resolve_user_from_jwt_context(current_app)) is not None:
        return user
    if username := current_app.config.get("MCP_DEV_USERNAME"):
        return load_user_with_relationships(username)  # type: ignore[return-value]
    if getattr(g, "user", None):
        return g.user
    raise MCPNoAuthSourceError("Authentication required. No valid credentials provided.")


def _get_token_scopes() -> set[str] | None:
    token = get_access_token()
    scopes = getattr(token, "scopes", None)
    return {str(s) for s in scopes} if scopes else None


def check_tool_permission(func: Callable[..., Any], *, log_denial: bool = True) -> bool:
    PERMISSION_CALLS.append((func.__name__, {"log_denial": log_denial}))
    if not getattr(g, "user", None):
        return False
    class_permission_name = getattr(func, CLASS_PERMISSION_ATTR, None)
    if not class_permission_name:
        return True
    method = getattr(func, METHOD_PERMISSION_ATTR, "read")
    has_permission = (f"{PERMISSION_PREFIX}{method}", class_permission_name) in g.user.permissions
    scopes = _get_token_scopes()
    if has_permission and scopes is not None and _METHOD_TO_REQUIRED_SCOPE.get(method) not in scopes:
        return False
    return has_permission


check_tool_permission.superset_marker = "kept"  # type: ignore[attr-defined]


def is_tool_visible_to_current_user(tool: Any) -> bool:
    tool_func = getattr(tool, "fn", None)
    if tool_func is None or not getattr(tool_func, CLASS_PERMISSION_ATTR, None):
        return True
    return check_tool_permission(tool_func, log_denial=False)


def _setup_user_context() -> User | None:
    g.pop("user", None)
    user = get_user_from_request()
    if not user.is_active:
        raise ValueError("Account is disabled.")
    g.user = user
    return user


class MCPPermissionDeniedError(PermissionError):
    pass


def mcp_auth_hook(tool_func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(tool_func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with current_app.app_context():
            _setup_user_context()
            if not check_tool_permission(tool_func):
                raise MCPPermissionDeniedError(tool_func.__name__)
            return tool_func(*args, **kwargs)

    wrapper._mcp_auth_protected = True  # type: ignore[attr-defined]
    return wrapper
