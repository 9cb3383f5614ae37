"""Superset main's own MCP token verifiers (API keys, embedded guest tokens), which our auth factory replaces.

On Superset's main branch the default MCP auth factory wraps its JWT verifier
in a ``CompositeTokenVerifier`` that also accepts Flask-AppBuilder API keys
(``sst_...``; ``MCP_API_KEY_ENABLED``, which falls back to
``FAB_API_KEY_ENABLED``) and embedded guest tokens
(``MCP_EMBEDDED_GUEST_AUTH_ENABLED``). ``MCP_AUTH_FACTORY`` replaces that
factory, and with it both verifiers (review of apache/superset PR #43637):
rather than let such clients meet an unexplained 401, start-up is refused
while either is switched on, naming the key that turns it off.
"""

from __future__ import annotations

import types
from typing import Optional

from flask import Flask

from ..errors import ConfigError
from .code import holds_constant

#: What this Superset's MCP config offers: its API-key switch reader, its guest-token switch.
API_KEY_SWITCH = "get_mcp_api_key_enabled"
GUEST_SWITCH = "MCP_EMBEDDED_GUEST_AUTH_ENABLED"


def check(app: Flask, mcp_config: Optional[types.ModuleType]) -> None:
    """Refuse to start while Superset's own API-key or guest-token verifier is switched on."""
    if mcp_config is None:
        return
    replaced = "superset-mcp-jwt's MCP auth provider replaces Superset's, which is the one that accepts"
    api_keys_on = getattr(mcp_config, API_KEY_SWITCH, None)
    if callable(api_keys_on) and api_keys_on(app):
        key = "MCP_API_KEY_ENABLED" if app.config.get("MCP_API_KEY_ENABLED") is not None else "FAB_API_KEY_ENABLED"
        raise ConfigError(
            key,
            f"switches on Superset's API keys for MCP; {replaced} them (MCP clients "
            "sending sst_... keys would be refused). Set MCP_API_KEY_ENABLED = False "
            "(FAB's REST API keeps its keys), or do not use superset_mcp_jwt.init_app",
        )
    offers_guests = hasattr(mcp_config, GUEST_SWITCH) or holds_constant(mcp_config, GUEST_SWITCH)
    if offers_guests and app.config.get(GUEST_SWITCH):
        raise ConfigError(
            GUEST_SWITCH,
            f"switches on embedded guest tokens for MCP; {replaced} them. Set "
            f"{GUEST_SWITCH} = False, or do not use superset_mcp_jwt.init_app",
        )
