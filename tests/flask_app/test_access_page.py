"""The "MCP access" page on a real Flask-AppBuilder app (test client): the URL, token minting."""

from __future__ import annotations

import re

import jwt
import pytest

from .conftest import AUDIENCE, make_app

PASSWORDS = {"admin": "pw-Admin-123", "alice": "pw-Alice-123"}


def login(client, username):
    response = client.post("/login/", data={"username": username, "password": PASSWORDS[username]})
    assert response.status_code == 302


def minted(app, html: str) -> dict:
    token = re.search(r'<textarea[^>]* id="token"[^>]*>([^<]+)</textarea>', html).group(1)
    return jwt.decode(token, app.config["MCP_JWT_SECRET"], algorithms=["HS256"], audience=AUDIENCE)


@pytest.fixture
def page_app(tmp_path):
    return make_app(tmp_path)


def grant(app, role, permission, view):
    """What `superset init` does for Gamma (can_read on MCPAccess) or an admin in List Roles."""
    with app.app_context():
        sm = app.appbuilder.sm
        sm.add_permission_role(sm.find_role(role), sm.find_permission_view_menu(permission, view))


@pytest.mark.parametrize("url", ["/mcp-access/", "/mcp-token/"])
def test_anonymous_is_sent_to_login(page_app, url):
    response = page_app.test_client().get(url)
    assert response.status_code == 302 and "/login/" in response.headers["Location"]


def test_page_shows_the_mcp_url_and_client_steps(page_app):
    client = page_app.test_client()
    login(client, "admin")
    response = client.get("/mcp-access/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert '<code class="mcp-url" id="mcp-url">http://localhost:5008/mcp</code>' in html
    # OAuth is off: the steps use a pasted token, and say the hosted connectors need OAuth.
    assert "claude mcp add --transport http superset http://localhost:5008/mcp --header" in html
    assert "MCP_OAUTH_ENABLED is off" in html
    assert 'id="connections"' not in html  # connected apps only with OAuth on


def test_old_url_leads_to_the_page(page_app):
    client = page_app.test_client()
    login(client, "admin")
    response = client.get("/mcp-token/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/mcp-access/")


def test_admin_mints_a_token_for_themselves(page_app):
    client = page_app.test_client()
    login(client, "admin")
    page = client.get("/mcp-access/")
    assert page.status_code == 200 and 'id="username"' in page.get_data(as_text=True)
    response = client.post("/mcp-token/", data={"ttl": "3600"})
    html = response.get_data(as_text=True)
    claims = minted(page_app, html)
    assert claims["sub"] == "admin" and claims["exp"] - claims["iat"] == 3600
    assert response.headers["Cache-Control"] == "no-store"
    assert "mcp-remote" in html and "http://localhost:5008/mcp" in html


def test_admin_may_mint_for_another_user(page_app):
    client = page_app.test_client()
    login(client, "admin")
    html = client.post("/mcp-token/", data={"ttl": "3600", "username": "alice"}).get_data(as_text=True)
    assert minted(page_app, html)["sub"] == "alice"
    refused = client.post("/mcp-token/", data={"ttl": "3600", "username": "carol"})
    assert refused.status_code == 400 and "No active user" in refused.get_data(as_text=True)


def test_permission_is_needed(page_app):
    client = page_app.test_client()
    login(client, "alice")  # Gamma here: neither can_read on MCPAccess nor can_issue on MCPToken
    assert client.get("/mcp-access/").status_code == 403
    assert client.get("/mcp-token/").status_code == 403
    refused = client.post("/mcp-token/", data={"ttl": "3600"})
    assert refused.status_code == 403 and 'id="token"' not in refused.get_data(as_text=True)


def test_page_without_minting_permission_has_no_token_form(page_app):
    grant(page_app, "Gamma", "can_read", "MCPAccess")
    client = page_app.test_client()
    login(client, "alice")
    html = client.get("/mcp-access/").get_data(as_text=True)
    assert 'id="mcp-url"' in html and "alice" in html
    assert 'id="mint"' not in html and 'id="token-minting"' not in html
    assert client.post("/mcp-token/", data={"ttl": "3600"}).status_code == 403


def test_granted_user_mints_only_for_themselves(page_app):
    grant(page_app, "Gamma", "can_read", "MCPAccess")
    grant(page_app, "Gamma", "can_issue", "MCPToken")
    client = page_app.test_client()
    login(client, "alice")
    page = client.get("/mcp-access/").get_data(as_text=True)
    assert 'id="mint"' in page and 'id="username"' not in page  # no "for another user" field
    html = client.post("/mcp-token/", data={"ttl": "86400"}).get_data(as_text=True)
    assert minted(page_app, html)["sub"] == "alice"
    refused = client.post("/mcp-token/", data={"ttl": "86400", "username": "admin"})
    assert refused.status_code == 400 and 'id="token"' not in refused.get_data(as_text=True)


def test_ttl_is_bounded_by_config(tmp_path):
    app = make_app(tmp_path, MCP_JWT_TOKEN_PAGE_MAX_TTL=86400)
    client = app.test_client()
    login(client, "admin")
    page = client.get("/mcp-access/").get_data(as_text=True)
    assert 'value="86400"' in page and 'value="604800"' not in page
    response = client.post("/mcp-token/", data={"ttl": str(7 * 86400)})
    assert response.status_code == 400 and 'id="token"' not in response.get_data(as_text=True)


def test_post_without_csrf_token_mints_nothing(tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    # Log in through the form with its CSRF token, as a browser would.
    login_page = client.get("/login/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    client.post("/login/", data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": csrf})
    response = client.post("/mcp-token/", data={"ttl": "3600"})
    assert 'id="token"' not in response.get_data(as_text=True)
    page = client.get("/mcp-access/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    ok = client.post("/mcp-token/", data={"ttl": "3600", "csrf_token": csrf})
    assert minted(app, ok.get_data(as_text=True))["sub"] == "admin"


@pytest.mark.parametrize("config", [{"MCP_JWT_TOKEN_PAGE": False}])
def test_minting_can_be_turned_off(tmp_path, config):
    app = make_app(tmp_path, **config)
    client = app.test_client()
    login(client, "admin")
    assert client.get("/mcp-token/").status_code == 404
    assert client.post("/mcp-token/", data={"ttl": "3600"}).status_code == 404
    html = client.get("/mcp-access/").get_data(as_text=True)
    assert 'id="mcp-url"' in html and 'id="mint"' not in html
