"""`superset mcp-jwt db downgrade REVISION` (a package rollback) through Click's runner, on a real
Flask-AppBuilder app with OAuth on; the real Superset upgrade: tests/superset/test_oauth_e2e.py."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from superset_mcp_jwt.cli import mcp_jwt
from superset_mcp_jwt.oauth import migrations
from tests.flask_app.test_oauth_views import claims, make_oauth_app, tokens
from tests.unit.test_oauth_migrations import LEGACY, superset_own_oauth_table


@pytest.fixture
def app(tmp_path: Any) -> Any:
    return make_oauth_app(tmp_path)


def run(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(mcp_jwt, list(args))


def engine(app: Any) -> sa.engine.Engine:
    return sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])


def test_downgrade_to_the_0_1_0_revision_keeps_every_connection_and_upgrade_brings_it_back(app: Any) -> None:
    client = app.test_client()
    client_id, body = tokens(app, client)
    down = run(app, "db", "downgrade", "0001")
    assert down.exit_code == 0, down.output
    assert f"downgraded from revision {migrations.head_revision()} to 0001 (release 0.1.0's schema)" in down.stdout
    assert "OAuth requests fail until the release that expects this revision runs" in down.stderr
    assert set(LEGACY) <= set(sa.inspect(engine(app)).get_table_names())
    up = run(app, "db", "upgrade")
    assert up.exit_code == 0 and f"upgraded from 0001 to revision {migrations.head_revision()}" in up.output
    listed = run(app, "clients", "list")
    assert client_id in listed.output
    refreshed = client.post("/oauth/mcp/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"],
        "client_id": claims(app, body["access_token"])["client_id"],
    })
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)


HEAD = migrations.head_revision()


@pytest.mark.parametrize("revision, message", [
    ("0999", "unknown revision; this release has base, " + ", ".join(migrations.revisions())),
    (HEAD, f"the tables are at revision {HEAD}; {HEAD} is not below it"),
    ("base", "add --yes to do so"),
])
def test_downgrade_refuses_and_changes_nothing(untouched: Any, revision: str, message: str) -> None:
    result = run(untouched, "db", "downgrade", revision)
    assert result.exit_code != 0 and message in result.output
    assert migrations.current_revision(engine(untouched)) == HEAD


@pytest.fixture(scope="module")
def untouched(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One app for the refusals (each changes nothing: FAB's set-up is slow)."""
    return make_oauth_app(tmp_path_factory.mktemp("refusals"))


def test_downgrade_refuses_when_supersets_own_tables_hold_the_old_names(app: Any) -> None:
    superset_own_oauth_table(engine(app))
    result = run(app, "db", "downgrade", "0001")
    assert result.exit_code == 1 and "mcp_oauth_clients" in result.output and "the 0.1.0 names are taken" in result.output
    assert migrations.current_revision(engine(app)) == HEAD


def test_downgrade_to_base_with_yes_drops_the_tables(app: Any) -> None:
    result = run(app, "db", "downgrade", "base", "--yes")
    assert result.exit_code == 0, result.output
    assert not [name for name in sa.inspect(engine(app)).get_table_names() if "mcp_oauth_" in name]
    assert migrations.current_revision(engine(app)) is None
    again = run(app, "db", "downgrade", "0001")
    assert again.exit_code == 1 and "there are no superset-mcp-jwt tables to downgrade" in again.output
