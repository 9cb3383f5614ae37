"""Superset's MCP tool permission check, narrowed by the token's scopes (every Superset shape).

``check_tool_permission`` is wrapped so a token's scopes narrow the user's
rights; the wrapper passes every argument on and keeps Superset's markers.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import sys
import types
from typing import Any, Callable, Iterator, Optional

from flask import Flask

from ..errors import ConfigError
from ..tokens import scope_allows, token_scopes
from .app import superset_version

logger = logging.getLogger("superset_mcp_jwt.superset_compat")

AUTH_MODULE = "superset.mcp_service.auth"

#: Set while tools are being listed (or a step-up probed): a hidden tool is not a denial worth a WARNING.
_listing: contextvars.ContextVar[bool] = contextvars.ContextVar("superset_mcp_jwt_listing", default=False)


@contextlib.contextmanager
def quiet_denials() -> Iterator[None]:
    """Permission checks in this block are probes, not denials: Superset's WARNING lines drop to nothing."""
    token = _listing.set(True)
    try:
        yield
    finally:
        _listing.reset(token)


def calls(module: types.ModuleType, function: str, name: str) -> bool:
    """True if ``module.function`` (or a function nested in it) looks up global ``name``."""

    def names(code: types.CodeType) -> bool:
        return name in code.co_names or any(
            isinstance(c, types.CodeType) and names(c) for c in code.co_consts
        )

    target = getattr(module, function, None)
    return (
        isinstance(target, types.FunctionType)
        and callable(getattr(module, name, None))
        and names(target.__code__)
    )


def check_permission_shape(auth_module: types.ModuleType) -> None:
    """Refuse to start unless the tool permission check we narrow is where we expect it."""
    missing = [
        name
        for name in ("CLASS_PERMISSION_ATTR", "METHOD_PERMISSION_ATTR")
        if not isinstance(getattr(auth_module, name, None), str)
    ]
    if not calls(auth_module, "mcp_auth_hook", "check_tool_permission"):
        missing.insert(0, "mcp_auth_hook calling check_tool_permission")
    if missing:
        raise ConfigError(
            "MCP_AUTH_ENABLED",
            f"superset-mcp-jwt cannot find Superset {superset_version()}'s MCP tool "
            f"permission check ({AUTH_MODULE} lacks {', '.join(missing)}), so "
            "scope-narrowed tokens could exceed their scopes; refusing to start. "
            "Upgrade superset-mcp-jwt.",
        )


def install_scope_narrowing(auth_module: types.ModuleType) -> None:
    """Wrap ``check_tool_permission`` (once) and quiet Superset's denial warnings while listing."""
    if not getattr(auth_module.check_tool_permission, "_superset_mcp_jwt", False):
        auth_module.check_tool_permission = _scope_narrowed_permission_check(auth_module)
    superset_logger = logging.getLogger(auth_module.__name__)
    if not any(isinstance(f, _DuringListing) for f in superset_logger.filters):
        superset_logger.addFilter(_DuringListing())


def _scope_narrowed_permission_check(auth_module: types.ModuleType) -> Callable[..., bool]:
    original = auth_module.check_tool_permission

    @functools.wraps(original)  # keeps Superset's attributes and markers (__dict__)
    def check_tool_permission(func: Any, *args: Any, **kwargs: Any) -> bool:
        """Superset's RBAC check, then the token's scopes (superset-mcp-jwt)."""
        if not original(func, *args, **kwargs):
            return False
        return _scopes_allow(
            func, auth_module, log=kwargs.get("log_denial", True) and not _listing.get()
        )

    check_tool_permission._superset_mcp_jwt = True  # type: ignore[attr-defined]
    return check_tool_permission


def _scopes_allow(func: Any, auth_module: types.ModuleType, log: bool) -> bool:
    from ..mcp_server import verified_token

    token = verified_token()
    if token is None:
        return True
    class_name = getattr(func, auth_module.CLASS_PERMISSION_ATTR, None)
    method = getattr(func, auth_module.METHOD_PERMISSION_ATTR, "read")
    # The token's own scopes (its access token's ``scopes`` are what Superset is shown).
    if scope_allows(token_scopes(token.claims), class_name, method) is not False:
        return True
    logger.log(
        logging.WARNING if log else logging.DEBUG,
        "MCP tool %s needs can_%s, which the token's scopes do not grant",
        getattr(func, "__name__", "?"), method,
    )
    return False


class _DuringListing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _listing.get()


def visible_tools(app: Flask, username: Optional[str], tools: list[Any]) -> list[Any]:
    """The tools this user may call, by the same check as a call.

    Runs in a worker thread with an app context of its own. Tools that
    ``mcp_auth_hook`` does not wrap (the search and call_tool proxies) stay listed.
    """
    auth_module = sys.modules[AUTH_MODULE]

    def protected(tool: Any) -> bool:
        return _hooked(getattr(tool, "fn", None), auth_module)

    with quiet_denials(), app.app_context():
        from flask import g

        user = auth_module.load_user_with_relationships(username=username) if username else None
        if user is None or not user.is_active:
            return [tool for tool in tools if not protected(tool)]
        g.user = user
        return [
            tool for tool in tools
            if not protected(tool) or auth_module.check_tool_permission(tool.fn)
        ]


def _hooked(fn: Any, auth_module: types.ModuleType) -> bool:
    """True if ``fn`` is a tool wrapped by Superset's ``mcp_auth_hook`` (so a call runs the permission check).

    Main marks such wrappers (``_mcp_auth_protected``); 6.1.0's are built from
    the hook's own code, in the auth module's file.
    """
    code = getattr(fn, "__code__", None)
    return bool(getattr(fn, "_mcp_auth_protected", False)) or (
        code is not None and code.co_filename == getattr(auth_module, "__file__", None)
    )
