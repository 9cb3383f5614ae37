"""`flask mcp-jwt clients list|revoke` on a real FAB app with a real OAuth store."""

from __future__ import annotations

import datetime
import re

from superset_mcp_jwt.oauth.models import Client
from superset_mcp_jwt.cli import mcp_jwt
from superset_mcp_jwt.registry import get_manager
from tests.flask_app.conftest import make_app
from tests.flask_app.test_access_page_connections import REDIRECT, connect, oauth_app

CONFIDENTIAL = "confidential-client"


def run(app, *args):
    return app.test_cli_runner().invoke(mcp_jwt, list(args))


def test_list_shows_each_client_with_its_connections(tmp_path):
    app = oauth_app(tmp_path)
    assert run(app, "clients", "list").stdout.strip() == "no OAuth clients registered"
    first = connect(app, "alice", "Claude Code")
    second = connect(app, "admin", "Cursor")
    get_manager(app).oauth.revoke_connection(second.id)
    get_manager(app).oauth.store.save_client(Client(  # Claude.ai's connector registers as confidential
        client_id=CONFIDENTIAL, client_name="claude.ai", redirect_uris=(REDIRECT,), kind="dcr",
        created_at=datetime.datetime.now(datetime.timezone.utc),
        token_endpoint_auth_method="client_secret_post", client_secret_hash="x" * 64,
    ))
    result = run(app, "clients", "list")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.strip().splitlines()
    assert header.split() == ["CLIENT_ID", "NAME", "KIND", "AUTH", "REDIRECT_URIS", "CREATED", "CONNECTIONS"]
    cells = {row.split()[0]: re.split(r" {2,}", row) for row in rows}  # columns are 2+ spaces apart
    assert set(cells) == {first.client_id, second.client_id, CONFIDENTIAL}
    assert cells[first.client_id][1:5] == ["Claude Code", "dcr", "none", REDIRECT]
    assert cells[first.client_id][-1] == "1"
    assert cells[second.client_id][1] == "Cursor" and cells[second.client_id][-1] == "0"
    assert cells[CONFIDENTIAL][1:4] == ["claude.ai", "dcr", "client_secret_post"]
    assert "x" * 64 not in result.stdout  # the secret's hash is never printed


def test_revoke_removes_the_client_and_its_connections(tmp_path):
    app = oauth_app(tmp_path)
    client_id = connect(app, "alice", "Claude Code").client_id
    other = connect(app, "admin", "Cursor").id
    result = run(app, "clients", "revoke", "--", client_id)  # `--`: a random id may start with "-"
    assert result.exit_code == 0, result.output
    assert f"removed client {client_id!r} and revoked 1 connection(s)" in result.stdout
    service = get_manager(app).oauth
    assert [c.id for c in service.connections()] == [other]
    assert client_id not in {c.client_id for c in service.clients()}
    again = run(app, "clients", "revoke", "--", client_id)
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
