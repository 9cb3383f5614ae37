"""The extension object: settings, verifier and faces for one Flask app."""

from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

from flask import Flask

from . import flask_guard, superset_compat
from .errors import ConfigError, Reason, TokenError
from .identity import Identity, resolve_identity
from .settings import Settings
from .tokens import TokenVerifier, bearer_token

logger = logging.getLogger("superset_mcp_jwt")

#: Where the manager is kept: ``app.extensions[EXTENSION_KEY]``.
EXTENSION_KEY = "superset_mcp_jwt"


class MCPJWTManager:
    """JWT bearer authentication for Superset's MCP endpoints.

    ``MCPJWTManager(app)`` or ``manager.init_app(app)`` reads the ``MCP_*`` keys
    once, refuses to start on an unsafe configuration, guards the MCP
    blueprints and hands Superset's MCP server its auth provider.
    """

    def __init__(self, app: Optional[Flask] = None) -> None:
        self.settings: Optional[Settings] = None
        self.verifier: Optional[TokenVerifier] = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Validate the config and install the faces; raise :class:`ConfigError` if unsafe."""
        if EXTENSION_KEY in app.extensions:
            raise ConfigError(
                "FLASK_APP_MUTATOR", "superset_mcp_jwt.init_app ran twice on one app"
            )
        settings = Settings.from_config(app.config)
        settings.warn_if_unauthenticated(app.config)
        self.settings = settings
        self.verifier = TokenVerifier(settings) if settings.auth_enabled else None
        if settings.auth_enabled:
            if getattr(app, "appbuilder", None) is None:
                raise ConfigError(
                    "appbuilder",
                    "Flask-AppBuilder must be initialised on the app before "
                    "superset_mcp_jwt.init_app",
                )
            # Checks everything it needs before it changes the app.
            superset_compat.install(app, self)
            flask_guard.guard_blueprints(app, self)
            if settings.token_page:
                from .token_page import MCPTokenView

                superset_compat.keep_permission_admin_only(app, MCPTokenView.class_permission_name)
                with app.app_context():
                    app.appbuilder.add_view_no_menu(MCPTokenView())
        app.extensions[EXTENSION_KEY] = self

    def authenticate(self, authorization: Sequence[str], security_manager: Any) -> Identity:
        """Turn a request's ``Authorization`` header values into an :class:`Identity`.

        Raises :class:`TokenError`, after logging it, when the request must be refused.
        Needs an app context (the user lookup goes through ``security_manager``).
        """
        if self.verifier is None or self.settings is None:
            raise RuntimeError("authentication is not enabled (MCP_AUTH_ENABLED)")
        try:
            claims = self.verifier.verify(bearer_token(authorization))
            identity = resolve_identity(claims, self.settings, security_manager)
        except TokenError as error:
            self.log_rejection(error)
            raise
        logger.debug("MCP bearer token accepted for user %r", identity.username)
        return identity

    def log_rejection(self, error: TokenError) -> None:
        """One log line per rejection: the reason code, plus the detail in debug mode."""
        assert self.settings is not None
        level = logging.INFO if error.reason is Reason.MISSING_TOKEN else logging.WARNING
        if self.settings.debug_errors:
            logger.log(level, "MCP bearer token rejected: %s: %s", error.reason.code, error.detail)
        else:
            logger.log(level, "MCP bearer token rejected: %s", error.reason.code)


def init_app(app: Flask) -> None:
    """``FLASK_APP_MUTATOR = superset_mcp_jwt.init_app``: install the extension on ``app``."""
    MCPJWTManager(app)


def get_manager(app: Flask) -> MCPJWTManager:
    """The manager installed on ``app`` by :func:`init_app`."""
    return app.extensions[EXTENSION_KEY]
