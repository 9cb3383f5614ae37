"""Start-up refusal when the installed Superset offers no identity hook or no
permission check, with stand-in ``superset.app`` and ``superset.mcp_service.auth``
modules (the real 6.1.0 module is covered in tests/superset/test_blueprint.py).

A Superset whose MCP service we cannot hook into would run tools without the
token's identity, or let scope-narrowed tokens exceed their scopes: start-up
must stop with a ConfigError before anything is changed.
"""

from __future__ import annotations

import textwrap
import types
import pytest
from flask import Flask

from superset_mcp_jwt import superset_compat
from superset_mcp_jwt.errors import ConfigError
from superset_mcp_jwt.manager import MCPJWTManager
from tests.documented import documented_config

SECRET = "vU3Tq0h8kXw1s9bYpL2mZr7cN5aJ4eFgHdKiOoQtRsE"

#: Superset 6.1.0's shape: _setup_user_context calls get_user_from_request, the
#: tool wrapper (nested in mcp_auth_hook) calls check_tool_permission.
SUPERSET_61 = """
CLASS_PERMISSION_ATTR = "_class_permission_name"
METHOD_PERMISSION_ATTR = "_method_permission_name"

def load_user_with_relationships(username=None, email=None):
    return None

def get_user_from_request():
    return load_user_with_relationships(username="someone")

def _setup_user_context():
    return get_user_from_request()

def check_tool_permission(func):
    return True

def mcp_auth_hook(tool_func):
    def wrapper(*args, **kwargs):
        if not check_tool_permission(tool_func):
            raise PermissionError(tool_func)
        return tool_func(*args, **kwargs)
    return wrapper
"""

#: A release that asks the config for a user resolver instead.
RESOLVER_RELEASE = """
CLASS_PERMISSION_ATTR = "_class_permission_name"
METHOD_PERMISSION_ATTR = "_method_permission_name"

def _setup_user_context(app):
    return app.config.get("MCP_USER_RESOLVER")

def check_tool_permission(func):
    return True

def mcp_auth_hook(tool_func):
    def wrapper(*args, **kwargs):
        if not check_tool_permission(tool_func):
            raise PermissionError(tool_func)
        return tool_func(*args, **kwargs)
    return wrapper
"""

NO_IDENTITY_HOOK = {
    # _setup_user_context finds the user some other way: nothing to bridge through.
    "user-context-without-get-user": SUPERSET_61.replace(
        "def _setup_user_context():\n    return get_user_from_request()",
        "def _setup_user_context():\n    return load_user_with_relationships(username='x')",
    ),
    # the function we would patch is not in the module (still named in the code)
    "no-get-user-function": SUPERSET_61.replace(
        "def get_user_from_request():", "def _renamed_get_user():"
    ),
    # the loader our replacement calls is gone
    "no-user-loader": SUPERSET_61.replace(
        "def load_user_with_relationships(", "def _renamed_loader("
    ),
    # no _setup_user_context at all
    "no-user-context": SUPERSET_61.replace("def _setup_user_context():", "def _other():"),
}

NO_PERMISSION_CHECK = {
    # the tool wrapper no longer calls check_tool_permission
    "hook-without-check": SUPERSET_61.replace(
        "        if not check_tool_permission(tool_func):\n            raise PermissionError(tool_func)\n",
        "",
    ),
    # check_tool_permission is not in the module (still named in the wrapper)
    "no-check-function": SUPERSET_61.replace(
        "def check_tool_permission(func):", "def _renamed_check(func):"
    ),
    # no mcp_auth_hook at all
    "no-auth-hook": SUPERSET_61.replace("def mcp_auth_hook(tool_func):", "def _other_hook(tool_func):"),
    # the resolver release without the permission check
    "resolver-release-without-check": RESOLVER_RELEASE.replace(
        "        if not check_tool_permission(tool_func):\n            raise PermissionError(tool_func)\n",
        "",
    ),
}


def stand_in_auth(source: str) -> types.ModuleType:
    module = types.ModuleType("superset.mcp_service.auth")
    exec(compile(textwrap.dedent(source), "<stand-in superset.mcp_service.auth>", "exec"), module.__dict__)
    return module


@pytest.fixture
def superset_like(monkeypatch: pytest.MonkeyPatch):
    """Install stand-ins for ``superset.app`` and ``superset.mcp_service.auth``; return
    a factory for a "Superset" app with the documented config."""

    class SupersetApp(Flask):
        pass

    app_module = types.ModuleType("superset.app")
    app_module.SupersetApp = SupersetApp  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "superset.app", app_module)

    def make(source: str) -> tuple[Flask, types.ModuleType]:
        auth = stand_in_auth(source)
        monkeypatch.setitem(__import__("sys").modules, "superset.mcp_service.auth", auth)
        app = SupersetApp(__name__)
        # Only the MCP server hooks are under test: no token page, store or action log.
        app.config.update(documented_config(
            SECRET, MCP_JWT_TOKEN_PAGE=False, MCP_JWT_REVOCATION_STORE=False,
            MCP_JWT_AUDIT_ACTION_LOG=False,
        ))
        app.appbuilder = object()  # init_app only checks it is there
        return app, auth

    return make


def start(app: Flask) -> MCPJWTManager:
    manager = MCPJWTManager()
    manager.init_app(app)
    return manager


def refused(app: Flask, auth: types.ModuleType, what: str) -> None:
    """Start-up stops with a ConfigError naming ``what``, before changing anything."""
    before = dict(vars(auth))
    with pytest.raises(ConfigError) as info:
        start(app)
    error = info.value
    assert error.key == "MCP_AUTH_ENABLED"
    assert what in str(error)
    assert "refusing to start" in str(error)
    # Refused before changing anything: no auth factory, no resolver, no patched
    # functions, and the app is not marked as set up.
    assert "MCP_AUTH_FACTORY" not in app.config
    assert "MCP_USER_RESOLVER" not in app.config
    assert "superset_mcp_jwt" not in app.extensions
    assert vars(auth) == before
    for name in ("get_user_from_request", "check_tool_permission"):
        assert not getattr(getattr(auth, name, None), "_superset_mcp_jwt", False)


def test_the_stand_in_of_supersets_61_shape_is_accepted(superset_like):
    # Control: the same stand-in, unaltered, installs both halves.
    app, auth = superset_like(SUPERSET_61)
    original_check = auth.check_tool_permission
    start(app)
    assert app.config["MCP_AUTH_FACTORY"] is superset_compat.create_auth_provider
    assert auth.get_user_from_request._superset_mcp_jwt
    assert auth.check_tool_permission._superset_mcp_jwt
    assert auth.check_tool_permission is not original_check
    assert "MCP_USER_RESOLVER" not in app.config
    assert superset_compat.identity_hook(auth) == superset_compat.PATCH_GET_USER


def test_a_release_with_a_config_user_resolver_gets_one(superset_like):
    app, auth = superset_like(RESOLVER_RELEASE)
    start(app)
    assert app.config["MCP_AUTH_FACTORY"] is superset_compat.create_auth_provider
    assert callable(app.config["MCP_USER_RESOLVER"])
    assert auth.check_tool_permission._superset_mcp_jwt
    assert superset_compat.identity_hook(auth) == superset_compat.CONFIG_USER_RESOLVER


@pytest.mark.parametrize("source", list(NO_IDENTITY_HOOK.values()), ids=list(NO_IDENTITY_HOOK))
def test_no_identity_hook_refuses_start_up(superset_like, source):
    app, auth = superset_like(source)
    refused(app, auth, "maps an MCP request to a user")
    with pytest.raises(ConfigError):
        superset_compat.identity_hook(auth)


@pytest.mark.parametrize("source", list(NO_PERMISSION_CHECK.values()), ids=list(NO_PERMISSION_CHECK))
def test_no_permission_check_refuses_start_up(superset_like, source):
    app, auth = superset_like(source)
    refused(app, auth, "permission check")
