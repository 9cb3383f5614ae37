"""Confidential clients (client_secret_post, client_secret_basic) and RFC 7592, through Authlib's core.

The real grants, registry, store (SQLite file) and service; Authlib's
``ClientAuthentication`` decides who the client is, by the method it registered.
The attacks on them (wrong secrets, other clients' secrets and tokens) are in
tests/security/test_oauth_client_auth.py.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Optional

import jwt
import pytest

from tests.unit.oauth_server import RESOURCE, World, authorize_params, pkce

CLAUDE = "https://claude.ai/api/mcp/auth_callback"
#: anthropics/claude-ai-mcp #1043, anthropics/claude-code #5826: what Claude.ai's backend registers.
CLAUDE_REGISTRATION = {
    "client_name": "Claude",
    "redirect_uris": [CLAUDE],
    "token_endpoint_auth_method": "client_secret_post",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
}


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(tmp_path)


def register(world: World, method: str = "client_secret_post") -> dict[str, Any]:
    return world.registry.register({**CLAUDE_REGISTRATION, "token_endpoint_auth_method": method})


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def credentials(client: dict[str, Any], method: Optional[str] = None,
                secret: Optional[str] = None) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, form fields) that authenticate ``client`` by ``method`` (its own by default)."""
    method = method or client["token_endpoint_auth_method"]
    secret = client.get("client_secret", "") if secret is None else secret
    if method == "client_secret_basic":
        return basic(client["client_id"], secret), {}
    if method == "client_secret_post":
        return {}, {"client_id": client["client_id"], "client_secret": secret}
    return {}, {"client_id": client["client_id"]}


def code_for(world: World, client: dict[str, Any]) -> tuple[str, str]:
    verifier, challenge = pkce()
    response = world.authorize(**authorize_params(challenge, client_id=client["client_id"], redirect_uri=CLAUDE))
    assert response.status == 302 and "code" in response.query, response.body
    return response.query["code"], verifier


def exchange(world: World, client: dict[str, Any], code: str, verifier: Optional[str], **auth: Any) -> Any:
    headers, fields = credentials(client, **auth)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CLAUDE, "resource": RESOURCE,
            **fields}
    if verifier is not None:
        form["code_verifier"] = verifier
    return world.token(headers=headers, **form)


def tokens(world: World, client: dict[str, Any]) -> dict[str, Any]:
    code, verifier = code_for(world, client)
    response = exchange(world, client, code, verifier)
    assert response.status == 200, response.body
    return json.loads(response.body)


def refresh(world: World, client: dict[str, Any], refresh_token: str, **auth: Any) -> Any:
    headers, fields = credentials(client, **auth)
    return world.token(headers=headers, grant_type="refresh_token", refresh_token=refresh_token, **fields)


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_the_whole_flow_by_the_registered_method(world: World, method: str) -> None:
    client = register(world, method)
    body = tokens(world, client)
    claims = jwt.decode(body["access_token"], world.settings.secrets[0], algorithms=["HS256"], audience=RESOURCE)
    assert claims["client_id"] == client["client_id"] and claims["sub"] == "alice"
    rotated = refresh(world, client, body["refresh_token"])
    assert rotated.status == 200, rotated.body
    new = json.loads(rotated.body)
    headers, fields = credentials(client)
    assert world.revoke(headers=headers, token=new["refresh_token"], **fields).status == 200
    assert world.service.connections() == []


def test_pkce_stays_required_for_confidential_clients(world: World) -> None:
    client = register(world)
    _, challenge = pkce()
    no_pkce = world.authorize(**authorize_params(challenge, client_id=client["client_id"], redirect_uri=CLAUDE,
                                                 code_challenge=None, code_challenge_method=None))
    assert no_pkce.query["error"] == "invalid_request" and "code" not in no_pkce.query
    code, verifier = code_for(world, client)
    missing = exchange(world, client, code, None)
    assert missing.status == 400 and json.loads(missing.body)["error"] == "invalid_request"
    wrong = exchange(world, client, code, pkce()[0])
    assert wrong.status == 400 and json.loads(wrong.body)["error"] == "invalid_grant"


# --- RFC 7592 ---------------------------------------------------------------------------


def test_rfc7592_get_reads_the_registration_without_its_secret(world: World) -> None:
    client = register(world)
    response = world.configuration("GET", client["client_id"], client["registration_access_token"])
    assert response.status == 200
    read = json.loads(response.body)
    assert read == {k: v for k, v in client.items() if k != "client_secret"}
    assert read["registration_access_token"] == client["registration_access_token"]  # the one presented


def test_rfc7592_delete_removes_the_client_and_ends_its_connections(world: World) -> None:
    client = register(world)
    body = tokens(world, client)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    response = world.configuration("DELETE", client["client_id"], client["registration_access_token"])
    assert (response.status, response.body) == (204, "")
    assert world.service.connections() == [] and world.is_revoked(claims)
    assert world.store.get_client(client["client_id"]) is None
    gone = world.configuration("GET", client["client_id"], client["registration_access_token"])
    assert gone.status == 401
    refused = refresh(world, client, body["refresh_token"])
    assert refused.status in (400, 401) and json.loads(refused.body)["error"] == "invalid_client"


def test_rfc7592_put_is_refused(world: World) -> None:
    client = register(world)
    response = world.configuration("PUT", client["client_id"], client["registration_access_token"])
    assert response.status == 403
    assert json.loads(response.body) == {
        "error": "unauthorized_client",
        "error_description": "This server does not change registrations: register again with the new metadata.",
    }
    assert world.store.get_client(client["client_id"]) is not None


def test_rfc7592_is_for_registered_clients_only(world: World) -> None:
    """Clients stored without a registration token (before revision 0003, or by the CLI) have none to present."""
    response = world.configuration("GET", "client-1", "anything")
    assert response.status == 401
