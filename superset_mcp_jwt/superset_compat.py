"""Every touch of Superset's internals, in one module.

Superset's MCP server (``superset mcp run``) takes its auth provider from the
supported ``MCP_AUTH_FACTORY`` hook, but Superset 6.1.0 has no hook that turns
the verified token into the user a tool runs as. This module detects what the
installed Superset offers and bridges identity through it:

* 6.1.0 shape: ``superset.mcp_service.auth._setup_user_context`` calls the
  module-level ``get_user_from_request()``; we replace that function with one
  that reads the user from the token our provider verified for this request.
* releases that call ``MCP_USER_RESOLVER``: we set it.
* anything else: start-up is refused (never run tools without identity).
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from importlib import metadata
from typing import TYPE_CHECKING, Any, Callable, Optional

from flask import Flask

from .errors import ConfigError

if TYPE_CHECKING:
    from .manager import MCPJWTManager

logger = logging.getLogger(__name__)

_AUTH_MODULE = "superset.mcp_service.auth"
PATCH_GET_USER = "get_user_from_request"
CONFIG_USER_RESOLVER = "MCP_USER_RESOLVER"


def is_superset_app(app: Flask) -> bool:
    """True when ``app`` is Superset's own Flask app class."""
    superset_app = sys.modules.get("superset.app")
    return superset_app is not None and isinstance(app, getattr(superset_app, "SupersetApp", ()))


def superset_version() -> str:
    try:
        return metadata.version("apache-superset")
    except metadata.PackageNotFoundError:
        return "unknown"


def install(app: Flask, manager: "MCPJWTManager") -> None:
    """Hand Superset's MCP server our auth provider and identity bridge.

    Does nothing for a Flask app that is not Superset, or a Superset without an
    MCP service. Raises :class:`ConfigError`, before changing anything, when it
    cannot install both halves.
    """
    if not is_superset_app(app):
        return
    try:
        auth_module = importlib.import_module(_AUTH_MODULE)
    except ImportError:
        logger.info("Superset %s has no MCP service; only the Flask guard is active", superset_version())
        return
    if app.config.get("MCP_AUTH_FACTORY") is not None:
        raise ConfigError(
            "MCP_AUTH_FACTORY",
            "is already set; superset-mcp-jwt provides the MCP auth provider itself. "
            "Remove MCP_AUTH_FACTORY, or do not use superset_mcp_jwt.init_app",
        )
    hook = identity_hook(auth_module)

    app.config["MCP_AUTH_FACTORY"] = create_auth_provider
    if hook == PATCH_GET_USER:
        if not getattr(auth_module.get_user_from_request, "_superset_mcp_jwt", False):
            auth_module.get_user_from_request = _user_from_verified_token(auth_module)
    else:
        app.config[CONFIG_USER_RESOLVER] = _resolver_for_config
    logger.info(
        "superset-mcp-jwt: MCP server auth installed (Superset %s, identity via %s)",
        superset_version(),
        hook,
    )


ACTION = "mcp_jwt_auth"


def action_log(app: Flask) -> Optional[Callable[[Optional[int], dict[str, Any]], None]]:
    """A writer to Superset's event logger (its action log), or None outside Superset."""
    if not is_superset_app(app):
        return None

    def record(user_id: Optional[int], payload: dict[str, Any]) -> None:
        from superset.extensions import event_logger

        event_logger.log(user_id, ACTION, None, None, None, None, records=[payload])

    return record


def keep_permission_admin_only(app: Flask, view_menu: str) -> None:
    """Keep ``superset init`` from granting ``view_menu``'s permissions to Gamma/Alpha.

    Superset's role sync hands every permission it does not know to its
    built-in roles; listing the view as admin-only leaves granting it to the
    administrator (Admin gets it; custom roles get it when an admin adds it).
    """
    sm = app.appbuilder.sm
    admin_only = getattr(sm, "ADMIN_ONLY_VIEW_MENUS", None)
    if is_superset_app(app) and isinstance(admin_only, set):
        sm.ADMIN_ONLY_VIEW_MENUS = admin_only | {view_menu}


def identity_hook(auth_module: types.ModuleType) -> str:
    """Which way the installed Superset lets us set the MCP user; refuse if none."""
    setup = getattr(auth_module, "_setup_user_context", None)
    if (
        isinstance(setup, types.FunctionType)
        and "get_user_from_request" in setup.__code__.co_names
        and callable(getattr(auth_module, "get_user_from_request", None))
        and callable(getattr(auth_module, "load_user_with_relationships", None))
    ):
        return PATCH_GET_USER
    if _module_mentions(auth_module, CONFIG_USER_RESOLVER):
        return CONFIG_USER_RESOLVER
    raise ConfigError(
        "MCP_AUTH_ENABLED",
        f"superset-mcp-jwt does not know how Superset {superset_version()} maps an "
        "MCP request to a user, so MCP tools would run without the token's "
        "identity; refusing to start. Upgrade superset-mcp-jwt.",
    )


def _module_mentions(module: types.ModuleType, text: str) -> bool:
    def consts(code: types.CodeType) -> bool:
        return any(
            c == text or (isinstance(c, types.CodeType) and consts(c)) for c in code.co_consts
        )

    return any(
        isinstance(f, types.FunctionType) and f.__module__ == module.__name__ and consts(f.__code__)
        for f in vars(module).values()
    )


def _user_from_verified_token(auth_module: types.ModuleType) -> Callable[[], Any]:
    def get_user_from_request() -> Any:
        """The user named by this request's verified bearer token (superset-mcp-jwt)."""
        from .mcp_server import verified_username

        username = verified_username()
        if username is None:
            raise ValueError(
                "No authenticated user: this MCP request carries no bearer token "
                "verified by superset-mcp-jwt."
            )
        user = auth_module.load_user_with_relationships(username=username)
        if user is None or not user.is_active:
            raise ValueError("The MCP user is unknown or inactive.")
        return user

    get_user_from_request._superset_mcp_jwt = True  # type: ignore[attr-defined]
    return get_user_from_request


def _resolver_for_config(app: Any, access_token: Any) -> Optional[str]:
    from .mcp_server import UserAccessToken

    return access_token.username if isinstance(access_token, UserAccessToken) else None


def create_auth_provider(flask_app: Flask) -> Any:
    """``MCP_AUTH_FACTORY``: build our FastMCP auth provider.

    Superset 6.1.0 catches any ``Exception`` from the factory and then serves
    MCP with no authentication; so every failure here becomes ``SystemExit``.
    """
    try:
        from .manager import get_manager
        from .mcp_server import MCPJWTAuthProvider

        return MCPJWTAuthProvider(flask_app, get_manager(flask_app))
    except Exception as exc:
        logger.critical(
            "superset-mcp-jwt could not build the MCP auth provider (%s); "
            "refusing to serve MCP without authentication",
            exc.__class__.__name__,
        )
        raise SystemExit(
            "superset-mcp-jwt: refusing to start the MCP server without authentication"
        ) from exc
