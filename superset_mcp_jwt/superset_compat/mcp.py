"""Handing Superset's MCP server (``superset mcp run``) our auth provider and identity bridge.

The provider goes in through the supported ``MCP_AUTH_FACTORY`` hook. How the
tool user is set depends on the installed Superset, detected here from the
shape of ``superset.mcp_service.auth`` (never assumed from a version number):
the first of :data:`SHAPES` that matches wins; with none, start-up is refused,
naming what is missing (tools must never run without the token's identity).
"""

from __future__ import annotations

import importlib
import logging
import types
from typing import Any, Optional

from flask import Flask

from ..errors import ConfigError
from ..registry import get_manager
from . import main_branch, release_6_1, response_cache, superset_verifiers
from .app import is_superset_app, superset_version
from .code import module_exists
from .permissions import AUTH_MODULE, check_permission_shape, install_scope_narrowing, visible_tools
from .step_up import ToolStepUp

logger = logging.getLogger("superset_mcp_jwt.superset_compat")

#: The Superset shapes we know, most recent first (main also still has 6.1.0's functions).
SHAPES = (main_branch, release_6_1)
PATCH_GET_USER = release_6_1.HOOK
CONFIG_USER_RESOLVER = main_branch.HOOK
MCP_CONFIG = "superset.mcp_service.mcp_config"


def install(app: Flask) -> None:
    """Hand Superset's MCP server our auth provider and identity bridge.

    Does nothing for a Flask app that is not Superset, or a Superset without an
    MCP service. Raises :class:`ConfigError`, before changing anything, when it
    cannot install both halves.
    """
    if not is_superset_app(app):
        return
    try:
        auth_module = importlib.import_module(AUTH_MODULE)
    except ImportError:
        logger.info("Superset %s has no MCP service; only the Flask guard is active", superset_version())
        return
    if app.config.get("MCP_AUTH_FACTORY") is not None:
        raise ConfigError(
            "MCP_AUTH_FACTORY",
            "is already set; superset-mcp-jwt provides the MCP auth provider itself. "
            "Remove MCP_AUTH_FACTORY, or do not use superset_mcp_jwt.init_app",
        )
    shape = _shape(auth_module)
    check_permission_shape(auth_module)
    shape.check(app, auth_module)
    superset_verifiers.check(app, _module(MCP_CONFIG))
    response_cache.check(app.config)

    app.config["MCP_AUTH_FACTORY"] = create_auth_provider
    shape.install(app, auth_module)
    install_scope_narrowing(auth_module)
    logger.info(
        "superset-mcp-jwt: MCP server auth installed (Superset %s, identity via %s)",
        superset_version(),
        shape.HOOK,
    )


def _module(name: str) -> Optional[types.ModuleType]:
    """Superset's module ``name`` if this Superset has it (importing a missing one imports nothing)."""
    if not module_exists(name):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def identity_hook(auth_module: types.ModuleType) -> str:
    """Which way the installed Superset lets us set the MCP user; refuse if none."""
    return _shape(auth_module).HOOK


def _shape(auth_module: types.ModuleType) -> Any:
    for shape in SHAPES:
        if shape.matches(auth_module):
            return shape
    raise ConfigError(
        "MCP_AUTH_ENABLED",
        f"superset-mcp-jwt does not know how Superset {superset_version()} maps an "
        f"MCP request to a user: {AUTH_MODULE} has no function reading "
        f"{CONFIG_USER_RESOLVER}, and no _setup_user_context calling "
        "get_user_from_request with load_user_with_relationships beside it, so MCP "
        "tools would run without the token's identity; refusing to start. "
        "Upgrade superset-mcp-jwt.",
    )


def superset_filters_tool_lists() -> bool:
    """True if Superset hides tools a user cannot call (main's RBACToolVisibilityMiddleware)."""
    try:
        middleware = importlib.import_module("superset.mcp_service.middleware")
    except ImportError:
        return False
    return hasattr(middleware, "RBACToolVisibilityMiddleware")


def _filter_tool_lists(flask_app: Flask) -> None:
    """Add our tool-list filter to Superset's FastMCP server (outermost middleware)."""
    from superset.mcp_service.app import mcp

    from ..mcp_server import ToolVisibilityMiddleware

    if not any(isinstance(m, ToolVisibilityMiddleware) for m in mcp.middleware):
        mcp.add_middleware(
            ToolVisibilityMiddleware(lambda user, tools: visible_tools(flask_app, user, tools))
        )


def create_auth_provider(flask_app: Flask) -> Any:
    """``MCP_AUTH_FACTORY``: build our FastMCP auth provider.

    Superset 6.1.0 catches any ``Exception`` from the factory and then serves
    MCP with no authentication; so every failure here becomes ``SystemExit``.
    """
    try:
        from ..mcp_server import MCPJWTAuthProvider

        authenticator = get_manager(flask_app).authenticator
        if authenticator is None:
            raise RuntimeError("MCP_AUTH_ENABLED is not on")
        if not superset_filters_tool_lists():
            _filter_tool_lists(flask_app)
        return MCPJWTAuthProvider(flask_app, authenticator, step_up=ToolStepUp(flask_app))
    except Exception as exc:
        logger.critical(
            "superset-mcp-jwt could not build the MCP auth provider (%s); "
            "refusing to serve MCP without authentication",
            exc.__class__.__name__,
        )
        raise SystemExit(
            "superset-mcp-jwt: refusing to start the MCP server without authentication"
        ) from exc
