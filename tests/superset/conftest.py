"""A real Superset 6.1.0 home on SQLite, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from demo.sandbox import SupersetHome


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> SupersetHome:
    # SUPERSET_MCP_JWT_TEST_HOME reuses a home between local runs; CI builds a new one.
    root = os.environ.get("SUPERSET_MCP_JWT_TEST_HOME")
    home = SupersetHome(Path(root) if root else tmp_path_factory.mktemp("superset-home"))
    secret_file = home.root / "mcp_secret"
    if secret_file.exists():
        home.secret = secret_file.read_text()
    home.bootstrap(log=lambda message: None)
    secret_file.write_text(home.secret)  # for the standalone CLI's --secret-file
    return home
