"""The Superset web app's internals the extension uses: its class, version, database, login, CSRF, Talisman, pages."""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Any, Callable, Optional

from flask import Flask

from ..errors import ConfigError


def is_superset_app(app: Flask) -> bool:
    """True when ``app`` is Superset's own Flask app class."""
    superset_app = sys.modules.get("superset.app")
    return superset_app is not None and isinstance(app, getattr(superset_app, "SupersetApp", ()))


def superset_version() -> str:
    """The installed ``apache-superset`` version, or ``"unknown"``."""
    try:
        return metadata.version("apache-superset")
    except metadata.PackageNotFoundError:
        return "unknown"


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
