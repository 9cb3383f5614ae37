"""`superset mcp-jwt ...` as an operator runs it: subprocesses on a real Superset 6.1.0 config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from demo.sandbox import mint

pytestmark = pytest.mark.postgresql  # the CLI reads users from the metadata DB

@pytest.fixture(scope="module")
def config(home) -> Path:
    return home.config("cli_config")


def test_token_then_check_round_trip(home, config):
    minted = home.superset("mcp-jwt", "token", "--sub", "alice", "--ttl", "1h", config=config)
    token = minted.stdout.strip().splitlines()[-1]
    checked = home.superset("mcp-jwt", "check", token, config=config)
    assert "user:     alice (active)" in checked.stdout
    assert "roles:    Gamma" in checked.stdout


def test_token_for_an_unknown_user_is_refused(home, config):
    result = home.superset("mcp-jwt", "token", "--sub", "nobody", config=config, check=False)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "unknown_user" in result.stderr
    assert "eyJ" not in result.stdout


def test_check_explains_an_expired_token(home, config):
    expired = mint(home.secret, "admin", ttl=-3 * 3600)
    result = home.superset("mcp-jwt", "check", expired, config=config, check=False)
    assert result.returncode == 1
    assert "rejected: expired: token expired 3.0h ago" in result.stdout


def test_standalone_script_signs_with_a_secret_file(home, config):
    script = str(Path(sys.executable).with_name("superset-mcp-jwt"))
    minted = subprocess.run(
        [script, "token", "--sub", "admin", "--secret-file", str(home.root / "mcp_secret")],
        capture_output=True, text=True, check=True,
    )
    token = minted.stdout.strip().splitlines()[-1]
    checked = home.superset("mcp-jwt", "check", token, config=config)
    assert "user:     admin (active)" in checked.stdout
