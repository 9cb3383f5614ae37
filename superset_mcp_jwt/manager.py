"""The composition root: builds the core from the settings and installs each face.

Nothing imports this module but the package's ``__init__``: faces receive the
core objects they need from :meth:`MCPJWTManager.init_app`, and find the
manager at request time through :mod:`superset_mcp_jwt.registry`.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from flask import Flask

from . import access_page, flask_guard, pages, superset_compat
from .authn import ActionLog, Authenticator
from .errors import ConfigError
from .identity import Identity
from .keys import HMAC_ALGORITHMS
from .oauth.config import OAuthSettings
from .oauth.rate_limits import RateLimits
from .oauth.metadata import endpoint_paths
from .oauth.service import OAuthService
from .registry import EXTENSION_KEY, get_manager
from .revocation import RevocationList
from .settings import Settings
from .tokens import TokenVerifier

__all__ = ["EXTENSION_KEY", "MCPJWTManager", "get_manager", "init_app"]


class MCPJWTManager:
    """JWT bearer authentication for Superset's MCP endpoints.

    ``MCPJWTManager(app)`` or ``manager.init_app(app)`` reads the ``MCP_*`` keys
    once, refuses to start on an unsafe configuration, guards the MCP
    blueprints and hands Superset's MCP server its auth provider.
    """

    def __init__(self, app: Optional[Flask] = None) -> None:
        self.settings: Optional[Settings] = None
        #: The core that every face authenticates with (None when auth is off).
        self.authenticator: Optional[Authenticator] = None
        #: The OAuth authorization server's service (None unless MCP_OAUTH_ENABLED).
        self.oauth: Optional[OAuthService] = None
        if app is not None:
            self.init_app(app)

    @property
    def verifier(self) -> Optional[TokenVerifier]:
        return self.authenticator.verifier if self.authenticator else None

    @property
    def revocations(self) -> Optional[RevocationList]:
        """Revoked tokens and subjects shared by every replica, if a store is configured."""
        return self.authenticator.revocations if self.authenticator else None

    @property
    def action_log(self) -> Optional[ActionLog]:
        """``action_log(user_id, record)``: where audit records go besides the server log."""
        return self.authenticator.action_log if self.authenticator else None

    @action_log.setter
    def action_log(self, writer: Optional[ActionLog]) -> None:
        if self.authenticator is None:
            raise RuntimeError("authentication is not enabled (MCP_AUTH_ENABLED)")
        self.authenticator.action_log = writer

    def init_app(self, app: Flask) -> None:
        """Validate the config and install the faces; raise :class:`ConfigError` if unsafe."""
        if EXTENSION_KEY in app.extensions:
            raise ConfigError(
                "FLASK_APP_MUTATOR", "superset_mcp_jwt.init_app ran twice on one app"
            )
        # Superset's own MCP OAuth server reads MCP_OAUTH_ENABLED too: at most one may serve.
        superset_oauth = superset_compat.superset_oauth_server(app)
        settings = Settings.from_config(app.config, oauth_switch_shared=superset_oauth is not None)
        superset_compat.check_one_authorization_server(app.config, superset_oauth, settings)
        if settings.oauth is not None:
            superset_compat.check_oauth_paths_free(app, endpoint_paths(settings.oauth))
        settings.warn_if_unauthenticated(app.config)
        self.settings = settings
        if settings.auth_enabled:
            if getattr(app, "appbuilder", None) is None:
                raise ConfigError(
                    "appbuilder",
                    "Flask-AppBuilder must be initialised on the app before "
                    "superset_mcp_jwt.init_app",
                )
            # Checks everything it needs before it changes the app.
            superset_compat.install(app)
            self.authenticator = Authenticator(
                settings,
                TokenVerifier(settings),
                revocations=_revocation_list(app, settings),
                action_log=superset_compat.action_log(app) if settings.audit_action_log else None,
            )
            flask_guard.install(app, self.authenticator)
            pages.install(app)
            if settings.oauth is not None:
                self.oauth = _install_oauth(app, settings, self.authenticator.revocations)
            # Token minting signs with the shared secret: HMAC modes only (with
            # asymmetric keys, tokens come from the identity provider).
            access_page.install(
                app, token_minting=settings.token_page and settings.algorithm in HMAC_ALGORITHMS
            )
        app.extensions[EXTENSION_KEY] = self

    def authenticate(
        self,
        authorization: Sequence[str],
        security_manager: Any,
        client: Optional[str] = None,
        need_user: bool = True,
    ) -> Identity:
        """:meth:`Authenticator.authenticate`, for callers holding the manager."""
        if self.authenticator is None:
            raise RuntimeError("authentication is not enabled (MCP_AUTH_ENABLED)")
        return self.authenticator.authenticate(authorization, security_manager, client, need_user)

    def authenticate_from_cache(
        self, authorization: Sequence[str], client: Optional[str] = None
    ) -> Optional[Identity]:
        """:meth:`Authenticator.authenticate_from_cache`, for callers holding the manager."""
        if self.authenticator is None:
            return None
        return self.authenticator.authenticate_from_cache(authorization, client)


def _revocation_list(app: Flask, settings: Settings) -> Optional[RevocationList]:
    config = settings.revocation_store
    if config is None:
        config = superset_compat.default_revocation_store(app)
    if not config:
        return None
    try:
        from flask_caching import Cache
    except ImportError:
        raise ConfigError("MCP_JWT_REVOCATION_STORE", "needs Flask-Caching installed") from None
    store = Cache()
    store.init_app(app, config=config)
    return RevocationList(store, settings.revocation_memo_seconds)


def _install_oauth(app: Flask, settings: Settings, revocations: Optional[RevocationList]) -> OAuthService:
    """The authorization server: its store on the metadata DB, the service, the Flask face."""
    from . import oauth_views
    from .oauth.clients import ClientRegistry
    from .oauth.issuer import AccessTokenIssuer
    from .oauth.store import OAuthStore

    assert settings.oauth is not None
    store = OAuthStore(superset_compat.metadata_engine(app), leeway=settings.leeway)
    service = OAuthService(store, settings.oauth, AccessTokenIssuer(settings), revocations)
    oauth_views.install(
        app, settings, service, ClientRegistry(store, settings.oauth),
        _rate_limits(app, settings.oauth), superset_compat.client_address(app),
    )
    return service


def _rate_limits(app: Flask, oauth: OAuthSettings) -> RateLimits:
    """The per-address limits, counted where Superset's rate limiting counts (RATELIMIT_STORAGE_URI)."""
    from limits.errors import ConfigurationError
    from limits.strategies import STRATEGIES

    uri, options, strategy = superset_compat.limiter_storage(app)
    if strategy not in STRATEGIES:
        raise ConfigError("RATELIMIT_STRATEGY", f"must be one of {', '.join(sorted(STRATEGIES))}")
    try:
        return RateLimits(dict(oauth.rate_limits), uri, options, strategy)
    except (ConfigurationError, ValueError, TypeError) as error:
        # Named by its scheme only: the URI may hold a password.
        scheme = uri.partition("://")[0]
        problem = ("needs its Python driver installed" if "prerequisite" in str(error)
                   else "is not a storage the limits package knows, or its options are wrong")
        raise ConfigError("RATELIMIT_STORAGE_URI", f"{scheme!r} {problem}") from None


def init_app(app: Flask) -> None:
    """``FLASK_APP_MUTATOR = superset_mcp_jwt.init_app``: install the extension on ``app``."""
    MCPJWTManager(app)
