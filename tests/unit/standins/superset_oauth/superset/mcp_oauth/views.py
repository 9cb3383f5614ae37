"""Stand-in for ``superset.mcp_oauth.views``: Superset's own server's routes, on or off.

Shaped like apache/superset ``superset/mcp_oauth/views.py`` at commit
134f0c5956b25cc16bb1ca7a4ae8c1735e5eded6: two Flask-AppBuilder views,
``MCPOAuthWellKnownView`` (route base ``/.well-known``: the RFC 8414 and RFC
9728 documents, with and without a path suffix) and ``MCPOAuthView`` (route
base ``/oauth/mcp``: register, authorize, token, jwks.json), every handler
answering 404 unless ``service.is_enabled()``. Its unit tests switch the server
on by patching the config of an app already built (tests/unit_tests/mcp_oauth/
conftest.py at the same commit), so the views are registered whether it is on
or not. Here the same rules and methods are registered by :func:`register` on
a plain Flask app (Flask-AppBuilder would need a whole Superset).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, jsonify

from superset.mcp_oauth import service  # type: ignore[import-not-found]  # as Superset imports it

#: (rule, endpoint, methods) as the two views expose them.
RULES = (
    ("/.well-known/oauth-authorization-server", "MCPOAuthWellKnownView.authorization_server_metadata", ("GET",)),
    ("/.well-known/oauth-authorization-server/<path:suffix>",
     "MCPOAuthWellKnownView.authorization_server_metadata_suffix", ("GET",)),
    ("/.well-known/oauth-protected-resource", "MCPOAuthWellKnownView.protected_resource_metadata", ("GET",)),
    ("/.well-known/oauth-protected-resource/<path:suffix>",
     "MCPOAuthWellKnownView.protected_resource_metadata_suffix", ("GET",)),
    ("/oauth/mcp/register", "MCPOAuthView.register", ("POST", "OPTIONS")),
    ("/oauth/mcp/authorize", "MCPOAuthView.authorize", ("GET", "POST")),
    ("/oauth/mcp/token", "MCPOAuthView.token", ("POST", "OPTIONS")),
    ("/oauth/mcp/jwks.json", "MCPOAuthView.jwks", ("GET",)),
)


def _handler(endpoint: str) -> Any:
    def view(suffix: str | None = None) -> Any:
        if not service.is_enabled():
            abort(404)
        return jsonify(served_by="superset.mcp_oauth", endpoint=endpoint)

    view.__name__ = endpoint.replace(".", "_")
    return view


def register(app: Flask) -> None:
    """Register the views' rules, as Superset's ``init_views`` would."""
    blueprint = Blueprint("superset_mcp_oauth", __name__)
    for rule, endpoint, methods in RULES:
        blueprint.add_url_rule(rule, endpoint.replace(".", "_"), _handler(endpoint), methods=list(methods))
    app.register_blueprint(blueprint)
