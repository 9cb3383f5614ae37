"""Superset 6.1.0's shape: the MCP user comes from a module function that never reads the token.

``superset.mcp_service.auth._setup_user_context`` calls the module-level
``get_user_from_request()``, which tries ``g.user`` and ``MCP_DEV_USERNAME``
only. We replace that function with one that loads the user our provider
verified for this request; 6.1.0 lists every tool to every user, so the
provider also filters ``tools/list`` (see :mod:`.provider`).
"""

from __future__ import annotations

import types
from typing import Any, Callable

from flask import Flask

from .permissions import calls

#: The identity hook this shape offers.
HOOK = "get_user_from_request"


def matches(auth_module: types.ModuleType) -> bool:
    """True if ``_setup_user_context`` calls ``get_user_from_request`` with ``load_user_with_relationships`` beside it."""
    return calls(auth_module, "_setup_user_context", "get_user_from_request") and callable(
        getattr(auth_module, "load_user_with_relationships", None)
    )


def check(app: Flask, auth_module: types.ModuleType) -> None:
    """Nothing in the config stands in the way on this shape."""


def install(app: Flask, auth_module: types.ModuleType) -> None:
    """Replace ``get_user_from_request`` (once) with the verified-token lookup."""
    if not getattr(auth_module.get_user_from_request, "_superset_mcp_jwt", False):
        auth_module.get_user_from_request = _user_from_verified_token(auth_module)


def _user_from_verified_token(auth_module: types.ModuleType) -> Callable[[], Any]:
    def get_user_from_request() -> Any:
        """The user named by this request's verified bearer token (superset-mcp-jwt)."""
        from ..mcp_server import verified_token

        token = verified_token()
        username = token.username if token is not None else None
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
