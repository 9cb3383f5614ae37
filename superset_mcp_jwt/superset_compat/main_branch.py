"""Superset main's shape: ``get_user_from_request`` asks ``MCP_USER_RESOLVER`` for the token's user.

There ``resolver(app, access_token)`` returns a user name; we set it to one
that answers with the user our provider verified, and replace no module
function for identity. Superset filters ``tools/list`` itself there, through
``check_tool_permission``.
"""

from __future__ import annotations

import types
from typing import Any, Optional

from flask import Flask

from ..errors import ConfigError
from .code import holds_constant

#: The identity hook this shape offers (a config key).
HOOK = "MCP_USER_RESOLVER"


def matches(auth_module: types.ModuleType) -> bool:
    """True if a function of the auth module reads ``MCP_USER_RESOLVER``."""
    return holds_constant(auth_module, HOOK)


def check(app: Flask, auth_module: types.ModuleType) -> None:
    """Refuse an ``MCP_USER_RESOLVER`` of the operator's: we map tokens to users ourselves."""
    if app.config.get(HOOK) not in (None, resolver_for_config):
        raise ConfigError(
            HOOK,
            "is already set; superset-mcp-jwt maps tokens to users itself. Move the "
            "mapping to MCP_JWT_USER_RESOLVER (called as resolver(claims, security_manager))",
        )


def install(app: Flask, auth_module: types.ModuleType) -> None:
    app.config[HOOK] = resolver_for_config


def resolver_for_config(app: Any, access_token: Any) -> Optional[str]:
    """``MCP_USER_RESOLVER``: the user name our provider verified, else None (Superset denies)."""
    from ..mcp_server import UserAccessToken

    return access_token.username if isinstance(access_token, UserAccessToken) else None
