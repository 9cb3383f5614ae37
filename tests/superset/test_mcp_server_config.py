"""Both processes (`superset mcp run` and the web app, `superset run`) refuse unsafe
configurations; dev and debug modes keep working."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from demo.sandbox import MCPServer, WebServer, call_tool, mint
from superset_mcp_jwt.settings import PUBLISHED_EXAMPLE_SECRET

try:
    from builtins import ExceptionGroup
except ImportError:  # Python 3.10: anyio's backport
    from exceptiongroup import ExceptionGroup

PUBLIC_PEM = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode()
RS256_NO_SECRET = {"MCP_JWT_ALGORITHM": "RS256", "MCP_JWT_SECRET": ...}
#: 0.1.0's configuration of its own authorization server (its switch is Superset's too).
OURS_ON_THE_OLD_SWITCH = {"MCP_OAUTH_ENABLED": True, "MCP_OAUTH_ISSUER": "http://127.0.0.1:8088",
                          "MCP_OAUTH_RESOURCE": "http://127.0.0.1:5008/mcp"}
#: Config text making the stand-in of Superset's own MCP OAuth work (tests/unit/standins/superset_oauth/)
#: part of the installed Superset package, as a Superset release shipping it would be.
SUPERSET_OWN_OAUTH = f"""
import superset as _superset
_superset.__path__.append({str(Path(__file__).parents[1] / "unit" / "standins" / "superset_oauth" / "superset")!r})
"""

BAD_CONFIGS = {
    "missing_secret": ({"MCP_JWT_SECRET": ...}, "MCP_JWT_SECRET"),
    "short_secret": ({"MCP_JWT_SECRET": "only-twenty-six-bytes-long"}, "MCP_JWT_SECRET"),
    "example_secret": ({"MCP_JWT_SECRET": PUBLISHED_EXAMPLE_SECRET}, "MCP_JWT_SECRET"),
    "missing_issuer": ({"MCP_JWT_ISSUER": ...}, "MCP_JWT_ISSUER"),
    "missing_audience": ({"MCP_JWT_AUDIENCE": ""}, "MCP_JWT_AUDIENCE"),
    "alg_none": ({"MCP_JWT_ALGORITHM": "none"}, "MCP_JWT_ALGORITHM"),
    "unknown_alg": ({"MCP_JWT_ALGORITHM": "HS257"}, "MCP_JWT_ALGORITHM"),
    "dev_user_with_auth": ({"MCP_DEV_USERNAME": "admin"}, "MCP_DEV_USERNAME"),
    "own_auth_factory": ({"MCP_AUTH_FACTORY": ...}, "MCP_AUTH_FACTORY"),
    "secret_with_rs256": ({"MCP_JWT_ALGORITHM": "RS256"}, "MCP_JWT_SECRET"),
    "public_key_with_hs256": ({"MCP_JWT_PUBLIC_KEY": PUBLIC_PEM}, "MCP_JWT_PUBLIC_KEY"),
    "malformed_pem": ({**RS256_NO_SECRET, "MCP_JWT_PUBLIC_KEY": PUBLIC_PEM[:60] + "\n-----END PUBLIC KEY-----"},
                      "MCP_JWT_PUBLIC_KEY"),
    "jwks_plain_http_remote": ({**RS256_NO_SECRET, "MCP_JWKS_URI": "http://idp.example.com/jwks"}, "MCP_JWKS_URI"),
    "response_cache_across_users": ({"MCP_CACHE_CONFIG": {"enabled": True}}, "MCP_CACHE_CONFIG"),
    # With the stand-in of Superset's own MCP OAuth server on the path (SUPERSET_OWN_OAUTH):
    "superset_own_oauth_and_ours_read_one_switch": (OURS_ON_THE_OLD_SWITCH, "MCP_OAUTH_ENABLED"),
    "superset_own_oauth_beside_ours": ({**OURS_ON_THE_OLD_SWITCH, "MCP_JWT_OAUTH_SERVER": True},
                                       "MCP_OAUTH_ENABLED"),
}
#: Configurations that graft the stand-in of Superset's own MCP OAuth package onto the real Superset.
WITH_SUPERSET_OWN_OAUTH = {"superset_own_oauth_and_ours_read_one_switch", "superset_own_oauth_beside_ours"}
PROCESSES = {"mcp": MCPServer, "web": WebServer}
#: Every bad configuration stops `superset mcp run`; these, one per kind of check, also
#: the web app (the same start-up check runs in both: ``init_app`` from FLASK_APP_MUTATOR).
WEB_TOO = {"missing_secret", "alg_none", "dev_user_with_auth", "malformed_pem", "jwks_plain_http_remote",
           "superset_own_oauth_and_ours_read_one_switch"}
#: (process, bad configuration) pairs that are started and checked.
CASES = [(process, name) for process in sorted(PROCESSES) for name in sorted(BAD_CONFIGS)
         if process == "mcp" or name in WEB_TOO]

#: Config text that makes building our MCP auth provider fail inside the real
#: `superset mcp run` (the factory itself is the one init_app installs).
FAILING_PROVIDER = """
import superset_mcp_jwt.mcp_server

def _failing_provider(*args, **kwargs):
    raise RuntimeError("simulated failure while building the MCP auth provider")

superset_mcp_jwt.mcp_server.MCPJWTAuthProvider = _failing_provider
"""


#: Processes started at a time: on a 2-core machine more only make each slower.
AT_ONCE = 3


@pytest.fixture(scope="module")
def refused(home) -> dict[tuple[str, str], tuple[int, str]]:
    """Start every bad configuration in both processes, a few at a time; collect (exit code, log)."""
    configs = {}
    for name, (keys, _key) in BAD_CONFIGS.items():
        extra = ""
        if name == "own_auth_factory":
            extra = "MCP_AUTH_FACTORY = lambda app: None\n"
        elif name in WITH_SUPERSET_OWN_OAUTH:
            extra = SUPERSET_OWN_OAUTH
        configs[name] = home.config(f"bad_{name}", extra=extra, **keys)
    starts = [((process, name), PROCESSES[process], configs[name], f"bad-{process}-{name}")
              for process, name in CASES]
    # Only `superset mcp run` calls the auth factory.
    config = home.config("bad_failing_auth_factory", extra=FAILING_PROVIDER)
    starts.append((("mcp", "failing_auth_factory"), MCPServer, config, "bad-mcp-failing-auth-factory"))
    results = {}
    for first in range(0, len(starts), AT_ONCE):
        batch = [(key, kind(home, config, log)) for key, kind, config, log in starts[first:first + AT_ONCE]]
        results.update({key: (server.wait_exit(timeout=300), server.log()) for key, server in batch})
    return results


@pytest.mark.parametrize("process, name", CASES)
def test_bad_config_stops_start_up(refused, home, name, process):
    code, log = refused[process, name]
    key = BAD_CONFIGS[name][1]
    assert code == 1, (code, log[-2000:])
    assert f"superset-mcp-jwt: {key}:" in log
    assert "Uvicorn running" not in log and "Starting FastMCP" not in log
    assert "Running on http" not in log
    assert home.secret not in log
    assert PUBLISHED_EXAMPLE_SECRET not in log


@pytest.mark.parametrize("process, name", [case for case in CASES if case[1] in WITH_SUPERSET_OWN_OAUTH])
def test_superset_own_oauth_server_beside_ours_is_refused_naming_both(refused, name, process):
    """A Superset 6.1.0 with Superset's own MCP OAuth package (the stand-in) and 0.1.0's config."""
    _, log = refused[process, name]
    assert "own MCP OAuth authorization server (superset.mcp_oauth)" in log
    assert "MCP_JWT_OAUTH_SERVER" in log and "MCP_OAUTH_ENABLED = False" in log


def test_failing_auth_factory_stops_the_mcp_server(refused, home):
    """Superset 6.1.0 catches an Exception from MCP_AUTH_FACTORY and then serves
    MCP without authentication; the factory turns any failure into SystemExit."""
    code, log = refused["mcp", "failing_auth_factory"]
    assert code == 1, (code, log[-2000:])
    assert "could not build the MCP auth provider (RuntimeError)" in log
    assert "superset-mcp-jwt: refusing to start the MCP server without authentication" in log
    assert "Failed to create auth provider from MCP_AUTH_FACTORY" not in log  # not swallowed
    assert "Uvicorn running" not in log and "Starting FastMCP" not in log
    assert home.secret not in log


def http_status(error: BaseException) -> int:
    """The HTTP status behind the MCP client's failure (an ExceptionGroup from its task group)."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code
    statuses = [http_status(e) for e in getattr(error, "exceptions", ())]
    assert len(statuses) == 1, repr(error)
    return statuses[0]


@pytest.fixture(scope="module")
def dev_server(home) -> Iterator[MCPServer]:
    config = home.config("dev_config", MCP_AUTH_ENABLED=False, MCP_DEV_USERNAME="alice")
    with MCPServer(home, config, "mcp-dev") as running:
        yield running


def test_dev_mode_runs_as_the_dev_user_and_warns(dev_server):
    is_error, text = asyncio.run(call_tool(dev_server.url, "ignored", "get_instance_info", {}))
    assert not is_error
    assert json.loads(text)["current_user"]["username"] == "alice"
    assert "every MCP request runs as MCP_DEV_USERNAME 'alice'" in dev_server.log()


@pytest.fixture(scope="module")
def debug_server(home) -> Iterator[MCPServer]:
    config = home.config("debug_config", MCP_JWT_DEBUG_ERRORS=True)
    with MCPServer(home, config, "mcp-debug") as running:
        yield running


def test_debug_mode_accepts_valid_tokens_and_explains_rejections(debug_server, home):
    is_error, text = asyncio.run(
        call_tool(debug_server.url, mint(home.secret, "admin"), "get_instance_info", {})
    )
    assert not is_error and json.loads(text)["current_user"]["username"] == "admin"
    wrong_aud = mint(home.secret, "admin", aud="someone-else")
    with pytest.raises(ExceptionGroup) as info:
        asyncio.run(call_tool(debug_server.url, wrong_aud, "get_instance_info", {}))
    assert http_status(info.value) == 401
    unknown = mint(home.secret, "nobody")
    with pytest.raises(ExceptionGroup) as info:
        asyncio.run(call_tool(debug_server.url, unknown, "get_instance_info", {}))
    assert http_status(info.value) == 401
    log = debug_server.log()
    assert "rejected: bad_audience: aud is 'someone-else', MCP_JWT_AUDIENCE is" in log
    assert "rejected: unknown_user: no Superset user for claim 'sub' = 'nobody'" in log
    assert home.secret not in log
    assert wrong_aud not in log and wrong_aud.split(".")[2] not in log
