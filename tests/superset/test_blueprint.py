"""Superset 6.1.0's own create_app() with the one-line enablement and an `mcp` blueprint."""

from __future__ import annotations

import os
from typing import Iterator

import pytest
from flask import Flask

from demo.sandbox import mint
from superset_mcp_jwt import get_manager, superset_compat

BLUEPRINT = '''
from flask import Blueprint, g, jsonify

mcp_blueprint = Blueprint("mcp", __name__, url_prefix="/mcp-blueprint")


@mcp_blueprint.route("/whoami")
def whoami():
    return jsonify(user=g.user.username, roles=sorted(r.name for r in g.user.roles))


BLUEPRINTS = [mcp_blueprint]
'''


@pytest.fixture(scope="module")
def app(home) -> Iterator[Flask]:
    config = home.config("blueprint_config", extra=BLUEPRINT)
    previous = os.environ.get("SUPERSET_CONFIG_PATH")
    os.environ["SUPERSET_CONFIG_PATH"] = str(config)
    try:
        from superset.app import create_app

        yield create_app()
    finally:
        if previous is None:
            os.environ.pop("SUPERSET_CONFIG_PATH", None)
        else:
            os.environ["SUPERSET_CONFIG_PATH"] = previous


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_is_served_as_alice_with_her_gamma_role(client, home):
    response = client.get("/mcp-blueprint/whoami", headers=bearer(mint(home.secret, "alice")))
    assert response.status_code == 200
    assert response.json == {"user": "alice", "roles": ["Gamma"]}


def test_admin_token_is_served_as_admin(client, home):
    response = client.get("/mcp-blueprint/whoami", headers=bearer(mint(home.secret, "admin")))
    assert response.json == {"user": "admin", "roles": ["Admin"]}


@pytest.mark.parametrize("sub", ["nobody", "carol"])
def test_unknown_and_inactive_users_get_401(client, home, sub):
    response = client.get("/mcp-blueprint/whoami", headers=bearer(mint(home.secret, sub)))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_bad_signature_and_missing_token_get_401(client, home):
    forged = mint("x" * 64, "admin")
    assert client.get("/mcp-blueprint/whoami", headers=bearer(forged)).status_code == 401
    missing = client.get("/mcp-blueprint/whoami")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="superset-mcp"'


def test_mcp_token_is_not_a_login_for_supersets_api(client, home):
    response = client.get("/api/v1/me/", headers=bearer(mint(home.secret, "admin")))
    # Superset's REST API reads a bearer token as its own Flask-JWT-Extended access
    # token; one it did not sign is refused as unprocessable (422), never a login.
    assert response.status_code == 422, response.status_code


def test_mutator_installed_the_mcp_server_hooks(app):
    assert get_manager(app).settings.auth_enabled
    assert app.config["MCP_AUTH_FACTORY"] is superset_compat.create_auth_provider
    import superset.mcp_service.auth as auth

    assert superset_compat.identity_hook(auth) == superset_compat.PATCH_GET_USER
    assert getattr(auth.get_user_from_request, "_superset_mcp_jwt", False)
