"""Stand-in for Superset main's ``superset.mcp_service.auth``.

Shaped like apache/superset ``superset/mcp_service/auth.py`` at commit
7ec57d6603b84b2bf047f7d6ae0d4f586f72c0a3: the user comes from the JWT context
through ``MCP_USER_RESOLVER`` (``resolver(app, access_token)``; fail closed, with
an email fallback; API-key pass-through tokens deferred), then a Superset API key
(validated by ``CompositeTokenVerifier``), ``MCP_DEV_USERNAME``, ``g.user``, else
``MCPNoAuthSourceError``. ``check_tool_permission(func, *, log_denial=True)``
denies restricted principals (embedded guests: ``MCP_GUEST_ALLOWED_TOOLS``) first,
then takes RBAC ∩ token scopes: flat ``superset:read``/``superset:write``
(``_METHOD_TO_REQUIRED_SCOPE``, an unmapped method fails closed) or the
per-resource ``superset:<resource>:<action>`` (PR #42297), only when the token
carries scopes; a tool without a permission class needs the flat scope. A
verified embedded guest token resolves first, to a ``GuestUser``, and several
``MCP_JWT_ISSUER`` values need ``MCP_USER_RESOLVER`` on every lookup.
``mcp_auth_hook`` builds each wrapper with a snapshot of the module's globals
and marks it ``_mcp_auth_protected``. ``USERS`` stands in for the metadata DB.
"""

from __future__ import annotations

import functools
import types
from typing import Any, Callable

from fastmcp.server.dependencies import get_access_token
from flask import current_app, g

from tests.unit.standins.superset_main_api_key_scopes import METHOD_PERMISSION_SCOPE_ACTION, get_resource_scope
from tests.unit.standins.superset_main_mcp_config import (
    MCP_GUEST_ALLOWED_TOOLS,
    _is_mcp_guest_auth_enabled,
    default_user_resolver,
    get_mcp_api_key_enabled,
    validate_multi_issuer_user_resolver,
)
from tests.unit.standins.superset_main_verifiers import (
    API_KEY_PASSTHROUGH_CLAIM,
    API_KEY_VALIDATED_USERNAME_CLAIM,
    GUEST_TOKEN_CLAIM,
)

PERMISSION_PREFIX = "can_"
CLASS_PERMISSION_ATTR = "_class_permission_name"
METHOD_PERMISSION_ATTR = "_method_permission_name"

_METHOD_TO_REQUIRED_SCOPE = {method: f"superset:{action}" for method, action in METHOD_PERMISSION_SCOPE_ACTION.items()}
_DEFAULT_GUEST_ALLOWED_TOOLS: frozenset[str] = frozenset(MCP_GUEST_ALLOWED_TOOLS)


class User:
    def __init__(self, username: str, permissions: set[tuple[str, str]], active: bool = True,
                 email: str | None = None) -> None:
        self.username = username
        self.permissions = permissions
        self.is_active = active
        self.email = email
        self.roles: list[Any] = []


class GuestUser(User):
    """An embedded guest (Superset's ``GuestUser``)."""


USERS: dict[str, User] = {}
#: Every call of check_tool_permission: (tool name, keyword arguments).
PERMISSION_CALLS: list[tuple[str, dict[str, Any]]] = []


class MCPNoAuthSourceError(ValueError):
    """No authentication source applies."""


class MCPPermissionDeniedError(PermissionError):
    pass


def load_user_with_relationships(username: str | None = None, email: str | None = None) -> User | None:
    if email is not None:
        return next((u for u in USERS.values() if u.email == email), None)
    return USERS.get(username or "")


def _get_token_scopes() -> set[str] | None:
    scopes = getattr(get_access_token(), "scopes", None)
    return {str(s) for s in scopes} if scopes else None


def _token_scope_allows(method_permission_name: str, class_permission_name: str | None = None) -> bool:
    token_scopes = _get_token_scopes()
    if token_scopes is None:
        return True
    required_scope = _METHOD_TO_REQUIRED_SCOPE.get(method_permission_name)
    if required_scope is None:
        return False  # fail closed: an unmapped method permission
    if required_scope in token_scopes:
        return True
    if class_permission_name is not None:
        resource_scope = get_resource_scope(class_permission_name, method_permission_name)
        if resource_scope is not None and resource_scope in token_scopes:
            return True
    return False


def _guest_allowed_tools() -> frozenset[str]:
    allowed = current_app.config.get("MCP_GUEST_ALLOWED_TOOLS")
    return frozenset(allowed) if isinstance(allowed, (set, frozenset, list, tuple)) else _DEFAULT_GUEST_ALLOWED_TOOLS


def _tool_denied_for_principal(func: Callable[..., Any]) -> bool:
    policy = current_app.config.get("MCP_RESTRICTED_TOOL_POLICY") or (
        lambda user: _guest_allowed_tools() if isinstance(user, GuestUser) else None
    )
    allowed = policy(getattr(g, "user", None))
    return allowed is not None and getattr(func, "__name__", None) not in allowed


def check_tool_permission(func: Callable[..., Any], *, log_denial: bool = True) -> bool:
    PERMISSION_CALLS.append((func.__name__, {"log_denial": log_denial}))
    if _tool_denied_for_principal(func):
        return False
    if not current_app.config.get("MCP_RBAC_ENABLED", True):
        return True
    if not getattr(g, "user", None):
        return False
    method_permission_name = getattr(func, METHOD_PERMISSION_ATTR, "read")
    class_permission_name = getattr(func, CLASS_PERMISSION_ATTR, None)
    if not class_permission_name:
        return _token_scope_allows(method_permission_name)
    has_permission = (f"{PERMISSION_PREFIX}{method_permission_name}", class_permission_name) in g.user.permissions
    if has_permission and not _token_scope_allows(method_permission_name, class_permission_name):
        return False
    return has_permission


check_tool_permission.superset_marker = "kept"  # type: ignore[attr-defined]


def is_tool_visible_to_current_user(tool: Any) -> bool:
    tool_func = getattr(tool, "fn", None)
    if tool_func is None:
        return True
    if _tool_denied_for_principal(tool_func):
        return False
    if not current_app.config.get("MCP_RBAC_ENABLED", True):
        return True
    if not getattr(tool_func, CLASS_PERMISSION_ATTR, None):
        return True
    return check_tool_permission(tool_func, log_denial=False)


def _resolve_user_from_jwt_context(app: Any) -> User | None:
    access_token = get_access_token()
    if access_token is None:
        return None
    claims = getattr(access_token, "claims", None)
    if isinstance(claims, dict) and claims.get(GUEST_TOKEN_CLAIM) and access_token.client_id == "guest":
        if not _is_mcp_guest_auth_enabled(app):
            return None  # guest-marked, but guest auth is off
        return GuestUser(str(claims.get("user", {}).get("username", "guest")), set())
    if isinstance(claims, dict) and claims.get(API_KEY_PASSTHROUGH_CLAIM) and access_token.client_id == "api_key":
        return None  # an API key: _resolve_user_from_api_key
    validate_multi_issuer_user_resolver(app)
    resolver = app.config.get("MCP_USER_RESOLVER", default_user_resolver)
    username = resolver(app, access_token)
    if not username:
        raise ValueError("JWT context present but no username could be extracted from claims")
    user = load_user_with_relationships(username)
    if not user and "@" in username:
        user = load_user_with_relationships(email=username)
    if not user:
        raise ValueError("JWT authenticated user not found in Superset database.")
    return user


def _resolve_user_from_api_key(app: Any) -> User | None:
    if not get_mcp_api_key_enabled(app):
        return None
    access_token = get_access_token()
    claims = getattr(access_token, "claims", None)
    if not (isinstance(claims, dict) and claims.get(API_KEY_PASSTHROUGH_CLAIM)):
        return None
    if access_token.client_id != "api_key":
        return None
    user = load_user_with_relationships(username=claims.get(API_KEY_VALIDATED_USERNAME_CLAIM))
    if user is None:
        raise PermissionError("API key owner not found in database.")
    return user


def get_user_from_request() -> User:
    if (jwt_user := _resolve_user_from_jwt_context(current_app)) is not None:
        return jwt_user
    if (api_key_user := _resolve_user_from_api_key(current_app)) is not None:
        return api_key_user
    if username := current_app.config.get("MCP_DEV_USERNAME"):
        user = load_user_with_relationships(username)
        if not user:
            raise ValueError(f"User '{username}' not found.")
        return user
    if getattr(g, "user", None):
        return g.user
    raise MCPNoAuthSourceError("Authentication required. No valid credentials provided.")


def _setup_user_context() -> User | None:
    g.pop("user", None)
    user = get_user_from_request()
    if not user.is_active:
        raise ValueError("Account is disabled.")
    g.user = user
    return user


def mcp_auth_hook(tool_func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(tool_func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with current_app.app_context():
            user = _setup_user_context()
            if not check_tool_permission(tool_func):
                raise MCPPermissionDeniedError(f"Permission denied for user {user.username} ({tool_func.__name__})")
            return tool_func(*args, **kwargs)

    # As main does: the wrapper runs with a snapshot of this module's globals
    # (merged with the tool's), taken when the tool is registered.
    merged_globals = {**wrapper.__globals__, **tool_func.__globals__}
    new_wrapper = types.FunctionType(wrapper.__code__, merged_globals, wrapper.__name__,
                                     wrapper.__defaults__, wrapper.__closure__)
    new_wrapper.__dict__.update({k: v for k, v in wrapper.__dict__.items() if k != "__wrapped__"})
    new_wrapper._mcp_auth_protected = True  # type: ignore[attr-defined]
    return new_wrapper
