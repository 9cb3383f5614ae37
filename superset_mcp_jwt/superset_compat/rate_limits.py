"""Superset's rate limiting as its web app configures it: where the counts live, whose address counts.

Superset 6.1.0 rate-limits its login with Flask-AppBuilder's Flask-Limiter
(``SupersetSecurityManager.create_limiter``): ``Limiter(key_func=
RATELIMIT_KEY_FUNC or flask_limiter.util.get_remote_address)``, its storage
from ``RATELIMIT_STORAGE_URI`` (``memory://`` when unset: per process) with
``RATELIMIT_STORAGE_OPTIONS``, its window from ``RATELIMIT_STRATEGY``. The
authorization server counts in the same storage, by the same address: behind a
proxy, ``ENABLE_PROXY_FIX`` makes ``request.remote_addr`` the forwarded client
address (Werkzeug's ``ProxyFix`` with ``PROXY_FIX_CONFIG``), and so the
address counted here too. Superset's own ``RATELIMIT_ENABLED`` (off unless
``SUPERSET_ENV=production``) and ``RATELIMIT_APPLICATION`` concern Superset's
limiter only: the authorization server's limits always apply.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Flask
from flask_limiter.util import get_remote_address

#: Flask-Limiter's default window, as Superset's limiter uses it when RATELIMIT_STRATEGY is unset.
DEFAULT_STRATEGY = "fixed-window"


def limiter_storage(app: Flask) -> tuple[str, dict[str, Any], str]:
    """(storage URI, storage options, strategy) of Superset's rate limiting."""
    config = app.config
    return (
        config.get("RATELIMIT_STORAGE_URI") or "memory://",
        dict(config.get("RATELIMIT_STORAGE_OPTIONS") or {}),
        config.get("RATELIMIT_STRATEGY") or DEFAULT_STRATEGY,
    )


def client_address(app: Flask) -> Callable[[], str]:
    """The function Superset's limiter identifies a request's client with (needs a request context)."""
    return app.config.get("RATELIMIT_KEY_FUNC") or get_remote_address
