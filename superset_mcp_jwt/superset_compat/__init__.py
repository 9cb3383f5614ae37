"""Every touch of Superset's internals, in one package.

* :mod:`.app` — the web app: its class and version, the metadata database,
  login, CSRF, Talisman, the page template, role sync.
* :mod:`.action_log` — Superset's event logger (the action log), written off the request
  path; the extension's background writers drained at exit and on SIGTERM.
* :mod:`.event_log` — the user of the rows Superset's own MCP middleware writes.
* :mod:`.stats` — Superset's ``STATS_LOGGER``, where the counters go.
* :mod:`.mcp` — ``superset mcp run``: the auth factory, and which Superset
  shape sets the tool user: :mod:`.release_6_1` (6.1.0) or :mod:`.main_branch`
  (Superset's main branch); an unknown shape refuses start-up.
* :mod:`.permissions` — the tool permission check, narrowed by token scopes.
* :mod:`.rate_limits` — where Superset's rate limiting keeps its counts, and whose address counts.
* :mod:`.step_up` — which tool a ``tools/call`` reaches (by name or through the
  search transform's ``call_tool`` proxy), and the scope a step-up would add.
* :mod:`.upstream_oauth` — Superset's own MCP OAuth authorization server, and
  which server serves (one at a time).
* :mod:`.superset_verifiers`, :mod:`.response_cache` — Superset's own API-key and
  guest-token verifiers, and its MCP response cache: refused while on.
* :mod:`.code` — reading Superset's code without running it.

Nothing else in the package imports Superset.
"""

from .action_log import ACTION, ActionLogWriter, action_log, close_on_exit
from .app import (
    csrf_exempt,
    default_revocation_store,
    forbid_framing,
    is_superset_app,
    keep_permission_admin_only,
    login_url,
    metadata_engine,
    spa_template_context,
    superset_version,
)
from .mcp import (
    CONFIG_USER_RESOLVER,
    PATCH_GET_USER,
    create_auth_provider,
    identity_hook,
    install,
    superset_filters_tool_lists,
)
from .event_log import attribute_mcp_events
from .permissions import visible_tools
from .rate_limits import client_address, limiter_storage
from .stats import stats_logger
from .upstream_oauth import SupersetOAuthServer
from .upstream_oauth import check as check_one_authorization_server
from .upstream_oauth import check_paths_free as check_oauth_paths_free
from .upstream_oauth import detect as superset_oauth_server

__all__ = [
    "ACTION",
    "ActionLogWriter",
    "CONFIG_USER_RESOLVER",
    "PATCH_GET_USER",
    "SupersetOAuthServer",
    "action_log",
    "attribute_mcp_events",
    "check_oauth_paths_free",
    "check_one_authorization_server",
    "client_address",
    "close_on_exit",
    "create_auth_provider",
    "csrf_exempt",
    "default_revocation_store",
    "forbid_framing",
    "identity_hook",
    "install",
    "is_superset_app",
    "keep_permission_admin_only",
    "limiter_storage",
    "login_url",
    "metadata_engine",
    "spa_template_context",
    "stats_logger",
    "superset_oauth_server",
    "superset_filters_tool_lists",
    "superset_version",
    "visible_tools",
]
