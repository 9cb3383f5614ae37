"""One authorization server at a time, against stand-ins of Superset's own MCP OAuth work.

The stand-ins (tests/unit/standins/superset_oauth/, each citing the apache/superset
file and commit it is shaped like) are loaded into ``sys.modules``; a real Superset
6.1.0 refusing to start with them: tests/superset/test_mcp_server_config.py.
"""

from __future__ import annotations

import importlib
import itertools
import sys
import types
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from flask import Flask

from superset_mcp_jwt import superset_compat
from superset_mcp_jwt.errors import ConfigError
from superset_mcp_jwt.registry import get_manager
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.superset_compat import upstream_oauth
from tests.documented import documented_config

ROOT = Path(__file__).parent / "standins" / "superset_oauth"
SECRET = "vU3Tq0h8kXw1s9bYpL2mZr7cN5aJ4eFgHdKiOoQtRsE"
OURS = {"MCP_OAUTH_ISSUER": "https://superset.example.com", "MCP_OAUTH_RESOURCE": "https://superset.example.com/mcp"}


class SupersetApp(Flask):
    """Stands in for superset.app.SupersetApp (is_superset_app checks the class)."""


@pytest.fixture
def modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A stand-in superset.app; restores sys.modules' superset entries after the test."""
    for name in [name for name in sys.modules if name == "superset" or name.startswith("superset.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "superset.app", types.SimpleNamespace(SupersetApp=SupersetApp))
    yield


def graft() -> None:
    """The stand-ins' ``superset`` as the imported top package: its modules import as Superset's would."""
    package = types.ModuleType("superset")
    package.__path__ = [str(ROOT / "superset")]
    sys.modules["superset"] = package


def load_superset_oauth() -> types.ModuleType:
    graft()
    return importlib.import_module("superset.mcp_oauth.views")


def load_mcp_config_wiring() -> None:
    graft()
    sys.modules["superset.mcp_service.mcp_config"] = importlib.import_module("superset.mcp_service.mcp_config_oauth")


def test_a_superset_without_its_own_server_is_not_mistaken_for_one(modules):
    assert upstream_oauth.detect(SupersetApp("x")) is None
    assert upstream_oauth.detect(Flask("not-superset")) is None


def test_its_modules_are_found_without_being_run(modules):
    graft()
    found = upstream_oauth.detect(SupersetApp("x"))
    assert found is not None and found.evidence == ("superset.mcp_oauth", "superset.mcp_service.auth_oauth")
    assert "superset.mcp_oauth" not in sys.modules and "superset.mcp_service.auth_oauth" not in sys.modules
    assert "own MCP OAuth authorization server (superset.mcp_oauth, superset.mcp_service.auth_oauth)" in str(found)


def test_its_wiring_in_the_mcp_config_is_found(modules):
    load_mcp_config_wiring()
    found = upstream_oauth.detect(SupersetApp("x"))
    assert found is not None and found.evidence[-1] == "superset.mcp_service.mcp_config._build_oauth_provider"
    wiring = sys.modules["superset.mcp_service.mcp_config"]
    provider = wiring.create_default_mcp_auth_factory(types.SimpleNamespace(config={
        "MCP_OAUTH_ENABLED": True, "MCP_OAUTH_ISSUER": "https://s.example.com",
        "MCP_OAUTH_RESOURCES": ["https://s.example.com/mcp"]}))
    assert provider["authorization_servers"] == ["https://s.example.com"]  # the stand-in works as cited


def test_a_config_factory_reading_the_switch_is_wiring_too(modules):
    mcp_config = types.ModuleType("superset.mcp_service.mcp_config")
    exec("def create_default_mcp_auth_factory(app):\n    return app.config.get('MCP_OAUTH_ENABLED')\n",
         mcp_config.__dict__)
    sys.modules["superset.mcp_service.mcp_config"] = mcp_config
    found = upstream_oauth.detect(SupersetApp("x"))
    assert found is not None and found.evidence == ("superset.mcp_service.mcp_config reading MCP_OAUTH_ENABLED",)


FOUND = upstream_oauth.SupersetOAuthServer(("superset.mcp_oauth",))
UNSET = object()


def outcome(present: bool, switch: Any, ours: Any, auth: bool) -> str:
    """Which server serves ("ours", "theirs", "none"), or "refused KEY: ..." — through the real checks."""
    keys: dict[str, Any] = {**OURS, "MCP_AUTH_ENABLED": auth}
    if switch is not UNSET:
        keys["MCP_OAUTH_ENABLED"] = switch
    if ours is not UNSET:
        keys["MCP_JWT_OAUTH_SERVER"] = ours
    config = documented_config(SECRET, **keys)
    found = FOUND if present else None
    try:
        settings = Settings.from_config(config, oauth_switch_shared=present)
        upstream_oauth.check(config, found, settings)
    except ConfigError as error:
        return f"refused {error.key}: {error}"
    if settings.oauth is not None:
        return "ours"
    return "theirs" if present and switch is True else "none"


SWITCHES = (UNSET, False, True)
CHOICES = (UNSET, None, False, True)
#: (Superset has its own, MCP_OAUTH_ENABLED, MCP_JWT_OAUTH_SERVER, MCP_AUTH_ENABLED) -> what starts.
EXPECTED = {}
for present, switch, ours, auth in itertools.product((False, True), SWITCHES, CHOICES, (False, True)):
    on = switch is True
    choice = None if ours is UNSET else ours
    if not present:
        if choice is None:
            result = "ours" if on else "none"
        elif choice:
            result = "ours"
        else:
            result = "refused MCP_JWT_OAUTH_SERVER" if on else "none"
        if result == "ours" and not auth:
            result = f"refused {'MCP_JWT_OAUTH_SERVER' if choice else 'MCP_OAUTH_ENABLED'}"
    elif not on:
        result = ("ours" if auth else "refused MCP_JWT_OAUTH_SERVER") if choice else "none"
    elif choice is None or choice:
        result = "refused MCP_JWT_OAUTH_SERVER" if choice and not auth else "refused MCP_OAUTH_ENABLED"
    else:
        result = "refused MCP_OAUTH_ENABLED" if auth else "theirs"
    EXPECTED[present, switch, ours, auth] = result


def _id(case: tuple[Any, ...]) -> str:
    present, switch, ours, auth = case
    shown = {UNSET: "unset"}
    return (f"{'superset-has-one' if present else 'superset-has-none'}-enabled={shown.get(switch, switch)}-"
            f"ours={shown.get(ours, ours)}-auth={auth}")


@pytest.mark.parametrize("case", list(EXPECTED), ids=[_id(c) for c in EXPECTED])
def test_every_combination_starts_one_server_or_refuses(case):
    result = outcome(*case)
    assert result.startswith(EXPECTED[case]), result


def test_the_refusals_say_which_server_is_on_and_which_key_turns_which_off():
    ambiguous = outcome(True, True, UNSET, True)
    assert "two authorization servers read it" in ambiguous and "superset.mcp_oauth" in ambiguous
    assert "MCP_OAUTH_ENABLED = False (turns Superset's off) and MCP_JWT_OAUTH_SERVER = True" in ambiguous
    assert "remove superset_mcp_jwt.init_app from FLASK_APP_MUTATOR" in ambiguous
    both = outcome(True, True, True, True)
    assert "two servers on /oauth/mcp/*" in both and "Set MCP_OAUTH_ENABLED = False" in both
    theirs_behind_ours = outcome(True, True, False, True)
    assert "replaces Superset's MCP auth provider" in theirs_behind_ours
    nothing = outcome(False, True, False, True)
    assert "has no MCP OAuth authorization server of its own" in nothing


def test_superset_serving_alone_is_logged(caplog):
    with caplog.at_level("INFO", "superset_mcp_jwt.superset_compat"):
        assert outcome(True, True, False, False) == "theirs"
    assert "serves MCP OAuth (MCP_OAUTH_ENABLED); superset-mcp-jwt's is off" in caplog.text


def fab_app(tmp_path: Any, found: Optional[upstream_oauth.SupersetOAuthServer], monkeypatch: pytest.MonkeyPatch,
            before: Any = None, **config: Any) -> Flask:
    """A real Flask-AppBuilder app started with init_app, Superset's own server ``found`` or not.

    ``before(app)`` runs before init_app (views registered ahead of the mutator).
    """
    from tests.flask_app.test_oauth_views import make_oauth_app

    monkeypatch.setattr(superset_compat, "superset_oauth_server", lambda app: found)
    return make_oauth_app(tmp_path, before=before, **config)


def test_ours_keeps_its_paths_when_supersets_views_register_after_the_mutator(tmp_path, modules, monkeypatch):
    views = load_superset_oauth()
    app = fab_app(tmp_path, FOUND, monkeypatch, MCP_OAUTH_ENABLED=False, MCP_JWT_OAUTH_SERVER=True)
    assert get_manager(app).oauth is not None
    views.register(app)  # Superset registers its views after FLASK_APP_MUTATOR
    client = app.test_client()
    assert client.get("/.well-known/oauth-authorization-server").get_json()["token_endpoint"].endswith(
        "/oauth/mcp/token")
    assert "served_by" not in client.get("/.well-known/oauth-authorization-server").get_json()
    answer = client.post("/oauth/mcp/token", data={"grant_type": "refresh_token", "refresh_token": "x"})
    # No client authentication at all: 401 invalid_client (client_secret_basic is among the methods).
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"
    assert client.get("/oauth/mcp/jwks.json").status_code == 404  # Superset's own, off


def test_ours_refuses_paths_already_served_by_supersets_views(tmp_path, modules, monkeypatch):
    views = load_superset_oauth()
    with pytest.raises(ConfigError) as refused:
        fab_app(tmp_path, FOUND, monkeypatch, before=views.register,
                MCP_OAUTH_ENABLED=False, MCP_JWT_OAUTH_SERVER=True)
    assert refused.value.key == "MCP_JWT_OAUTH_SERVER"
    assert "/.well-known/oauth-authorization-server" in str(refused.value)
    assert "superset_mcp_oauth.MCPOAuthWellKnownView_authorization_server_metadata" in str(refused.value)


def test_a_refused_start_changes_nothing(tmp_path, modules, monkeypatch):
    apps: list[Flask] = []
    with pytest.raises(ConfigError) as refused:
        fab_app(tmp_path, FOUND, monkeypatch, before=apps.append)  # MCP_OAUTH_ENABLED = True, ours unset
    assert refused.value.key == "MCP_OAUTH_ENABLED"
    [app] = apps
    assert "superset_mcp_jwt" not in app.extensions
    assert not [rule for rule in app.url_map.iter_rules() if "oauth" in rule.rule or "mcp" in rule.rule]
    assert not [f for funcs in app.before_request_funcs.values() for f in funcs if "superset_mcp_jwt" in f.__module__]


def test_superset_has_none_and_the_old_switch_keeps_working(tmp_path, modules, monkeypatch):
    app = fab_app(tmp_path, None, monkeypatch)  # 0.1.0's configuration: MCP_OAUTH_ENABLED = True
    assert get_manager(app).oauth is not None
