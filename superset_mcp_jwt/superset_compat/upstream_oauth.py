"""Superset's own MCP OAuth authorization server, and which server serves: one at a time.

Superset's repository holds an authorization server of its own for MCP (not in
6.1.0): the ``superset.mcp_oauth`` package, whose views answer
``/oauth/mcp/register|authorize|token|jwks.json`` and
``/.well-known/oauth-authorization-server`` (registered whether it is on or
not, answering 404 while it is off), ``superset.mcp_service.auth_oauth`` (the
MCP server as its resource server) and their wiring in the MCP config's
default auth factory (``_build_oauth_provider``). Its switch is
``MCP_OAUTH_ENABLED``, the key this package's own server has read since 0.1.0.

So where Superset has its own, ``MCP_JWT_OAUTH_SERVER`` says which one serves,
and :func:`check` lets every combination of the keys either start exactly one
server (or none) or refuse start-up, saying which server is on and which key
turns which off. This package's routes stay where they are (clients keep the
token endpoint they registered with); the refusal is what keeps two servers
off one path.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from flask import Flask
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from ..errors import ConfigError
from ..settings import Settings
from ..values import boolean
from .app import is_superset_app, superset_version
from .code import holds_constant, module_exists

logger = logging.getLogger("superset_mcp_jwt.superset_compat")

#: Modules of Superset's own MCP OAuth work: the authorization server, the resource-server side.
MODULES = ("superset.mcp_oauth", "superset.mcp_service.auth_oauth")
MCP_CONFIG = "superset.mcp_service.mcp_config"
#: The MCP config's function that builds Superset's OAuth resource-server provider.
WIRING = "_build_oauth_provider"
#: The switch of Superset's own server (and, where Superset has none, of ours).
SWITCH = "MCP_OAUTH_ENABLED"
#: This package's own switch: True, superset-mcp-jwt's server; False, not it.
OURS = "MCP_JWT_OAUTH_SERVER"
_FIX_OURS = f"{SWITCH} = False (turns Superset's off) and {OURS} = True (turns superset-mcp-jwt's on)"
_FIX_THEIRS = "remove superset_mcp_jwt.init_app from FLASK_APP_MUTATOR (Superset's own server and MCP auth then serve)"


@dataclass(frozen=True)
class SupersetOAuthServer:
    """Superset's own MCP OAuth authorization server, as found in the installed Superset."""

    #: What shows it: module names, or the MCP config's wiring.
    evidence: tuple[str, ...]

    def __str__(self) -> str:
        return f"Superset {superset_version()}'s own MCP OAuth authorization server ({', '.join(self.evidence)})"


def detect(app: Flask) -> Optional[SupersetOAuthServer]:
    """Superset's own MCP OAuth server if the installed Superset has one (on or off), else None.

    Finds the modules without running them; reads the MCP config module the
    MCP server imports anyway.
    """
    if not is_superset_app(app):
        return None
    evidence = [name for name in MODULES if module_exists(name)]
    mcp_config = None
    if module_exists(MCP_CONFIG):
        try:
            mcp_config = importlib.import_module(MCP_CONFIG)
        except ImportError:  # its dependencies (fastmcp) are not installed: no MCP server here
            pass
    if mcp_config is not None:
        if callable(getattr(mcp_config, WIRING, None)):
            evidence.append(f"{MCP_CONFIG}.{WIRING}")
        elif holds_constant(mcp_config, SWITCH):
            evidence.append(f"{MCP_CONFIG} reading {SWITCH}")
    return SupersetOAuthServer(tuple(evidence)) if evidence else None


def check(config: Mapping[str, Any], superset_server: Optional[SupersetOAuthServer], settings: Settings) -> None:
    """Refuse every combination of the switches that would not leave at most one server on.

    ``settings`` were read with ``oauth_switch_shared`` set when Superset has its
    own server (so ``settings.oauth`` is ours, on or off).
    """
    switch_on = boolean(False if config.get(SWITCH) is None else config.get(SWITCH), SWITCH)
    ours = config.get(OURS)
    if superset_server is None:
        if switch_on and ours is False:
            raise ConfigError(
                OURS,
                f"is False while {SWITCH} is True, and Superset {superset_version()} has no MCP "
                f"OAuth authorization server of its own: nothing would serve it. Set {OURS} = True "
                f"(or leave it unset) for superset-mcp-jwt's, or {SWITCH} = False for none",
            )
        return
    if not switch_on:
        return  # Superset's own is off (its views answer 404); ours is on only with OURS = True
    if ours is None:
        raise ConfigError(
            SWITCH,
            f"is True, and two authorization servers read it: {superset_server} and "
            f"superset-mcp-jwt's. Say which one serves. superset-mcp-jwt's: {_FIX_OURS}. "
            f"Superset's own: {_FIX_THEIRS}",
        )
    if ours:
        raise ConfigError(
            SWITCH,
            f"is True, which turns on {superset_server} beside superset-mcp-jwt's "
            f"({OURS} = True): two servers on /oauth/mcp/*. Set {SWITCH} = False to keep "
            "only superset-mcp-jwt's",
        )
    if settings.auth_enabled:
        raise ConfigError(
            SWITCH,
            f"is True with {OURS} = False: {superset_server} is on, but superset-mcp-jwt "
            "(MCP_AUTH_ENABLED = True) replaces Superset's MCP auth provider, the one that accepts "
            f"that server's tokens. Superset's own: {_FIX_THEIRS}. superset-mcp-jwt's: {_FIX_OURS}",
        )
    logger.info("superset-mcp-jwt: %s serves MCP OAuth (%s); superset-mcp-jwt's is off (%s = False)",
                superset_server, SWITCH, OURS)


def check_paths_free(app: Flask, paths: Sequence[str]) -> None:
    """Refuse to start this package's server on a path another view of the app already answers."""
    adapter = app.url_map.bind("localhost")
    for path in paths:
        for method in ("GET", "POST"):
            try:
                endpoint, _ = adapter.match(path, method=method)
            except (NotFound, RequestRedirect):
                continue
            except MethodNotAllowed:
                endpoint = "a view for other methods"
            raise ConfigError(
                OURS if app.config.get(OURS) else SWITCH,
                f"superset-mcp-jwt's authorization server answers {path}, which {endpoint} "
                "already serves (Superset's own MCP OAuth views?): two servers on one path. "
                f"Turn superset-mcp-jwt's off ({OURS} = False, {SWITCH} = False), or remove that view",
            )
