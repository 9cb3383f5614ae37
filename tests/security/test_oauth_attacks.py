"""The OAuth attack catalogue (RFC 9700, OAuth 2.1), through Authlib's core with our grants.

Each case is an attacker's move against the authorization server: it must
fail, and fail closed. Runs on a real SQLite store and the real client
registry; the Flask face, the browser flow and the races are tested in
tests/flask_app, tests/superset and tests/unit/test_oauth_store.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Callable

import jwt
import pytest

from tests.unit.oauth_fixtures import REDIRECT
from tests.unit.oauth_server import ISSUER, RESOURCE, World, authorize_params, pkce


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(tmp_path)


def authorized(world: World, **overrides: str) -> tuple[str, str]:
    """A genuine code for alice at client-1, and its PKCE verifier."""
    verifier, challenge = pkce()
    response = world.authorize(**authorize_params(challenge, **overrides))
    assert response.status == 302 and "code" in response.query, response.body
    return response.query["code"], verifier


def redeem(world: World, code: str, verifier: str, **overrides: str) -> Any:
    form = {"grant_type": "authorization_code", "code": code, "client_id": "client-1",
            "redirect_uri": REDIRECT, "code_verifier": verifier, "resource": RESOURCE}
    form.update(overrides)
    return world.token(**{k: v for k, v in form.items() if v is not None})


def refused(response: Any, error: str) -> None:
    assert response.status == 400, response.body
    assert json.loads(response.body)["error"] == error


def authorize_error(world: World, **params: str) -> str:
    """The error an authorization request ends in: redirected (with iss) or raised (error page)."""
    try:
        response = world.authorize(**params)
    except Exception as error:  # no validated redirect URI: the face shows an error page
        return "page:" + getattr(error, "error", type(error).__name__)
    assert response.status == 302
    assert response.query["iss"] == ISSUER  # RFC 9207 on every redirect back
    return response.query.get("error", "")


# --- PKCE (RFC 7636; RFC 9700 §2.1.1) -------------------------------------------------


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_challenge": None, "code_challenge_method": None},  # no PKCE at all
        {"code_challenge_method": "plain"},  # downgrade to plain
        {"code_challenge_method": None},  # method left out: Authlib's default would be plain
        {"code_challenge": "short"},  # not a valid S256 challenge
        {"code_challenge_method": "S512"},
    ],
    ids=["missing", "plain", "method-omitted", "malformed", "unknown-method"],
)
def test_pkce_missing_plain_or_malformed_is_refused(world: World, overrides: dict[str, Any]) -> None:
    _, challenge = pkce()
    assert authorize_error(world, **authorize_params(challenge, **overrides)) == "invalid_request"


@pytest.mark.parametrize(
    "verifier",
    [None, "", "wrong-verifier-" + "x" * 40],
    ids=["missing", "empty", "wrong"],
)
def test_code_without_its_verifier_is_useless(world: World, verifier: Any) -> None:
    code, _ = authorized(world)
    response = redeem(world, code, verifier)
    assert response.status == 400
    assert json.loads(response.body)["error"] in ("invalid_request", "invalid_grant")


def test_the_challenge_itself_is_not_a_verifier(world: World) -> None:
    verifier, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    refused(redeem(world, code, challenge), "invalid_grant")


# --- code injection and replay (RFC 9700 §4.5) -------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "client-2"},  # another client redeems a stolen code
        {"redirect_uri": "http://127.0.0.1:9/cb"},  # with another redirect URI
        {"redirect_uri": None},  # without the redirect URI it was issued for
    ],
    ids=["other-client", "other-redirect", "no-redirect"],
)
def test_injected_code_is_refused(world: World, overrides: dict[str, Any]) -> None:
    code, verifier = authorized(world)
    response = redeem(world, code, verifier, **overrides)
    assert response.status in (400, 401)
    assert json.loads(response.body)["error"] in ("invalid_grant", "invalid_request", "invalid_client")


def test_a_refused_injection_does_not_spend_the_genuine_clients_code(world: World) -> None:
    """A wrong verifier cannot be guessed (256 bits) and must not let whoever saw a code
    deny it to its client: the attempt fails and the code stays good for its TTL."""
    code, verifier = authorized(world)
    refused(redeem(world, code, "wrong-verifier-" + "y" * 40), "invalid_grant")
    assert redeem(world, code, verifier).status == 200


def test_forged_code_is_refused(world: World) -> None:
    refused(redeem(world, "A" * 43, "v" * 43), "invalid_grant")


def test_code_replay_revokes_the_tokens_it_issued(world: World) -> None:
    code, verifier = authorized(world)
    first = json.loads(redeem(world, code, verifier).body)
    refused(redeem(world, code, verifier), "invalid_grant")
    claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert world.is_revoked(claims)
    refused(world.token(grant_type="refresh_token", refresh_token=first["refresh_token"],
                        client_id="client-1"), "invalid_grant")


# --- redirect URI and open redirect (RFC 9700 §4.1, §4.11) --------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://attacker.example/cb",
        REDIRECT + "/../../attacker",
        REDIRECT + "?next=https://attacker.example",
        REDIRECT + "#frag",
        REDIRECT.replace("127.0.0.1", "127.0.0.1.attacker.example"),
        REDIRECT.replace("http://", "http://attacker.example@"),
        REDIRECT[:-1] + "%" + format(ord(REDIRECT[-1]), "02X"),
    ],
    ids=["foreign", "dot-segments", "extra-query", "fragment", "suffix-host", "userinfo", "encoded"],
)
def test_unregistered_redirect_uri_is_never_followed(world: World, redirect_uri: str) -> None:
    _, challenge = pkce()
    error = authorize_error(world, **authorize_params(challenge, redirect_uri=redirect_uri))
    assert error.startswith("page:"), error  # an error page, no redirect


def test_unknown_client_gets_an_error_page_not_a_redirect(world: World) -> None:
    _, challenge = pkce()
    assert authorize_error(world, **authorize_params(challenge, client_id="nobody")).startswith("page:")


@pytest.mark.parametrize("response_type", ["token", "id_token", "code token", ""])
def test_only_the_code_flow_exists(world: World, response_type: str) -> None:
    """No implicit flow (OAuth 2.1 removed it): tokens never travel in a redirect."""
    _, challenge = pkce()
    error = authorize_error(world, **authorize_params(challenge, response_type=response_type))
    assert error in ("unsupported_response_type", "invalid_request"), error


# --- mix-up and state (RFC 9700 §4.4, §4.7; RFC 9207) --------------------------------------


def test_every_redirect_names_this_issuer(world: World) -> None:
    _, challenge = pkce()
    ok = world.authorize(**authorize_params(challenge))
    denied = world.authorize(user=None, **authorize_params(challenge))
    scope_error = world.authorize(**authorize_params(challenge, scope="mcp:admin"))
    assert [r.query["iss"] for r in (ok, denied, scope_error)] == [ISSUER] * 3
    assert denied.query["error"] == "access_denied" and scope_error.query["error"] == "invalid_scope"


def test_missing_state_is_allowed_and_never_invented(world: World) -> None:
    """OAuth 2.1: PKCE carries the CSRF protection; without a state none is sent back."""
    code, verifier = authorized(world, state=None)
    assert redeem(world, code, verifier).status == 200


def test_state_comes_back_exactly(world: World) -> None:
    _, challenge = pkce()
    state = "a b&c=d/é"
    assert world.authorize(**authorize_params(challenge, state=state)).query["state"] == state


# --- audience and resource (RFC 8707; RFC 9700 §2.3) ---------------------------------------


@pytest.mark.parametrize(
    "resource",
    ["https://other.example/mcp", RESOURCE + "/", RESOURCE.upper()],
    ids=["other-server", "trailing-slash", "case"],
)
def test_tokens_only_for_this_resource(world: World, resource: str) -> None:
    _, challenge = pkce()
    assert authorize_error(world, **authorize_params(challenge, resource=resource)) == "invalid_target"
    code, verifier = authorized(world)
    refused(redeem(world, code, verifier, resource=resource), "invalid_target")


def test_issued_token_is_bound_to_issuer_resource_and_client(world: World) -> None:
    code, verifier = authorized(world)
    body = json.loads(redeem(world, code, verifier).body)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["client_id"]) == (ISSUER, RESOURCE, "client-1")


# --- refresh tokens (RFC 9700 §4.14) --------------------------------------------------------


def refresh(world: World, token: str, **overrides: str) -> Any:
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": "client-1"}
    form.update(overrides)
    return world.token(**form)


@pytest.mark.parametrize(
    "overrides",
    [{"scope": "mcp:all"}, {"scope": "mcp:read mcp:write"}, {"scope": "mcp:read mcp:admin"}],
    ids=["to-all", "add-write", "unknown"],
)
def test_refresh_cannot_widen_scope(world: World, overrides: dict[str, str]) -> None:
    code, verifier = authorized(world, scope="mcp:read")
    body = json.loads(redeem(world, code, verifier).body)
    response = refresh(world, body["refresh_token"], **overrides)
    assert response.status == 400 and json.loads(response.body)["error"] == "invalid_scope"


def test_refresh_token_of_another_client_is_refused(world: World) -> None:
    code, verifier = authorized(world)
    body = json.loads(redeem(world, code, verifier).body)
    response = refresh(world, body["refresh_token"], client_id="client-2")
    assert response.status == 400 and json.loads(response.body)["error"] == "invalid_grant"


def test_refresh_replay_after_the_grace_window_kills_the_family(world: World) -> None:
    code, verifier = authorized(world)
    first = json.loads(redeem(world, code, verifier).body)
    second = json.loads(refresh(world, first["refresh_token"]).body)
    world.clock.now += world.settings.oauth.refresh_grace_seconds  # past the grace window
    refused(refresh(world, first["refresh_token"]), "invalid_grant")  # the attacker's copy
    refused(refresh(world, second["refresh_token"]), "invalid_grant")  # and the victim's: family gone
    claims = jwt.decode(second["access_token"], options={"verify_signature": False})
    assert world.is_revoked(claims)


@pytest.mark.parametrize("mutate", [lambda t: t[:-1], lambda t: t + "x", lambda t: t.upper()],
                         ids=["shortened", "lengthened", "case"])
def test_near_miss_refresh_token_is_refused(world: World, mutate: Callable[[str], str]) -> None:
    code, verifier = authorized(world)
    token = json.loads(redeem(world, code, verifier).body)["refresh_token"]
    refused(refresh(world, mutate(token)), "invalid_grant")
    assert refresh(world, token).status == 200  # a miss is not a replay of the real one


def test_refresh_stops_when_the_user_is_deactivated(world: World) -> None:
    code, verifier = authorized(world)
    token = json.loads(redeem(world, code, verifier).body)["refresh_token"]
    world.users.active.discard("alice")
    refused(refresh(world, token), "invalid_grant")


# --- the refresh grace window (issue 17: refresh rotation without false logouts) -------------


class Spent:
    """A refresh token rotated out a moment ago (inside its grace window), its successor, and its code."""

    def __init__(self, world: World) -> None:
        self.code, self.verifier = authorized(world)
        first = json.loads(redeem(world, self.code, self.verifier).body)
        self.token = first["refresh_token"]
        self.successor = json.loads(refresh(world, self.token).body)


def spent_token(world: World) -> tuple[str, dict[str, Any]]:
    spent = Spent(world)
    return spent.token, spent.successor


def _revoke_by_user(world: World, spent: Spent) -> None:
    world.service.revoke_user("alice")  # superset mcp-jwt revoke --sub; the MCP access page


def _revoke_connection(world: World, spent: Spent) -> None:
    [connection] = world.service.connections("alice")
    assert world.service.revoke_connection(connection.id, username="alice")


def _revoke_client(world: World, spent: Spent) -> None:
    from tests.unit.oauth_fixtures import make_client

    world.service.revoke_client("client-1")
    world.store.save_client(make_client())  # registered again: the old family must stay dead


def _revoke_rfc7009_spent(world: World, spent: Spent) -> None:
    assert world.revoke(token=spent.token, client_id="client-1").status == 200


def _revoke_rfc7009_successor(world: World, spent: Spent) -> None:
    assert world.revoke(token=spent.successor["refresh_token"], client_id="client-1").status == 200


def _deactivate_user(world: World, spent: Spent) -> None:
    world.users.active.discard("alice")
    refused(refresh(world, spent.successor["refresh_token"]), "invalid_grant")  # revokes the family
    world.users.active.add("alice")


def _code_replay(world: World, spent: Spent) -> None:
    refused(redeem(world, spent.code, spent.verifier), "invalid_grant")


@pytest.mark.parametrize("revoke", [
    _revoke_by_user, _revoke_connection, _revoke_client, _revoke_rfc7009_spent, _revoke_rfc7009_successor,
    _deactivate_user, _code_replay,
], ids=["user", "connection", "client", "rfc7009-spent-token", "rfc7009-successor", "user-deactivated",
        "code-replay"])
def test_the_grace_window_never_revives_a_revoked_family(world: World, revoke: Callable[..., None]) -> None:
    spent = Spent(world)
    revoke(world, spent)
    refused(refresh(world, spent.token), "invalid_grant")  # inside the window, but the family is gone
    refused(refresh(world, spent.successor["refresh_token"]), "invalid_grant")
    assert world.service.connections() == []
    assert world.is_revoked(jwt.decode(spent.successor["access_token"], options={"verify_signature": False}))


def test_the_grace_answers_of_one_token_are_bounded(tmp_path: Any) -> None:
    world = World(tmp_path, MCP_OAUTH_REFRESH_TOKEN_GRACE_REUSES=3)
    token, successor = spent_token(world)
    siblings = [json.loads(refresh(world, token).body) for _ in range(3)]
    assert all("refresh_token" in s for s in siblings)
    refused(refresh(world, token), "invalid_grant")  # the fourth: refused, and only that request
    for issued in [successor, *siblings]:
        claims = jwt.decode(issued["access_token"], options={"verify_signature": False})
        assert not world.is_revoked(claims)
        assert refresh(world, issued["refresh_token"]).status == 200
    assert len(world.service.connections()) == 1


def test_a_replay_after_the_window_kills_the_siblings_the_window_handed_out(world: World) -> None:
    token, successor = spent_token(world)
    sibling = json.loads(refresh(world, token).body)
    world.clock.now += world.settings.oauth.refresh_grace_seconds
    refused(refresh(world, token), "invalid_grant")  # theft, as before the window existed
    for issued in (successor, sibling):
        refused(refresh(world, issued["refresh_token"]), "invalid_grant")
        assert world.is_revoked(jwt.decode(issued["access_token"], options={"verify_signature": False}))


def test_the_window_is_counted_from_the_rotation_not_from_the_last_grace_answer(world: World) -> None:
    token, _ = spent_token(world)
    window = world.settings.oauth.refresh_grace_seconds
    world.clock.now += window - 1
    assert refresh(world, token).status == 200  # one second before the end
    world.clock.now += 1
    refused(refresh(world, token), "invalid_grant")  # the answer just given did not extend it


def test_the_grace_window_is_bound_to_client_resource_and_scope(world: World) -> None:
    token, _ = spent_token(world)
    refused(refresh(world, token, client_id="client-2"), "invalid_grant")
    response = refresh(world, token, resource="https://other.example/mcp")
    assert json.loads(response.body)["error"] == "invalid_target"
    response = refresh(world, token, scope="mcp:all mcp:admin")
    assert json.loads(response.body)["error"] == "invalid_scope"


def test_strict_mode_is_the_rule_before_the_window(tmp_path: Any) -> None:
    world = World(tmp_path, MCP_OAUTH_REFRESH_TOKEN_GRACE_SECONDS=0)
    token, successor = spent_token(world)
    refused(refresh(world, token), "invalid_grant")  # at once
    refused(refresh(world, successor["refresh_token"]), "invalid_grant")
    assert world.service.connections() == []


def test_codes_stay_strictly_single_use_whatever_the_window(world: World) -> None:
    assert world.settings.oauth.refresh_grace_seconds > 0
    code, verifier = authorized(world)
    first = json.loads(redeem(world, code, verifier).body)
    refused(redeem(world, code, verifier), "invalid_grant")  # the same second
    refused(refresh(world, first["refresh_token"]), "invalid_grant")
