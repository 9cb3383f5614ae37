"""superset-mcp-jwt on the stand-ins of Superset main's newest auth shapes (tests/unit/standins/superset_main_*.py).

Per-resource scopes ``superset:<resource>:<action>`` intersected with RBAC (PR #42297),
API keys and embedded guest tokens beside JWTs (#39604, #41003), several issuers only
with ``MCP_USER_RESOLVER`` (#42935), the response cache refused unless shared on purpose
(#43388). The property test runs main's real check (the stand-in's) on every tool shape
× every scope set: what main decides, with ours installed, is what our scopes and the
user's roles allow, and main's check alone never denies what ours allow.
"""

from __future__ import annotations

import itertools
import sys
import time
import types
from typing import Any, Iterator

import jwt
import pytest
from flask import g
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser

from superset_mcp_jwt import superset_compat
from superset_mcp_jwt.errors import ConfigError
from superset_mcp_jwt.mcp_server import UserAccessToken
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.tokens import (
    RESOURCE_SCOPE_NAMES,
    SCOPE_METHODS,
    TokenVerifier,
    scope_allows,
    scopes_for_superset,
    sign_token,
)
from tests.documented import documented_config
from tests.unit.standins import superset_main_mcp_config, superset_main_verifiers
from tests.unit.test_superset_shapes import SupersetApp, bearer, load, modules  # noqa: F401 (fixture)

#: Every shape of tool: each permission class main maps to a resource, one it does not,
#: none (a tool every user may call); each method main maps, and one it does not.
CLASSES = (*sorted(RESOURCE_SCOPE_NAMES), "Log", None)
METHODS = ("read", "get", "write", "update", "delete", "execute_sql_query", "export")
SHAPES = list(itertools.product(CLASSES, METHODS))
#: Every scope a token may carry that either side reads, and some that neither grants by.
SCOPES = sorted({
    *SCOPE_METHODS, "mcp:unknown", "superset:unknown", "superset:chart:admin", "openid",
    *(f"superset:{resource}:{action}" for resource in RESOURCE_SCOPE_NAMES.values() for action in ("read", "write")),
})
PERMISSIONS = sorted({(f"can_{method}", cls) for cls, method in SHAPES if cls is not None})


@pytest.fixture
def main(modules, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, SupersetApp]]:  # noqa: F811
    """Main's auth module and MCP config as Superset's, superset-mcp-jwt installed on an app."""
    monkeypatch.setitem(sys.modules, "superset.mcp_service.mcp_config", superset_main_mcp_config)
    auth = load("superset.mcp_service.auth", "superset_main_auth.py")
    auth.USERS.clear()
    app = SupersetApp("standin")
    superset_compat.install(app)
    yield auth, app


def tool(auth: Any, cls: str | None, method: str) -> Any:
    """A tool of this shape, registered (mcp_auth_hook) after init_app as `superset mcp run` does."""

    def fn() -> str:
        return g.user.username  # the identity the tool runs as

    fn.__name__ = f"{(cls or 'public').replace(' ', '_')}_{method}"
    if cls is not None:
        setattr(fn, auth.CLASS_PERMISSION_ATTR, cls)
    setattr(fn, auth.METHOD_PERMISSION_ATTR, method)
    return auth.mcp_auth_hook(fn)


def run(app: Any, fn: Any) -> str | None:
    """The user the tool ran as, or None if main refused it."""
    with app.app_context():
        try:
            return fn()
        except (PermissionError, ValueError):
            return None


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scopes=st.sets(st.sampled_from(SCOPES), max_size=6), permissions=st.sets(st.sampled_from(PERMISSIONS)))
def test_main_decides_exactly_what_our_scopes_and_the_roles_allow(main, scopes, permissions):
    auth, app = main
    auth.USERS["u"] = auth.User("u", set(permissions))
    functions = {shape: tool(auth, *shape) for shape in SHAPES}
    check_alone = auth.check_tool_permission.__wrapped__  # main's own check, without ours
    reset = bearer("u", *sorted(scopes))
    try:
        for (cls, method), fn in functions.items():
            ours = (cls is None or (f"can_{method}", cls) in permissions) and \
                scope_allows(sorted(scopes), cls, method) is not False
            assert run(app, fn) == ("u" if ours else None), (cls, method, sorted(scopes))
            with app.app_context():
                g.user = auth.USERS["u"]
                if ours:  # Superset's own check, on the scopes it is shown, never denies what ours allow
                    assert check_alone(_marked(auth, cls, method)), (cls, method, scopes_for_superset(sorted(scopes)))
                listed = auth.is_tool_visible_to_current_user(types.SimpleNamespace(fn=_marked(auth, cls, method)))
            if cls is not None:  # main lists every tool without a class; the others as calls decide
                assert listed == ours, (cls, method, sorted(scopes))
    finally:
        auth_context_var.reset(reset)
        auth.PERMISSION_CALLS.clear()


def _marked(auth: Any, cls: str | None, method: str) -> Any:
    """A bare function with the tool's permission markers (what main's check reads)."""

    def fn() -> None:
        pass

    fn.__name__ = f"{(cls or 'public').replace(' ', '_')}_{method}"
    if cls is not None:
        setattr(fn, auth.CLASS_PERMISSION_ATTR, cls)
    setattr(fn, auth.METHOD_PERMISSION_ATTR, method)
    return fn


def test_the_scopes_main_is_shown_only_widen_where_mains_vocabulary_is_coarser():
    # mcp:write and mcp:sql map to main's one write scope; ours keeps them apart.
    assert scopes_for_superset(["mcp:write"]) == ["mcp:write", "superset:read", "superset:write"]
    assert scopes_for_superset(["mcp:sql"]) == ["mcp:sql", "superset:read", "superset:write"]
    assert scopes_for_superset(["superset:dashboard:read"]) == ["superset:dashboard:read"]
    assert scopes_for_superset(["openid"]) == [] and scopes_for_superset(["mcp:all"]) == []


@pytest.mark.parametrize("keys, key", [
    ({"MCP_API_KEY_ENABLED": True}, "MCP_API_KEY_ENABLED"),
    ({"FAB_API_KEY_ENABLED": True}, "FAB_API_KEY_ENABLED"),  # main's fallback for MCP_API_KEY_ENABLED = None
    ({"MCP_EMBEDDED_GUEST_AUTH_ENABLED": True, "FEATURE_FLAGS": {"EMBEDDED_SUPERSET": True}},
     "MCP_EMBEDDED_GUEST_AUTH_ENABLED"),
])
def test_start_up_says_our_factory_replaces_supersets_api_keys_and_guest_tokens(modules, monkeypatch, keys, key):
    monkeypatch.setitem(sys.modules, "superset.mcp_service.mcp_config", superset_main_mcp_config)
    load("superset.mcp_service.auth", "superset_main_auth.py")
    app = SupersetApp("standin")
    app.config.update(keys)
    with pytest.raises(ConfigError) as refused:
        superset_compat.install(app)
    assert refused.value.key == key
    assert "replaces Superset's, which is the one that accepts" in str(refused.value)
    assert "MCP_AUTH_FACTORY" not in app.config and "MCP_USER_RESOLVER" not in app.config
    # What would have accepted those tokens is main's default factory, which ours replaces.
    built = superset_main_mcp_config.create_default_mcp_auth_factory(app)
    assert isinstance(built, superset_main_verifiers.CompositeTokenVerifier)


def test_fab_api_keys_for_the_rest_api_only_start(modules, monkeypatch):
    monkeypatch.setitem(sys.modules, "superset.mcp_service.mcp_config", superset_main_mcp_config)
    load("superset.mcp_service.auth", "superset_main_auth.py")
    app = SupersetApp("standin")
    app.config.update(FAB_API_KEY_ENABLED=True, MCP_API_KEY_ENABLED=False)
    superset_compat.install(app)
    assert app.config["MCP_AUTH_FACTORY"] is superset_compat.create_auth_provider


@pytest.mark.parametrize("claim, client", [
    (superset_main_verifiers.API_KEY_PASSTHROUGH_CLAIM, "api_key"),
    (superset_main_verifiers.GUEST_TOKEN_CLAIM, "guest"),
])
def test_a_token_of_ours_posing_as_an_api_key_or_guest_gets_no_user(main, claim, client):
    auth, app = main
    auth.USERS["admin"] = auth.User("admin", {("can_read", "Chart")})
    forged = UserAccessToken(token="t", client_id=client, subject=client, scopes=[], expires_at=int(time.time()) + 60,
                             claims={"sub": client, claim: True,
                                     superset_main_verifiers.API_KEY_VALIDATED_USERNAME_CLAIM: "admin"},
                             username=client)
    reset = auth_context_var.set(AuthenticatedUser(forged))
    try:
        with app.app_context(), pytest.raises(ValueError):  # no API keys, no guests: no source applies
            auth.get_user_from_request()
    finally:
        auth_context_var.reset(reset)


def test_several_issuers_resolve_through_our_resolver(main):
    auth, app = main
    auth.USERS.update(alice=auth.User("alice", set()), admin=auth.User("admin", set()))
    secret = "vU3Tq0h8kXw1s9bYpL2mZr7cN5aJ4eFgHdKiOoQtRsE"
    oauth = {"MCP_OAUTH_ENABLED": True, "MCP_OAUTH_ISSUER": "https://superset.example.com",
             "MCP_OAUTH_RESOURCE": "https://superset.example.com/mcp"}
    verifier = TokenVerifier(Settings.from_config(documented_config(secret, **oauth)))
    pasted = sign_token(verifier.settings, "alice", 60)
    own = jwt.encode({"sub": "admin", "iss": oauth["MCP_OAUTH_ISSUER"], "aud": oauth["MCP_OAUTH_RESOURCE"],
                      "exp": int(time.time()) + 60}, secret, algorithm="HS256")
    # As main reads its config: two trusted issuers need an issuer-aware MCP_USER_RESOLVER.
    app.config["MCP_JWT_ISSUER"] = [verifier.settings.issuer, oauth["MCP_OAUTH_ISSUER"]]
    for token, user in ((pasted, "alice"), (own, "admin")):
        claims = verifier.verify(token)
        access = UserAccessToken(token=token, client_id=claims["sub"], subject=claims["sub"], scopes=[],
                                 expires_at=claims["exp"], claims=claims, username=claims["sub"])
        reset = auth_context_var.set(AuthenticatedUser(access))
        try:
            with app.app_context():
                assert auth.get_user_from_request().username == user
                del app.config["MCP_USER_RESOLVER"]
                with pytest.raises(superset_main_mcp_config.MCPAuthConfigError):  # control: main's rule holds
                    auth.get_user_from_request()
                app.config["MCP_USER_RESOLVER"] = superset_compat.main_branch.resolver_for_config
        finally:
            auth_context_var.reset(reset)


@pytest.mark.parametrize("standin", ["superset_main_auth.py", "superset_61_auth.py"])
def test_the_response_cache_is_refused_unless_shared_on_purpose(modules, monkeypatch, standin):
    load("superset.mcp_service.auth", standin)
    app = SupersetApp("standin")
    app.config["MCP_CACHE_CONFIG"] = {"enabled": True}
    with pytest.raises(ConfigError) as refused:
        superset_compat.install(app)
    assert refused.value.key == "MCP_CACHE_CONFIG" and "dangerously_share_cache_across_principals" in str(refused.value)
    assert "MCP_AUTH_FACTORY" not in app.config
    app.config["MCP_CACHE_CONFIG"] = {"enabled": True, "dangerously_share_cache_across_principals": True}
    superset_compat.install(app)
    assert app.config["MCP_AUTH_FACTORY"] is superset_compat.create_auth_provider
