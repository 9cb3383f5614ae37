"""Stand-in for Superset main's ``superset.mcp_service.mcp_config`` (the auth parts).

Shaped like apache/superset ``superset/mcp_service/mcp_config.py`` at commit
000a667cfebcc8dedce8b22712306fc985eb6953: ``MCPAuthConfigError`` (an unusable
auth config aborts start-up: PRs #41292, #43388), ``MCP_DISABLED_TOOLS``,
``MCP_GUEST_ALLOWED_TOOLS``, ``MCP_API_KEY_ENABLED`` falling back to
``FAB_API_KEY_ENABLED`` (PR #39604), embedded guest tokens behind
``MCP_EMBEDDED_GUEST_AUTH_ENABLED`` and the ``EMBEDDED_SUPERSET`` flag (PR
#41003), several ``MCP_JWT_ISSUER`` values only with ``MCP_USER_RESOLVER``
(PR #42935), and the default auth factory that wraps its JWT verifier in a
``CompositeTokenVerifier`` for API keys and guest tokens — the wrapping a custom
``MCP_AUTH_FACTORY`` bypasses (review of PR #43637).
"""

from __future__ import annotations

from typing import Any

from tests.unit.standins.superset_main_verifiers import CompositeTokenVerifier, GuestTokenVerifier, JWTVerifier


class MCPAuthConfigError(ValueError):
    """MCP auth is enabled but configured in an unusable state."""


MCP_DISABLED_TOOLS: set[str] = set()
MCP_API_KEY_ENABLED: bool | None = None
MCP_EMBEDDED_GUEST_AUTH_ENABLED: bool = False
MCP_GUEST_ALLOWED_TOOLS: set[str] = {
    "get_dashboard_info", "get_dashboard_layout", "get_dashboard_data", "list_dashboards",
    "list_charts", "get_chart_info", "get_chart_data", "get_chart_preview",
}


def get_mcp_api_key_enabled(app: Any, *, startup_warning: bool = False) -> bool:
    if (mcp_setting := app.config.get("MCP_API_KEY_ENABLED", None)) is not None:
        return bool(mcp_setting)
    return bool(app.config.get("FAB_API_KEY_ENABLED", False))


def _is_mcp_guest_auth_enabled(app: Any) -> bool:
    if not app.config.get("MCP_EMBEDDED_GUEST_AUTH_ENABLED", False):
        return False
    return bool(app.config.get("FEATURE_FLAGS", {}).get("EMBEDDED_SUPERSET"))


def validate_multi_issuer_user_resolver(app: Any) -> None:
    configured_issuer = app.config.get("MCP_JWT_ISSUER")
    if (
        isinstance(configured_issuer, (list, tuple, set))
        and len({str(issuer) for issuer in configured_issuer}) > 1
        and not app.config.get("MCP_USER_RESOLVER")
    ):
        raise MCPAuthConfigError("MCP_JWT_ISSUER trusts multiple issuers but no MCP_USER_RESOLVER is configured.")


def create_default_mcp_auth_factory(app: Any) -> Any:
    auth_enabled = app.config.get("MCP_AUTH_ENABLED", False)
    api_key_enabled = get_mcp_api_key_enabled(app, startup_warning=True)
    guest_enabled = _is_mcp_guest_auth_enabled(app)
    if not (auth_enabled or api_key_enabled or guest_enabled):
        return None
    if auth_enabled and app.config.get("MCP_DEV_USERNAME"):
        raise MCPAuthConfigError("MCP_DEV_USERNAME must not be set when MCP_AUTH_ENABLED is True")
    if auth_enabled and not app.config.get("MCP_JWT_AUDIENCE"):
        raise MCPAuthConfigError("MCP_JWT_AUDIENCE must be set when MCP_AUTH_ENABLED is True")
    jwt_verifier = None
    if auth_enabled:
        validate_multi_issuer_user_resolver(app)
        jwt_verifier = JWTVerifier(app.config)
    if api_key_enabled or guest_enabled:
        return CompositeTokenVerifier(
            jwt_verifier=jwt_verifier,
            api_key_prefixes=list(app.config.get("FAB_API_KEY_PREFIXES", ["sst_"])) if api_key_enabled else [],
            app=app,
            guest_verifier=GuestTokenVerifier(app) if guest_enabled else None,
        )
    return jwt_verifier


def default_user_resolver(app: Any, access_token: Any) -> str | None:
    claims = getattr(access_token, "claims", None)
    if isinstance(claims, dict) and claims:
        username = claims.get("preferred_username") or claims.get("username") or claims.get("email") or claims.get("sub")
        if username:
            return username
    return getattr(access_token, "subject", None) or getattr(access_token, "client_id", None)
