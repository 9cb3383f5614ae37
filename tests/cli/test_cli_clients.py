"""`flask mcp-jwt clients list|revoke` on a real FAB app with a real OAuth store."""

from __future__ import annotations

from superset_mcp_jwt.cli import mcp_jwt
from superset_mcp_jwt.registry import get_manager
from tests.flask_app.conftest import make_app
from tests.flask_app.test_access_page_connections import REDIRECT, connect, oauth_app


def run(app, *args):
    return app.test_cli_runner().invoke(mcp_jwt, list(args))


def test_list_shows_each_client_with_its_connections(tmp_path):
    app = oauth_app(tmp_path)
    assert run(app, "clients", "list").stdout.strip() == "no OAuth clients registered"
    first = connect(app, "alice", "Claude Code")
    second = connect(app, "admin", "Cursor")
    get_manager(app).oauth.revoke_connection(second.id)
    result = run(app, "clients", "list")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.strip().splitlines()
    assert header.split() == ["CLIENT_ID", "NAME", "KIND", "REDIRECT_URIS", "CREATED", "CONNECTIONS"]
    by_id = {row.split()[0]: row for row in rows}
    assert set(by_id) == {first.client_id, second.client_id}
    assert " Claude Code " in by_id[first.client_id] and " dcr " in by_id[first.client_id]
    assert REDIRECT in by_id[first.client_id] and by_id[first.client_id].endswith(" 1")
    assert " Cursor " in by_id[second.client_id] and by_id[second.client_id].endswith(" 0")


def test_revoke_removes_the_client_and_its_connections(tmp_path):
    app = oauth_app(tmp_path)
    client_id = connect(app, "alice", "Claude Code").client_id
    other = connect(app, "admin", "Cursor").id
    result = run(app, "clients", "revoke", client_id)
    assert result.exit_code == 0, result.output
    assert f"removed client {client_id!r} and revoked 1 connection(s)" in result.stdout
    service = get_manager(app).oauth
    assert [c.id for c in service.connections()] == [other]
    assert client_id not in {c.client_id for c in service.clients()}
    again = run(app, "clients", "revoke", client_id)
    assert again.exit_code != 0 and "no OAuth client" in again.stderr


def test_clear_message_when_oauth_is_off(tmp_path):
    app = make_app(tmp_path)
    for args in (["clients", "list"], ["clients", "revoke", "x"]):
        result = run(app, *args)
        assert result.exit_code != 0 and "MCP_OAUTH_ENABLED" in result.stderr and result.stdout == ""


def test_missing_tables_name_the_command(tmp_path):
    app = oauth_app(tmp_path, upgrade=False)
    for args in (["clients", "list"], ["clients", "revoke", "x"]):
        result = run(app, *args)
        assert result.exit_code != 0 and "superset mcp-jwt db upgrade" in result.stderr
