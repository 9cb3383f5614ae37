"""superset_compat against stand-ins for Superset main and 6.1.0 (tests/unit/standins/).

The stand-ins are installed as ``superset.mcp_service.auth`` (and ``.middleware``)
in ``sys.modules``; the real 6.1.0 is covered by tests/superset/.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import types
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser

from superset_mcp_jwt import superset_compat
from superset_mcp_jwt.errors import ConfigError
from superset_mcp_jwt.mcp_server import UserAccessToken
from superset_mcp_jwt.tokens import scopes_for_superset

STANDINS = Path(__file__).parent / "standins"
READ, WRITE, SQL = ("can_read", "Chart"), ("can_write", "Chart"), ("can_execute_sql_query", "SQLLab")


class SupersetApp(Flask):
    """Stands in for superset.app.SupersetApp (is_superset_app checks the class)."""


def load(name: str, file: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, STANDINS / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def modules() -> Iterator[None]:
    """Restores sys.modules' superset entries after the test (stand-ins loaded by it included)."""
    names = ("superset.app", "superset.mcp_service.auth", "superset.mcp_service.middleware")
    saved = {name: sys.modules.get(name) for name in names}
    for name in names:
        sys.modules.pop(name, None)
    sys.modules["superset.app"] = types.SimpleNamespace(SupersetApp=SupersetApp)  # type: ignore[assignment]
    yield
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


def tools(auth: types.ModuleType) -> dict[str, Any]:
    """Tool functions as Superset registers them: permission markers, wrapped by mcp_auth_hook."""

    def make(name: str, cls: str | None, method: str) -> Any:
        def fn() -> str:
            return name

        fn.__name__ = name
        if cls is not None:
            setattr(fn, auth.CLASS_PERMISSION_ATTR, cls)
            setattr(fn, auth.METHOD_PERMISSION_ATTR, method)
        return auth.mcp_auth_hook(fn)

    return {
        "health_check": make("health_check", None, "read"),
        "list_charts": make("list_charts", "Chart", "read"),
        "update_chart": make("update_chart", "Chart", "write"),
        "execute_sql": make("execute_sql", "SQLLab", "execute_sql_query"),
    }


def as_tools(functions: dict[str, Any]) -> list[Any]:
    return [types.SimpleNamespace(name=name, fn=fn) for name, fn in functions.items()]


def bearer(user: str, *scopes: str) -> Any:
    """Make this the request's access token, as our provider builds it."""
    scope_list = list(scopes)
    token = UserAccessToken(
        token="t", client_id=user, subject=user,
        scopes=scopes_for_superset(scope_list), expires_at=int(time.time()) + 60,
        claims={"sub": user, "scope": " ".join(scope_list)} if scopes else {"sub": user},
        username=user,
    )
    return auth_context_var.set(AuthenticatedUser(token))


def callable_tools(app: Flask, functions: dict[str, Any]) -> set[str]:
    allowed = set()
    with app.app_context():
        for name, fn in functions.items():
            try:
                fn()
                allowed.add(name)
            except (PermissionError, ValueError):  # denied, or no such user
                pass
    return allowed


def main_app(auth: types.ModuleType) -> SupersetApp:
    auth.USERS.clear()
    auth.USERS["alice"] = auth.User("alice", {READ})
    auth.USERS["admin"] = auth.User("admin", {READ, WRITE, SQL})
    app = SupersetApp("standin")
    superset_compat.install(app)
    return app


def test_main_identity_goes_through_mcp_user_resolver_without_replacing_functions(modules):
    auth = load("superset.mcp_service.auth", "superset_main_auth.py")
    original_get_user = auth.get_user_from_request
    assert superset_compat.identity_hook(auth) == superset_compat.CONFIG_USER_RESOLVER
    app = main_app(auth)
    assert app.config["MCP_USER_RESOLVER"] is superset_compat.main_branch.resolver_for_config
    assert app.config["MCP_AUTH_FACTORY"] is superset_compat.create_auth_provider
    assert auth.get_user_from_request is original_get_user
    reset = bearer("alice")
    try:
        with app.app_context():
            assert auth.get_user_from_request().username == "alice"
    finally:
        auth_context_var.reset(reset)


def test_main_wrapper_passes_keywords_on_and_keeps_superset_attributes(modules):
    auth = load("superset.mcp_service.auth", "superset_main_auth.py")
    original = auth.check_tool_permission
    app = main_app(auth)
    wrapper = auth.check_tool_permission
    assert wrapper is not original and wrapper.__wrapped__ is original
    assert wrapper.superset_marker == "kept" and wrapper.__name__ == "check_tool_permission"
    functions = tools(auth)
    assert all(fn._mcp_auth_protected for fn in functions.values())
    reset = bearer("admin")
    try:
        with app.app_context():
            from flask import g

            g.user = auth.USERS["admin"]
            auth.PERMISSION_CALLS.clear()
            assert wrapper(functions["list_charts"], log_denial=False) is True
            assert auth.PERMISSION_CALLS == [("list_charts", {"log_denial": False})]
    finally:
        auth_context_var.reset(reset)


@pytest.mark.parametrize(
    "user, scopes, expected",
    [
        ("admin", (), {"health_check", "list_charts", "update_chart", "execute_sql"}),
        ("alice", (), {"health_check", "list_charts"}),
        ("admin", ("mcp:read",), {"health_check", "list_charts"}),
        ("admin", ("mcp:write",), {"health_check", "list_charts", "update_chart"}),
        ("admin", ("mcp:sql",), {"health_check", "list_charts", "execute_sql"}),
        ("admin", ("superset:read",), {"health_check", "list_charts"}),
        # A tool without a permission class needs a flat scope for its method (read) on main;
        # main's own listing still shows it (is_tool_visible_to_current_user skips the scopes there).
        ("admin", ("superset:write",), {"update_chart", "execute_sql"}),
        ("admin", ("superset:chart:read",), {"list_charts"}),
        ("admin", ("openid",), {"health_check", "list_charts", "update_chart", "execute_sql"}),
    ],
)
def test_main_listing_by_supersets_middleware_matches_what_calls_allow(modules, user, scopes, expected):
    auth = load("superset.mcp_service.auth", "superset_main_auth.py")
    app = main_app(auth)  # installed before the middleware imports get_user_from_request by name
    middleware = load("superset.mcp_service.middleware", "superset_main_middleware.py")
    assert superset_compat.superset_filters_tool_lists()
    functions = tools(auth)
    reset = bearer(user, *scopes)
    try:
        with app.app_context():
            visible = middleware.RBACToolVisibilityMiddleware._visible_tools(as_tools(functions))
        listed = {t.name for t in visible}
        assert listed == expected | {"health_check"}
        assert callable_tools(app, functions) == expected
    finally:
        auth_context_var.reset(reset)


def test_main_a_token_not_verified_by_us_resolves_to_no_user(modules):
    auth = load("superset.mcp_service.auth", "superset_main_auth.py")
    app = main_app(auth)
    from fastmcp.server.auth import AccessToken

    foreign = AccessToken(token="t", client_id="x", scopes=[], claims={"sub": "admin"})
    reset = auth_context_var.set(AuthenticatedUser(foreign))
    try:
        with app.app_context(), pytest.raises(ValueError):
            auth.get_user_from_request()
    finally:
        auth_context_var.reset(reset)


def test_main_refuses_a_user_supplied_mcp_user_resolver(modules):
    load("superset.mcp_service.auth", "superset_main_auth.py")
    app = SupersetApp("standin")
    app.config["MCP_USER_RESOLVER"] = lambda app, token: "admin"
    with pytest.raises(ConfigError) as caught:
        superset_compat.install(app)
    assert caught.value.key == "MCP_USER_RESOLVER" and "MCP_JWT_USER_RESOLVER" in str(caught.value)
    assert "MCP_AUTH_FACTORY" not in app.config


@pytest.mark.parametrize(
    "user, scopes, expected",
    [
        ("admin", (), {"health_check", "list_charts", "update_chart", "execute_sql"}),
        ("alice", (), {"health_check", "list_charts"}),
        ("admin", ("mcp:read",), {"health_check", "list_charts"}),
        ("admin", ("superset:chart:read",), {"list_charts"}),  # a tool without a class needs a flat scope
        ("nobody", (), set()),
    ],
)
def test_610_bridge_replaces_get_user_and_our_filter_matches_calls(modules, user, scopes, expected):
    auth = load("superset.mcp_service.auth", "superset_61_auth.py")
    auth.USERS.clear()
    auth.USERS["alice"] = auth.User("alice", {READ})
    auth.USERS["admin"] = auth.User("admin", {READ, WRITE, SQL})
    app = SupersetApp("standin")
    assert superset_compat.identity_hook(auth) == superset_compat.PATCH_GET_USER
    superset_compat.install(app)
    assert "MCP_USER_RESOLVER" not in app.config
    assert auth.get_user_from_request._superset_mcp_jwt
    functions = tools(auth)
    reset = bearer(user, *scopes)
    try:
        listed = {t.name for t in superset_compat.visible_tools(app, user, as_tools(functions))}
        assert listed == expected
        assert callable_tools(app, functions) == expected
    finally:
        auth_context_var.reset(reset)


def test_610_has_no_superset_filter(modules):
    load("superset.mcp_service.auth", "superset_61_auth.py")
    sys.modules["superset.mcp_service.middleware"] = types.ModuleType("superset.mcp_service.middleware")
    assert not superset_compat.superset_filters_tool_lists()


def test_an_unknown_identity_shape_refuses_to_start_naming_what_is_missing(modules):
    auth = types.ModuleType("superset.mcp_service.auth")
    exec("def check_tool_permission(func):\n    return True\n", auth.__dict__)
    sys.modules["superset.mcp_service.auth"] = auth
    app = SupersetApp("standin")
    with pytest.raises(ConfigError) as caught:
        superset_compat.install(app)
    message = str(caught.value)
    assert "MCP_USER_RESOLVER" in message and "_setup_user_context" in message
    assert "MCP_AUTH_FACTORY" not in app.config


def test_a_missing_permission_marker_refuses_to_start_naming_it(modules):
    auth = load("superset.mcp_service.auth", "superset_main_auth.py")
    del auth.METHOD_PERMISSION_ATTR
    app = SupersetApp("standin")
    with pytest.raises(ConfigError) as caught:
        superset_compat.install(app)
    assert "METHOD_PERMISSION_ATTR" in str(caught.value)
    assert "MCP_AUTH_FACTORY" not in app.config and "MCP_USER_RESOLVER" not in app.config


@pytest.mark.parametrize(
    "scopes, expected",
    [
        ([], []),
        (["mcp:read"], ["mcp:read", "superset:read"]),
        (["mcp:write"], ["mcp:write", "superset:read", "superset:write"]),
        (["superset:read"], ["superset:read"]),
        (["mcp:unknown"], ["mcp:unknown"]),
    ],
)
def test_scopes_for_superset_add_what_the_token_allows(scopes, expected):
    assert scopes_for_superset(scopes) == expected
