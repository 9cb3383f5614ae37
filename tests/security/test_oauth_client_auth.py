"""Attacks on client authentication and RFC 7592: each must fail closed.

A confidential client authenticates at the token and revocation endpoints by
the one method it registered, with its own secret; the registration access
token opens only its own client's registration. Secrets are compared in
constant time, never logged, never sent back after the registration's 201.
Through Authlib's core on a real SQLite store (tests/unit/oauth_server.py),
and through the Flask face for the logs.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

import pytest

from superset_mcp_jwt.oauth.models import secret_hash
from tests.unit.oauth_server import World, pkce
from tests.unit.test_oauth_confidential import (
    CLAUDE, CLAUDE_REGISTRATION, basic, code_for, credentials, exchange, refresh, register, tokens,
)


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(tmp_path)


def invalid_client(response: Any, basic_challenge: bool = True) -> None:
    assert response.status == 401, response.body
    assert json.loads(response.body)["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ") is basic_challenge


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
@pytest.mark.parametrize("secret", ["", "wrong-secret", "x" * 43], ids=["missing", "wrong", "same-length"])
def test_a_missing_or_wrong_secret_is_invalid_client(world: World, method: str, secret: str) -> None:
    client = register(world, method)
    code, verifier = code_for(world, client)
    invalid_client(exchange(world, client, code, verifier, secret=secret))
    assert exchange(world, client, code, verifier).status == 200  # the failed attempt spent nothing


def test_no_secret_at_all_is_invalid_client(world: World) -> None:
    """A confidential client sending only its client_id passes for none of the methods."""
    client = register(world)
    code, verifier = code_for(world, client)
    invalid_client(exchange(world, client, code, verifier, method="none"))


def test_the_secret_of_another_client_is_refused(world: World) -> None:
    client, other = register(world), register(world)
    code, verifier = code_for(world, client)
    invalid_client(exchange(world, client, code, verifier, secret=other["client_secret"]))
    headers = basic(client["client_id"], other["client_secret"])
    invalid_client(world.token(headers=headers, grant_type="authorization_code", code=code, redirect_uri=CLAUDE,
                               code_verifier=verifier))


@pytest.mark.parametrize(("registered", "used"), [("client_secret_post", "client_secret_basic"),
                                                   ("client_secret_basic", "client_secret_post")])
def test_only_the_registered_method_authenticates(world: World, registered: str, used: str) -> None:
    client = register(world, registered)
    code, verifier = code_for(world, client)
    invalid_client(exchange(world, client, code, verifier, method=used))
    body = json.loads(exchange(world, client, code, verifier).body)
    invalid_client(refresh(world, client, body["refresh_token"], method=used))
    headers, fields = credentials(client, method=used)
    revoked = world.revoke(headers=headers, token=body["refresh_token"], **fields)
    assert revoked.status == 401 and world.service.connections() != []


def test_a_public_client_sending_a_secret_is_refused(world: World) -> None:
    public = world.registry.register({**CLAUDE_REGISTRATION, "token_endpoint_auth_method": "none"})
    assert "client_secret" not in public
    code, verifier = code_for(world, public)
    confidential = register(world)
    for secret in ("anything", confidential["client_secret"]):
        invalid_client(exchange(world, public, code, verifier, method="client_secret_post", secret=secret))
        invalid_client(exchange(world, public, code, verifier, method="client_secret_basic", secret=secret))
    assert exchange(world, public, code, verifier, method="none").status == 200


def test_revocation_needs_the_clients_own_credentials(world: World) -> None:
    client = register(world)
    body = tokens(world, client)
    assert world.revoke(token=body["refresh_token"], client_id=client["client_id"]).status == 401
    headers, fields = credentials(client, secret="wrong")
    assert world.revoke(headers=headers, token=body["refresh_token"], **fields).status == 401
    assert world.service.connections() != []


def test_rfc7592_token_is_only_for_its_own_client(world: World) -> None:
    mine, theirs = register(world), register(world)
    for method in ("GET", "DELETE", "PUT"):
        response = world.configuration(method, theirs["client_id"], mine["registration_access_token"])
        assert response.status == 401, (method, response.body)
        assert json.loads(response.body)["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert world.store.get_client(theirs["client_id"]) is not None


@pytest.mark.parametrize("token", [None, "", "made-up-token", "Basic"], ids=["none", "empty", "unknown", "word"])
def test_rfc7592_without_a_valid_token_is_401_the_same_for_every_client_id(world: World, token: Any) -> None:
    client = register(world)
    answers = {json.dumps([world.configuration("GET", client_id, token).status,
                           json.loads(world.configuration("GET", client_id, token).body)])
               for client_id in (client["client_id"], "no-such-client")}
    assert answers == {json.dumps([401, {"error": "invalid_token", "error_description":
                                         "The registration access token is invalid for this client."}])}


def test_rfc7592_client_secret_is_not_a_registration_token(world: World) -> None:
    client = register(world)
    assert world.configuration("GET", client["client_id"], client["client_secret"]).status == 401




# --- constant time -------------------------------------------------------------------------


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_the_secret_is_compared_in_constant_time_whatever_is_sent(
    world: World, compared: list[tuple[str, str]], method: str
) -> None:
    """Every check is hmac.compare_digest of two SHA-256 digests: what an attacker sends (right,
    wrong in its last character, shorter, longer, empty-ish) never changes the compared length."""
    client = register(world, method)
    stored = secret_hash(client["client_secret"])
    code, verifier = code_for(world, client)
    right = client["client_secret"]
    for guess in (right[:-1] + ("A" if right[-1] != "A" else "B"), right[:5], right + "x", "x"):
        compared.clear()
        assert exchange(world, client, code, verifier, secret=guess).status == 401
        assert compared == [(stored, secret_hash(guess))]
    compared.clear()
    assert exchange(world, client, code, verifier).status == 200
    assert compared == [(stored, stored)]


# --- never logged, never sent back ---------------------------------------------------------


def test_secrets_are_never_logged_nor_sent_after_the_201(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A whole confidential flow through the Flask face with every logger at DEBUG: registration,
    consent, code exchange, refresh, revocation, RFC 7592 read and delete, and failed attempts."""
    from werkzeug.datastructures import MultiDict

    from tests.flask_app.test_oauth_views import (
        REDIRECT, RESOURCE, authorize_url, consent_form, make_oauth_app, query, sign_in,
    )

    caplog.set_level(logging.DEBUG)
    app = make_oauth_app(tmp_path)
    client = app.test_client()
    answers: list[Any] = []

    def send(method: str, path: str, **kwargs: Any) -> Any:
        response = client.open(path, method=method, **kwargs)
        answers.append(response)
        return response

    registered = send("POST", "/oauth/mcp/register", json={**CLAUDE_REGISTRATION, "redirect_uris": [REDIRECT]})
    body = registered.get_json()
    secret, token = body["client_secret"], body["registration_access_token"]
    sign_in(app, client)
    verifier, challenge = pkce()
    page = send("GET", authorize_url(body["client_id"], challenge))
    form = consent_form(page.get_data(as_text=True))
    redirect = send("POST", "/oauth/mcp/authorize", data=MultiDict(form.fields + [("decision", "allow")]))
    code = query(redirect.headers["Location"])["code"]
    auth = {"client_id": body["client_id"], "client_secret": secret}
    send("POST", "/oauth/mcp/token", data={**auth, "client_secret": secret[:-1] + "x", "grant_type": "authorization_code",
                                          "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    issued = send("POST", "/oauth/mcp/token", data={**auth, "grant_type": "authorization_code", "code": code,
                                                    "redirect_uri": REDIRECT, "code_verifier": verifier,
                                                    "resource": RESOURCE}).get_json()
    rotated = send("POST", "/oauth/mcp/token", data={**auth, "grant_type": "refresh_token",
                                                     "refresh_token": issued["refresh_token"]}).get_json()
    send("POST", "/oauth/mcp/revoke", data={**auth, "token": rotated["access_token"]})
    path = f"/oauth/mcp/register/{body['client_id']}"
    send("GET", path, headers={"Authorization": f"Bearer {token}"})
    send("GET", path, headers={"Authorization": f"Bearer {secret}"})
    send("DELETE", path, headers={"Authorization": f"Bearer {token}"})

    assert [a.status_code for a in answers] == [201, 200, 302, 401, 200, 200, 200, 200, 401, 204]
    logged = caplog.text  # formatted as each record was emitted (some arguments are database rows)
    assert "registered OAuth client" in logged and "refresh token rotated" in logged  # the logs were captured
    for value in (secret, token, code, verifier, issued["refresh_token"], rotated["refresh_token"],
                  issued["access_token"], secret[:-1] + "x"):
        assert value not in logged
    for answer in answers[1:]:  # nothing but the 201 carries the secret
        assert secret not in answer.get_data(as_text=True) and secret not in str(answer.headers)
