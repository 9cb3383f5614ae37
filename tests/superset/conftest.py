"""A real Superset 6.1.0 home per metadata database, each built once per test session.

Every test here runs on SQLite; a test (or module) marked ``postgresql`` runs on
a throw-away PostgreSQL cluster as well (Debian's server package, installed by
``make services``), and one marked ``postgresql(only=True)`` only there (races that
SQLite's one-writer-at-a-time would hide). The test id says which:
``test_x[sqlite]``, ``test_x[postgresql]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from demo.browser import launch
from demo.sandbox import USERS, PostgresCluster, SupersetHome

#: The sandbox's users and the ones tests of their own need (created at bootstrap, in the
#: same process as Superset's set-up, instead of one `superset fab create-user` each).
#: Each test that revokes a subject has a user of its own: a subject revocation is
#: permanent for tokens without ``iat``, which other tests mint for alice.
TEST_USERS = {
    **USERS,
    "dave": ("Gamma", True),  # test_mcp_server: deactivated by its test
    "oauthrev": ("Gamma", True),  # test_oauth_e2e: revoked by its test
    "revmetadb": ("Gamma", True),  # test_revocation_replicas, metadata-DB store
    "revredis": ("Gamma", True),  # test_revocation_replicas, Redis store
}
#: One home per database for the whole session, whichever module asks first
#: (tests/security asks without a parameter: it gets the SQLite one).
_HOMES = pytest.StashKey[dict]()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "home" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("postgresql")
        if marker is None:
            databases = ["sqlite"]
        else:
            databases = ["postgresql"] if marker.kwargs.get("only") else ["sqlite", "postgresql"]
        metafunc.parametrize("home", databases, indirect=True, scope="session")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SupersetHome:
    # Parametrised for tests/superset (pytest_generate_tests above); SQLite elsewhere (tests/security).
    database = getattr(request, "param", "sqlite")
    homes = request.config.stash.setdefault(_HOMES, {})
    if database not in homes:
        homes[database] = _build_home(database, request, tmp_path_factory)
    return homes[database]


def _build_home(database: str, request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> SupersetHome:
    if database == "postgresql":
        # SUPERSET_MCP_JWT_TEST_POSTGRES (a database URI) reuses a database between local runs.
        uri = os.environ.get("SUPERSET_MCP_JWT_TEST_POSTGRES")
        if not uri:
            cluster: PostgresCluster = request.getfixturevalue("postgres")
            uri = cluster.create_database("superset")
        home = SupersetHome(tmp_path_factory.mktemp("superset-home-pg"), database_uri=uri)
    else:
        # SUPERSET_MCP_JWT_TEST_HOME reuses a SQLite home between local runs; CI builds a new one.
        root = os.environ.get("SUPERSET_MCP_JWT_TEST_HOME")
        home = SupersetHome(Path(root) if root else tmp_path_factory.mktemp("superset-home"))
    secret_file = home.root / "mcp_secret"
    if secret_file.exists():
        home.secret = secret_file.read_text()
    home.bootstrap(log=lambda message: None, users=TEST_USERS)
    secret_file.write_text(home.secret)  # for the standalone CLI's --secret-file
    return home


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for one test module (Playwright's sync API)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()
