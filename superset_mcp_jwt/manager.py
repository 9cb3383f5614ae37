"""The composition root: builds the core from the settings and installs each face.

Nothing imports this module but the package's ``__init__``: faces receive the
core objects they need from :meth:`MCPJWTManager.init_app`, and find the
manager at request time through :mod:`superset_mcp_jwt.registry`.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

from flask import Flask

from . import access_page, flask_guard, pages, superset_compat
from .activity.log import ActivityLog
from .activity.store import ActivityStore
from .authn import ActionLog, Authenticator
from .errors import ConfigError
from .identity import Identity
from .keys import HMAC_ALGORITHMS
from .metrics import Metrics
from .oauth.config import OAuthSettings
from .oauth.rate_limits import RateLimits
from .oauth.metadata import endpoint_paths
from .oauth.service import OAuthService
from .recorder import NULL_RECORDER, Recorder
from .registry import EXTENSION_KEY, get_manager
from .revocation import RevocationList
from .settings import Settings
from .tokens import TokenVerifier

__all__ = ["EXTENSION_KEY", "MCPJWTManager", "get_manager", "init_app"]

logger = logging.getLogger("superset_mcp_jwt")


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
        #: Where every face reports events: metrics (STATS_LOGGER) and the activity records.
        self.recorder: Recorder = NULL_RECORDER
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
            self.recorder = _recorder(app, settings)
            self.authenticator = Authenticator(
                settings,
                TokenVerifier(settings),
                revocations=_revocation_list(app, settings),
                action_log=superset_compat.action_log(app) if settings.audit_action_log else None,
                recorder=self.recorder,
            )
            flask_guard.install(app, self.authenticator)
            pages.install(app)
            if settings.oauth is not None:
                self.oauth = _install_oauth(app, settings, self.authenticator.revocations, self.recorder)
            # Token minting signs with the shared secret: HMAC modes only (with
            # asymmetric keys, tokens come from the identity provider).
            access_page.install(
                app, token_minting=settings.token_page and settings.algorithm in HMAC_ALGORITHMS,
                activity=self.recorder.activity.store if self.recorder.activity is not None else None,
            )
        app.extensions[EXTENSION_KEY] = self

    def check_activity_table(self) -> None:
        """Log, at start-up, that tool calls cannot be recorded until ``superset mcp-jwt db upgrade`` runs."""
        activity = self.recorder.activity
        try:
            missing = activity is not None and not activity.store.table_exists()
        except Exception as exc:  # the database is down: the writer says so per batch
            logger.warning("superset-mcp-jwt: the activity table could not be checked (%s)",
                           exc.__class__.__name__)
            return
        if missing:
            logger.error(
                "superset-mcp-jwt: the MCP activity table is missing, so tool calls are not recorded; "
                "run `superset mcp-jwt db upgrade` (or set MCP_JWT_ACTIVITY_LOG = False)"
            )

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


def _recorder(app: Flask, settings: Settings) -> Recorder:
    """Metrics to Superset's STATS_LOGGER; activity records in the metadata DB (when on and there is one)."""
    activity = None
    if settings.activity_log and "sqlalchemy" in app.extensions:
        engine = superset_compat.metadata_engine(app)
        oauth_issuer = settings.oauth.issuer if settings.oauth is not None else None
        client_name = _client_names(engine, settings) if settings.oauth is not None else None
        activity = ActivityLog(ActivityStore(engine), oauth_issuer, client_name)
    recorder = Recorder(Metrics(superset_compat.stats_logger(app)), activity)
    superset_compat.close_on_exit(recorder.close)
    return recorder


def _client_names(engine: Any, settings: Settings) -> Any:
    from .oauth.store import OAuthStore

    store = OAuthStore(engine, leeway=settings.leeway)

    def client_name(client_id: str) -> Optional[str]:
        client = store.get_client(client_id)
        return client.client_name if client is not None else None

    return client_name


def _install_oauth(
    app: Flask, settings: Settings, revocations: Optional[RevocationList], recorder: Recorder
) -> OAuthService:
    """The authorization server: its store on the metadata DB, the service, the Flask face."""
    from . import oauth_views
    from .oauth.clients import ClientRegistry
    from .oauth.issuer import AccessTokenIssuer
    from .oauth.store import OAuthStore

    assert settings.oauth is not None
    store = OAuthStore(superset_compat.metadata_engine(app), leeway=settings.leeway)
    service = OAuthService(store, settings.oauth, AccessTokenIssuer(settings), revocations, recorder)
    oauth_views.install(
        app, settings, service, ClientRegistry(store, settings.oauth, recorder=recorder),
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
