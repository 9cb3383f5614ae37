"""The extension object: settings, verifier and faces for one Flask app."""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Sequence

from flask import Flask

from . import flask_guard, superset_compat
from .bounded import BoundedMap
from .errors import ConfigError, Reason, TokenError
from .identity import Identity, IdentityCache, resolve_identity
from .keys import HMAC_ALGORITHMS
from .revocation import RevocationList
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
        #: ``action_log(user_id, record)``: where audit records go besides the
        #: server log (Superset's event logger, when there is one). Must be cheap:
        #: it is called on the request path.
        self.action_log: Optional[Callable[[Optional[int], dict[str, Any]], None]] = None
        self._identities: Optional[IdentityCache] = None
        self._rejections_logged: BoundedMap[tuple[int, Reason], None] = BoundedMap(4096)
        #: Revoked tokens and subjects shared by every replica, if a store is configured.
        self.revocations: Optional[RevocationList] = None
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
        self._identities = IdentityCache(settings)
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
            if settings.audit_action_log:
                self.action_log = superset_compat.action_log(app)
            self.revocations = _revocation_list(app, settings)
            # The page signs with the shared secret: HMAC modes only (with
            # asymmetric keys, tokens come from the identity provider).
            if settings.token_page and settings.algorithm in HMAC_ALGORITHMS:
                from .token_page import MENU_NAME, MCPTokenView

                superset_compat.keep_permission_admin_only(
                    app, MCPTokenView.class_permission_name, MENU_NAME
                )
                with app.app_context():
                    app.appbuilder.add_view(
                        MCPTokenView(), MENU_NAME, label=MENU_NAME, icon="fa-key",
                        category="Manage", category_label="Manage",
                    )
        app.extensions[EXTENSION_KEY] = self

    def authenticate(
        self,
        authorization: Sequence[str],
        security_manager: Any,
        client: Optional[str] = None,
        need_user: bool = True,
    ) -> Identity:
        """Turn a request's ``Authorization`` header values into an :class:`Identity`.

        Raises :class:`TokenError` when the request must be refused. Either way
        one audit line is logged (``client`` is the caller's User-Agent, if any).
        With ``need_user=False`` the identity may come from the short-lived
        :class:`IdentityCache` (``user`` is then None). Needs an app context
        (the user lookup goes through ``security_manager``).
        """
        if self.verifier is None or self.settings is None or self._identities is None:
            raise RuntimeError("authentication is not enabled (MCP_AUTH_ENABLED)")
        token = None
        try:
            token = bearer_token(authorization)
            first_use = not self.verifier.is_cached(token)
            claims = self.verifier.verify(token)
            if self.revocations is not None:
                self.revocations.check(claims)
            identity = None if need_user else self._identities.get(claims)
            if identity is None:
                identity = resolve_identity(claims, self.settings, security_manager)
                self._identities.put(identity)
        except TokenError as error:
            self._audit_rejection(error, token, _Printable(client))
            raise
        self._audit_acceptance(identity, first_use, _Printable(client))
        return identity

    def authenticate_from_cache(
        self, authorization: Sequence[str], client: Optional[str] = None
    ) -> Optional[Identity]:
        """The identity of a token verified before whose user is still cached, else None.

        Pure memory, no app context needed: the fast path for repeated tokens.
        Anything else, rejections included, returns None and is left to
        :meth:`authenticate`, which also logs it.
        """
        if self.verifier is None or self._identities is None:
            return None
        try:
            token = bearer_token(authorization)
            if not self.verifier.is_cached(token):
                return None
            claims = self.verifier.verify(token)
        except TokenError:
            return None
        if self.revocations is not None and not self.revocations.known_not_revoked(claims):
            return None
        identity = self._identities.get(claims)
        if identity is not None:
            self._audit_acceptance(identity, False, _Printable(client))
        return identity

    def _audit_acceptance(self, identity: Identity, first_use: bool, client: "_Printable") -> None:
        jti = identity.claims.get("jti")
        logger.info(
            "MCP bearer token accepted: user=%s jti=%s client=%s",
            identity.username, _Printable(jti if isinstance(jti, str) else None), client,
        )
        # The action log (a database write) records a token's first use in this
        # process, not every request: an AI client sends bursts with one token.
        if self.action_log is not None and first_use:
            self.action_log(
                identity.user_id,
                {"outcome": "accepted", "user": identity.username, "jti": jti, "client": str(client)},
            )

    def _audit_rejection(self, error: TokenError, token: Optional[str], client: "_Printable") -> None:
        assert self.settings is not None
        level = logging.INFO if error.reason is Reason.MISSING_TOKEN else logging.WARNING
        detail = f": {error.detail}" if self.settings.debug_errors else ""
        logger.log(level, "MCP bearer token rejected: %s%s client=%s", error.reason.code, detail, client)
        # Only tokens signed with our key reach the action log, once per token
        # and reason, so neither junk nor a retrying client can flood it.
        if (
            self.action_log is not None
            and error.reason.signed
            and error.claims is not None
            and self._rejections_logged.add((hash(token), error.reason), None)
        ):
            self.action_log(
                None,
                {"outcome": "rejected", "reason": error.reason.code,
                 "jti": error.claims.get("jti"), "client": str(client)},
            )


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


class _Printable:
    """A caller-supplied label, made safe for one log line when (and only if) it is logged."""

    __slots__ = ("_text",)

    def __init__(self, text: Optional[str]) -> None:
        self._text = text

    def __str__(self) -> str:
        if not self._text:
            return "-"
        cleaned = "".join(c if " " <= c <= "~" else "?" for c in self._text[:80])
        return repr(cleaned)


def init_app(app: Flask) -> None:
    """``FLASK_APP_MUTATOR = superset_mcp_jwt.init_app``: install the extension on ``app``."""
    MCPJWTManager(app)


def get_manager(app: Flask) -> MCPJWTManager:
    """The manager installed on ``app`` by :func:`init_app`."""
    return app.extensions[EXTENSION_KEY]
