"""Where the extension is kept on an app: faces find it here at request time.

A leaf module: it imports nothing of the package at run time, so any face can
use it without importing the composition root (``manager.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from .manager import MCPJWTManager

#: Where the manager is kept: ``app.extensions[EXTENSION_KEY]``.
EXTENSION_KEY = "superset_mcp_jwt"


def get_manager(app: Flask) -> "MCPJWTManager":
    """The manager installed on ``app`` by :func:`superset_mcp_jwt.init_app`."""
    return app.extensions[EXTENSION_KEY]
