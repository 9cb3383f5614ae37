"""Every touch of Superset's internals, in one module.

Superset's MCP server (``superset mcp run``) takes its auth provider from the
supported ``MCP_AUTH_FACTORY`` hook. What else is needed depends on the
installed Superset, detected here (never assumed):

* releases whose ``get_user_from_request`` consults ``MCP_USER_RESOLVER``
  (``resolver(app, access_token)``, Superset's main branch): we set it, and
  replace no module function for identity. Superset filters ``tools/list``
  itself there, through ``check_tool_permission``.
* 6.1.0: ``superset.mcp_service.auth._setup_user_context`` calls the
  module-level ``get_user_from_request()``, which never looks at the token;
  we replace that function with one that reads the user from the token our
  provider verified for this request, and filter ``tools/list`` / search
  results ourselves (6.1.0 lists every tool to every user).
* anything else: start-up is refused, naming what is missing (never run tools
  without identity).

Either way ``check_tool_permission`` is wrapped so a token's scopes narrow the
user's rights; the wrapper passes every argument on and keeps Superset's markers.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import importlib
import logging
import queue
import signal
import sys
import threading
import time
import types
from importlib import metadata
from typing import Any, Callable, Optional

from flask import Flask

from .errors import ConfigError
from .registry import get_manager
from .tokens import allowed_methods, token_scopes

logger = logging.getLogger(__name__)

_AUTH_MODULE = "superset.mcp_service.auth"
PATCH_GET_USER = "get_user_from_request"
CONFIG_USER_RESOLVER = "MCP_USER_RESOLVER"


def is_superset_app(app: Flask) -> bool:
    """True when ``app`` is Superset's own Flask app class."""
    superset_app = sys.modules.get("superset.app")
    return superset_app is not None and isinstance(app, getattr(superset_app, "SupersetApp", ()))


def superset_version() -> str:
    try:
        return metadata.version("apache-superset")
    except metadata.PackageNotFoundError:
        return "unknown"


def install(app: Flask) -> None:
    """Hand Superset's MCP server our auth provider and identity bridge.

    Does nothing for a Flask app that is not Superset, or a Superset without an
    MCP service. Raises :class:`ConfigError`, before changing anything, when it
    cannot install both halves.
    """
    if not is_superset_app(app):
        return
    try:
        auth_module = importlib.import_module(_AUTH_MODULE)
    except ImportError:
        logger.info("Superset %s has no MCP service; only the Flask guard is active", superset_version())
        return
    if app.config.get("MCP_AUTH_FACTORY") is not None:
        raise ConfigError(
            "MCP_AUTH_FACTORY",
            "is already set; superset-mcp-jwt provides the MCP auth provider itself. "
            "Remove MCP_AUTH_FACTORY, or do not use superset_mcp_jwt.init_app",
        )
    hook = identity_hook(auth_module)
    _check_permission_shape(auth_module)
    resolver = app.config.get(CONFIG_USER_RESOLVER)
    if hook == CONFIG_USER_RESOLVER and resolver not in (None, _resolver_for_config):
        raise ConfigError(
            CONFIG_USER_RESOLVER,
            "is already set; superset-mcp-jwt maps tokens to users itself. Move the "
            "mapping to MCP_JWT_USER_RESOLVER (called as resolver(claims, security_manager))",
        )

    app.config["MCP_AUTH_FACTORY"] = create_auth_provider
    if hook == PATCH_GET_USER:
        if not getattr(auth_module.get_user_from_request, "_superset_mcp_jwt", False):
            auth_module.get_user_from_request = _user_from_verified_token(auth_module)
    else:
        app.config[CONFIG_USER_RESOLVER] = _resolver_for_config
    if not getattr(auth_module.check_tool_permission, "_superset_mcp_jwt", False):
        auth_module.check_tool_permission = _scope_narrowed_permission_check(auth_module)
    _quiet_listing_denials(auth_module)
    logger.info(
        "superset-mcp-jwt: MCP server auth installed (Superset %s, identity via %s)",
        superset_version(),
        hook,
    )


ACTION = "mcp_jwt_auth"
_STOP = object()


def action_log(app: Flask) -> Optional["ActionLogWriter"]:
    """A writer to Superset's event logger (its action log), or None outside Superset."""
    return ActionLogWriter(app) if is_superset_app(app) else None


class ActionLogWriter:
    """Writes audit records to Superset's event logger off the request path.

    ``writer(user_id, record)`` only queues; a daemon thread writes what is
    queued in batches (one event-logger call per user per batch, at most every
    ``linger`` seconds), in an app context of its own. The queue is bounded:
    when it is full the caller writes its record itself rather than drop it.
    Whatever is queued when the process exits normally or gets SIGTERM is
    written before it ends (:meth:`close`).
    """

    def __init__(
        self, app: Flask, max_queued: int = 10_000, batch: int = 500, linger: float = 1.0
    ) -> None:
        self._app = app
        self._queue: queue.Queue[Any] = queue.Queue(max_queued)
        self._batch, self._linger = batch, linger
        self._thread: Optional[threading.Thread] = None
        self._start_lock = threading.Lock()
        self._closed = threading.Event()
        atexit.register(self.close)
        self._chain_sigterm()

    def __call__(self, user_id: Optional[int], record: dict[str, Any]) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait((user_id, record))
        except queue.Full:
            self._write([(user_id, record)])

    def close(self, timeout: float = 10.0) -> None:
        """Stop the writer thread after it has written what it holds; write what is left."""
        if self._closed.is_set():
            return
        self._closed.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=timeout)
                thread.join(timeout)
            except queue.Full:
                pass  # the thread is stuck writing: write the rest here
        items = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                items.append(item)
        if items:
            self._write(items)

    def _chain_sigterm(self) -> None:
        """On SIGTERM, drain the queue, then do what SIGTERM did before (uvicorn re-raises it)."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Any) -> None:
            self.close()
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.raise_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="superset-mcp-jwt-action-log", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            deadline = time.monotonic() + self._linger
            while items[-1] is not _STOP and len(items) < self._batch:
                try:
                    items.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            stop = items[-1] is _STOP
            if stop:
                items.pop()
            if items:
                self._write(items)
            if stop:
                return

    def _write(self, items: list[tuple[Optional[int], dict[str, Any]]]) -> None:
        by_user: dict[Optional[int], list[dict[str, Any]]] = {}
        for user_id, record in items:
            by_user.setdefault(user_id, []).append(record)
        try:
            with self._app.app_context():
                from superset.extensions import event_logger

                for user_id, records in by_user.items():
                    event_logger.log(user_id, ACTION, None, None, None, None, records=records)
        except Exception as exc:  # the audit trail must never take the server down
            logger.error("superset-mcp-jwt: writing %d action-log records failed (%s)",
                         len(items), exc.__class__.__name__)


def default_revocation_store(app: Flask) -> Optional[dict[str, Any]]:
    """Superset's metastore cache (the metadata DB, shared by every replica), or None."""
    if not is_superset_app(app):
        return None
    try:
        from superset.key_value.types import JsonKeyValueCodec
    except ImportError:
        return None
    return {
        "CACHE_TYPE": "superset.extensions.metastore_cache.SupersetMetastoreCache",
        "CACHE_KEY_PREFIX": "superset_mcp_jwt_revocations",
        "CACHE_DEFAULT_TIMEOUT": 0,
        "CODEC": JsonKeyValueCodec(),
    }


def metadata_engine(app: Flask) -> Any:
    """The SQLAlchemy engine of the app's metadata database (Superset's ``db``; needs an app context)."""
    extension = app.extensions.get("sqlalchemy")
    if extension is None:
        raise ConfigError("MCP_OAUTH_ENABLED", "needs Flask-SQLAlchemy (Superset's metadata database) on the app")
    return extension.engine


def login_url(app: Flask, next_url: str) -> str:
    """The app's own login page (whatever AUTH_TYPE it uses), coming back to ``next_url`` after."""
    return app.appbuilder.get_url_for_login_with(next_url)


def csrf_exempt(app: Flask, *views: Callable[..., Any]) -> None:
    """Exempt machine endpoints (token, registration, revocation) from the app's CSRF protection."""
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        for view in views:
            csrf.exempt(view)


def forbid_framing(app: Flask, view: Callable[..., Any]) -> None:
    """Make Superset's Talisman send ``X-Frame-Options: DENY`` and ``frame-ancestors 'none'`` for ``view``.

    Talisman rewrites both headers after every view; without these per-view
    options it would replace ours with SAMEORIGIN and a policy that allows framing.
    """
    options: dict[str, Any] = {"frame_options": "DENY"}
    talisman = _talisman(app)
    policy = getattr(talisman, "content_security_policy", None)
    if isinstance(policy, dict):
        options["content_security_policy"] = {**policy, "frame-ancestors": "'none'"}
    elif isinstance(policy, str) and policy:
        options["content_security_policy"] = policy.rstrip("; ") + "; frame-ancestors 'none'"
    view.talisman_view_options = options  # type: ignore[attr-defined]


def _talisman(app: Flask) -> Any:
    if not is_superset_app(app):
        return None
    try:
        from superset.extensions import talisman
    except ImportError:
        return None
    return talisman if getattr(talisman, "app", None) is app else None


def spa_template_context(app: Flask) -> Optional[dict[str, Any]]:
    """What ``superset/spa.html`` needs to draw Superset's navbar and theme, or None outside Superset.

    Superset 6.1.0 renders every page with a navbar from that template with
    this context (``BaseSupersetView.render_app_template``); a page extending
    it keeps ``{{ super() }}`` in ``block body`` and puts itself after it.
    """
    if not is_superset_app(app):
        return None
    from superset.views.base import get_spa_template_context

    # spa.html reads appbuilder (FAB's render_template adds it; Flask's does not).
    return {**get_spa_template_context(entry="spa"), "appbuilder": app.appbuilder}


def keep_permission_admin_only(app: Flask, *view_menus: str) -> None:
    """Keep ``superset init`` from granting these view menus' permissions to Gamma/Alpha.

    Superset's role sync hands every permission it does not know to its
    built-in roles; listing the view as admin-only leaves granting it to the
    administrator (Admin gets it; custom roles get it when an admin adds it).
    """
    sm = app.appbuilder.sm
    admin_only = getattr(sm, "ADMIN_ONLY_VIEW_MENUS", None)
    if is_superset_app(app) and isinstance(admin_only, set):
        sm.ADMIN_ONLY_VIEW_MENUS = admin_only | set(view_menus)


def identity_hook(auth_module: types.ModuleType) -> str:
    """Which way the installed Superset lets us set the MCP user; refuse if none.

    ``MCP_USER_RESOLVER`` wins where Superset consults it (main also still has
    6.1.0's functions, so the 6.1.0 shape is only the fallback).
    """
    if _module_mentions(auth_module, CONFIG_USER_RESOLVER):
        return CONFIG_USER_RESOLVER
    if _calls(auth_module, "_setup_user_context", "get_user_from_request") and callable(
        getattr(auth_module, "load_user_with_relationships", None)
    ):
        return PATCH_GET_USER
    raise ConfigError(
        "MCP_AUTH_ENABLED",
        f"superset-mcp-jwt does not know how Superset {superset_version()} maps an "
        f"MCP request to a user: {_AUTH_MODULE} has no function reading "
        f"{CONFIG_USER_RESOLVER}, and no _setup_user_context calling "
        "get_user_from_request with load_user_with_relationships beside it, so MCP "
        "tools would run without the token's identity; refusing to start. "
        "Upgrade superset-mcp-jwt.",
    )


def _check_permission_shape(auth_module: types.ModuleType) -> None:
    """Refuse to start unless the tool permission check we narrow is where we expect it."""
    missing = [
        name
        for name in ("CLASS_PERMISSION_ATTR", "METHOD_PERMISSION_ATTR")
        if not isinstance(getattr(auth_module, name, None), str)
    ]
    if not _calls(auth_module, "mcp_auth_hook", "check_tool_permission"):
        missing.insert(0, "mcp_auth_hook calling check_tool_permission")
    if missing:
        raise ConfigError(
            "MCP_AUTH_ENABLED",
            f"superset-mcp-jwt cannot find Superset {superset_version()}'s MCP tool "
            f"permission check ({_AUTH_MODULE} lacks {', '.join(missing)}), so "
            "scope-narrowed tokens could exceed their scopes; refusing to start. "
            "Upgrade superset-mcp-jwt.",
        )


def _calls(module: types.ModuleType, function: str, name: str) -> bool:
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


def _module_mentions(module: types.ModuleType, text: str) -> bool:
    def consts(code: types.CodeType) -> bool:
        return any(
            c == text or (isinstance(c, types.CodeType) and consts(c)) for c in code.co_consts
        )

    return any(
        isinstance(f, types.FunctionType) and f.__module__ == module.__name__ and consts(f.__code__)
        for f in vars(module).values()
    )


def _user_from_verified_token(auth_module: types.ModuleType) -> Callable[[], Any]:
    def get_user_from_request() -> Any:
        """The user named by this request's verified bearer token (superset-mcp-jwt)."""
        from .mcp_server import verified_token

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


#: Set while tools are being listed: a hidden tool is not a denial worth a WARNING.
_listing: contextvars.ContextVar[bool] = contextvars.ContextVar("superset_mcp_jwt_listing", default=False)


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
    from .mcp_server import verified_token

    token = verified_token()
    # The token's own scopes (its access token's ``scopes`` also carry the
    # superset: ones added for Superset by scopes_for_superset).
    methods = allowed_methods(token_scopes(token.claims)) if token is not None else None
    if methods is None or "*" in methods:
        return True
    if getattr(func, auth_module.CLASS_PERMISSION_ATTR, None) is None:
        return True  # a tool Superset lets every user call
    method = getattr(func, auth_module.METHOD_PERMISSION_ATTR, "read")
    if method in methods:
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


def _quiet_listing_denials(auth_module: types.ModuleType) -> None:
    """Keep Superset's per-tool denial warnings out of the log while we list tools."""
    superset_logger = logging.getLogger(auth_module.__name__)
    if not any(isinstance(f, _DuringListing) for f in superset_logger.filters):
        superset_logger.addFilter(_DuringListing())


def superset_filters_tool_lists() -> bool:
    """True if Superset hides tools a user cannot call (main's RBACToolVisibilityMiddleware)."""
    try:
        middleware = importlib.import_module("superset.mcp_service.middleware")
    except ImportError:
        return False
    return hasattr(middleware, "RBACToolVisibilityMiddleware")


def visible_tools(app: Flask, username: Optional[str], tools: list[Any]) -> list[Any]:
    """The tools this user may call, by the same check as a call (6.1.0 lists them all).

    Runs in a worker thread with an app context of its own. Tools without a
    permission (the search and call_tool proxies, public tools) stay listed.
    """
    auth_module = sys.modules[_AUTH_MODULE]
    marker = auth_module.CLASS_PERMISSION_ATTR

    def protected(tool: Any) -> bool:
        return getattr(getattr(tool, "fn", None), marker, None) is not None

    token = _listing.set(True)
    try:
        with app.app_context():
            from flask import g

            user = auth_module.load_user_with_relationships(username=username) if username else None
            if user is None or not user.is_active:
                return [tool for tool in tools if not protected(tool)]
            g.user = user
            return [
                tool for tool in tools
                if not protected(tool) or auth_module.check_tool_permission(tool.fn)
            ]
    finally:
        _listing.reset(token)


def _filter_tool_lists(flask_app: Flask) -> None:
    """Add our tool-list filter to Superset's FastMCP server (outermost middleware)."""
    from superset.mcp_service.app import mcp

    from .mcp_server import ToolVisibilityMiddleware

    if not any(isinstance(m, ToolVisibilityMiddleware) for m in mcp.middleware):
        mcp.add_middleware(
            ToolVisibilityMiddleware(lambda user, tools: visible_tools(flask_app, user, tools))
        )


def _resolver_for_config(app: Any, access_token: Any) -> Optional[str]:
    """``MCP_USER_RESOLVER``: the user name our provider verified, else None (Superset denies)."""
    from .mcp_server import UserAccessToken

    return access_token.username if isinstance(access_token, UserAccessToken) else None


def create_auth_provider(flask_app: Flask) -> Any:
    """``MCP_AUTH_FACTORY``: build our FastMCP auth provider.

    Superset 6.1.0 catches any ``Exception`` from the factory and then serves
    MCP with no authentication; so every failure here becomes ``SystemExit``.
    """
    try:
        from .mcp_server import MCPJWTAuthProvider

        authenticator = get_manager(flask_app).authenticator
        if authenticator is None:
            raise RuntimeError("MCP_AUTH_ENABLED is not on")
        if not superset_filters_tool_lists():
            _filter_tool_lists(flask_app)
        return MCPJWTAuthProvider(flask_app, authenticator)
    except Exception as exc:
        logger.critical(
            "superset-mcp-jwt could not build the MCP auth provider (%s); "
            "refusing to serve MCP without authentication",
            exc.__class__.__name__,
        )
        raise SystemExit(
            "superset-mcp-jwt: refusing to start the MCP server without authentication"
        ) from exc
