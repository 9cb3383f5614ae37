"""Connected apps on the MCP access page: a real FAB app and a real OAuth store on its database.

Connections are made the way the token endpoint makes them: a stored client,
an authorization code, and the service redeeming it (a refresh-token family).
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import secrets
from html import unescape
from typing import Any, NamedTuple

import pytest

from superset_mcp_jwt.oauth import migrations
from superset_mcp_jwt.oauth.models import Client
from superset_mcp_jwt.oauth.service import OAuthService
from superset_mcp_jwt.registry import get_manager

from .conftest import make_app
from .test_access_page import PASSWORDS, grant, login

ISSUER = "http://127.0.0.1:8088"
RESOURCE = "http://127.0.0.1:5008/mcp"
REDIRECT = "http://127.0.0.1:33418/callback"
OAUTH = {"MCP_OAUTH_ENABLED": True, "MCP_OAUTH_ISSUER": ISSUER, "MCP_OAUTH_RESOURCE": RESOURCE}


def oauth_app(tmp_path: Any, upgrade: bool = True, **config: Any) -> Any:
    """A FAB app with OAuth on (tables created unless ``upgrade`` is False); Gamma holds
    can_read on MCPAccess as `superset init` grants it."""
    app = make_app(tmp_path, **OAUTH, **config)
    if upgrade:
        with app.app_context():
            migrations.upgrade(get_manager(app).oauth.store.engine)
    grant(app, "Gamma", "can_read", "MCPAccess")
    return app


class Connected(NamedTuple):
    id: str
    access_token: str
    client_id: str


def connect(app: Any, username: str, client_name: str, scope: str = "mcp:read") -> Connected:
    """Register ``client_name``, approve it for ``username`` and redeem the code."""
    service: OAuthService = get_manager(app).oauth
    client_id = secrets.token_urlsafe(12)
    service.store.save_client(Client(
        client_id=client_id, client_name=client_name, redirect_uris=(REDIRECT,), kind="dcr",
        created_at=datetime.datetime.now(datetime.timezone.utc),
    ))
    code = secrets.token_urlsafe(32)
    service.store.save_code(code, client_id, username, REDIRECT, scope, "x" * 43, "S256", RESOURCE, 60)
    response = service.redeem_code(service.store.find_code(code), client_name)
    connection = next(c for c in service.connections(username) if c.client_id == client_id)
    return Connected(connection.id, response["access_token"], client_id)


@pytest.fixture
def app(tmp_path):
    return oauth_app(tmp_path)


def live_ids(app: Any, username: Any = None) -> set[str]:
    return {c.id for c in get_manager(app).oauth.connections(username)}


def test_page_shows_the_oauth_url_and_hosted_client_steps(app):
    client = app.test_client()
    login(client, "alice")
    html = client.get("/mcp-access/").get_data(as_text=True)
    assert f'<code class="mcp-url" id="mcp-url">{RESOURCE}</code>' in html
    assert "Add custom connector" in html and "Developer mode" in html
    assert f"claude mcp add --transport http superset {RESOURCE}\n" not in html  # no --header
    assert f"claude mcp add --transport http superset {RESOURCE}</pre>" in html
    assert 'id="no-connections"' in html


def test_user_sees_only_their_own_connections(app):
    mine = connect(app, "alice", "Claude Code", "mcp:read mcp:sql").id
    theirs = connect(app, "admin", "Cursor").id
    client = app.test_client()
    login(client, "alice")
    html = client.get("/mcp-access/").get_data(as_text=True)
    assert f'data-connection="{mine}"' in html and f'data-connection="{theirs}"' not in html
    row = re.search(rf'data-connection="{mine}".*?</tr>', html, re.S).group(0)
    assert "Claude Code" in row and ">mcp:read<" in row and ">mcp:sql<" in row
    assert datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d") in row
    assert 'class="mcp-user"' not in html  # no user column for a non-admin
    assert "Revoke" in row


def test_admin_sees_everyones_connections_with_the_user(app):
    alices = connect(app, "alice", "Claude Code").id
    admins = connect(app, "admin", "Cursor").id
    client = app.test_client()
    login(client, "admin")
    html = client.get("/mcp-access/").get_data(as_text=True)
    for connection, user in ((alices, "alice"), (admins, "admin")):
        row = re.search(rf'data-connection="{connection}".*?</tr>', html, re.S).group(0)
        assert f'<td class="mcp-user">{user}</td>' in row


def test_user_revokes_their_own_connection_only(app):
    mine = connect(app, "alice", "Claude Code").id
    theirs = connect(app, "admin", "Cursor").id
    client = app.test_client()
    login(client, "alice")
    refused = client.post("/mcp-access/revoke", data={"connection_id": theirs})
    assert refused.status_code == 302 and refused.headers["Location"].endswith("notice=unknown")
    assert theirs in live_ids(app, "admin")
    done = client.post("/mcp-access/revoke", data={"connection_id": mine})
    assert done.status_code == 302 and done.headers["Location"].endswith("notice=revoked")
    assert mine not in live_ids(app)
    html = client.get("/mcp-access/?notice=revoked").get_data(as_text=True)
    assert f'data-connection="{mine}"' not in html and 'id="notice"' in html


def test_admin_revokes_anyones_connection(app):
    alices = connect(app, "alice", "Claude Code").id
    client = app.test_client()
    login(client, "admin")
    assert client.post("/mcp-access/revoke", data={"connection_id": alices}).status_code == 302
    assert live_ids(app) == set()


def test_revoke_needs_the_page_permission(tmp_path):
    app = make_app(tmp_path, **OAUTH)  # Gamma not granted can_read on MCPAccess
    client = app.test_client()
    login(client, "alice")
    assert client.post("/mcp-access/revoke", data={"connection_id": "x"}).status_code == 403


def test_revoke_without_csrf_token_revokes_nothing(tmp_path):
    app = oauth_app(tmp_path, WTF_CSRF_ENABLED=True)
    mine = connect(app, "alice", "Claude Code").id
    client = app.test_client()
    login_page = client.get("/login/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    client.post("/login/", data={"username": "alice", "password": PASSWORDS["alice"], "csrf_token": csrf})
    refused = client.post("/mcp-access/revoke", data={"connection_id": mine})
    assert refused.headers["Location"].endswith("notice=refused") and mine in live_ids(app)
    page = client.get("/mcp-access/").get_data(as_text=True)
    form = re.search(rf'<form[^>]*>(?:(?!</form>).)*value="{mine}"', page, re.S).group(0)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    done = client.post("/mcp-access/revoke", data={"connection_id": mine, "csrf_token": csrf})
    assert done.headers["Location"].endswith("notice=revoked") and mine not in live_ids(app)


def test_no_token_reaches_the_logs(app, caplog):
    caplog.set_level(logging.DEBUG)
    connection, access_token, _ = connect(app, "alice", "Claude Code")
    client = app.test_client()
    login(client, "admin")
    minted = client.post("/mcp-token/", data={"ttl": "3600"}).get_data(as_text=True)
    token = re.search(r'<textarea[^>]* id="token"[^>]*>([^<]+)</textarea>', minted).group(1)
    client.post("/mcp-access/revoke", data={"connection_id": connection})
    assert "MCP token issued from the MCP access page" in caplog.text
    assert f"connection={connection}" in caplog.text  # the revoke is logged, by id
    assert token not in caplog.text and access_token not in caplog.text
    assert token.split(".")[2] not in caplog.text  # not even the signature


def test_missing_tables_are_a_message_not_an_error(tmp_path, caplog):
    app = oauth_app(tmp_path, upgrade=False)  # `superset mcp-jwt db upgrade` never ran
    client = app.test_client()
    login(client, "alice")
    page = client.get("/mcp-access/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="connections-unavailable"' in html and 'id="mcp-url"' in html
    assert "db upgrade" not in html  # the fix is for the operator, in the log
    refused = client.post("/mcp-access/revoke", data={"connection_id": "x"})
    assert refused.status_code == 302 and refused.headers["Location"].endswith("notice=unavailable")
    assert "superset mcp-jwt db upgrade" in caplog.text


def test_minted_snippet_uses_the_same_url_as_the_page(app):
    client = app.test_client()
    login(client, "admin")
    html = client.post("/mcp-token/", data={"ttl": "3600"}).get_data(as_text=True)
    snippet = re.search(r'<pre class="mcp-code" id="snippet">([^<]+)</pre>', html).group(1)
    args = json.loads(unescape(snippet))["mcpServers"]["superset"]["args"]
    assert args[2] == RESOURCE  # MCP_JWT_SERVER_URL is unset: not its localhost default
