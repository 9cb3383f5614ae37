"""JWT bearer authentication for Apache Superset's MCP server.

Enable it in ``superset_config.py``::

    import superset_mcp_jwt
    FLASK_APP_MUTATOR = superset_mcp_jwt.init_app
"""

from .authn import Authenticator
from .errors import ConfigError, Reason, TokenError
from .identity import Identity, resolve_identity
from .manager import MCPJWTManager, init_app
from .registry import EXTENSION_KEY, get_manager
from .settings import DEFAULTS, Settings
from .tokens import TokenVerifier, bearer_token, sign_token

__version__ = "0.1.0"

__all__ = [
    "Authenticator",
    "ConfigError",
    "DEFAULTS",
    "EXTENSION_KEY",
    "Identity",
    "MCPJWTManager",
    "Reason",
    "Settings",
    "TokenError",
    "TokenVerifier",
    "bearer_token",
    "get_manager",
    "init_app",
    "resolve_identity",
    "sign_token",
]
