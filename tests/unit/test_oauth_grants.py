"""The grants, the revocation endpoint and the service, through Authlib's core on a real SQLite store."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from authlib.oauth2.rfc6749 import OAuth2Error

from tests.unit.oauth_fixtures import REDIRECT
from tests.unit.oauth_server import ISSUER, RESOURCE, Request, World, authorize_params, pkce


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(tmp_path)


def claims_of(world: World, token: str) -> dict[str, Any]:
    return jwt.decode(token, world.settings.secrets[0], algorithms=["HS256"], audience=RESOURCE)


def code_flow(world: World, scope: str | None = None) -> tuple[dict[str, Any], str]:
    verifier, challenge = pkce()
    response = world.authorize(**authorize_params(challenge, scope=scope))
    assert response.status == 302, response.body
    code = response.query["code"]
    token = world.token(grant_type="authorization_code", code=code, client_id="client-1",
                        redirect_uri=REDIRECT, code_verifier=verifier, resource=RESOURCE)
    assert token.status == 200, token.body
    return json.loads(token.body), code


def test_code_flow_with_pkce_issues_tokens_for_the_resource(world: World) -> None:
    verifier, challenge = pkce()
    response = world.authorize(**authorize_params(challenge))
    assert response.location.startswith(REDIRECT + "?")
    assert response.query["state"] == "st-1" and response.query["iss"] == ISSUER
    token = world.token(grant_type="authorization_code", code=response.query["code"], client_id="client-1",
                        redirect_uri=REDIRECT, code_verifier=verifier, resource=RESOURCE)
    assert token.status == 200
    assert token.headers["Cache-Control"] == "no-store"
    body = json.loads(token.body)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "mcp:all"
    claims = claims_of(world, body["access_token"])
    assert (claims["iss"], claims["aud"], claims["sub"], claims["client_id"]) == (ISSUER, RESOURCE, "alice", "client-1")
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    assert body["refresh_token"] and body["refresh_token"] != response.query["code"]
    [connection] = world.service.connections("alice")
    assert connection.client_name == "Claude Code" and connection.scopes == ("mcp:all",)


def test_requested_scopes_are_granted_and_unknown_ones_of_ours_refused(world: World) -> None:
    body, _ = code_flow(world, scope="mcp:read mcp:sql")
    assert claims_of(world, body["access_token"])["scope"] == "mcp:read mcp:sql"
    _, challenge = pkce()
    for scope in ("mcp:read mcp:admin", "superset:read", "mcp:"):
        response = world.authorize(**authorize_params(challenge, scope=scope))
        assert response.query["error"] == "invalid_scope" and response.query["iss"] == ISSUER, scope


@pytest.mark.parametrize(("scope", "granted"), [
    ("mcp:all offline_access", "mcp:all"),  # Claude Code (anthropics/claude-code #41610)
    (" offline_access", "mcp:all"),  # Claude.ai's leading space (anthropics/claude-ai-mcp #453): the default
    ("openid profile email mcp:read", "mcp:read"),  # hard-coded OIDC scopes (anthropics/claude-code #83679)
    ("claudeai", "mcp:all"),  # modelcontextprotocol/modelcontextprotocol #653
    ("read write", "mcp:all"),  # anthropics/claude-ai-mcp #42
    ("mcp:sql offline_access mcp:sql", "mcp:sql"),
], ids=["offline_access", "leading-space", "oidc", "claudeai", "read-write", "repeated"])
def test_offline_access_and_foreign_scopes_never_refuse_and_are_never_granted(
    world: World, scope: str, granted: str
) -> None:
    body, _ = code_flow(world, scope=scope)
    assert body["scope"] == granted and claims_of(world, body["access_token"])["scope"] == granted
    assert body["refresh_token"]  # offline_access or not: a refresh token, always
    assert "offline_access" not in world.server.scopes_supported


def test_a_refresh_asking_for_offline_access_or_foreign_scopes_keeps_the_grant(world: World) -> None:
    first, _ = code_flow(world, scope="mcp:read mcp:sql")
    for scope in ("offline_access", "mcp:read offline_access", "openid"):
        response = world.token(grant_type="refresh_token", refresh_token=first["refresh_token"],
                               client_id="client-1", scope=scope)
        assert response.status == 200, (scope, response.body)
        first = json.loads(response.body)
    assert first["scope"] == "mcp:read mcp:sql"  # the last one asked for no scope of ours: the grant's
    assert claims_of(world, first["access_token"])["scope"] == "mcp:read mcp:sql"
    narrowed = world.token(grant_type="refresh_token", refresh_token=first["refresh_token"], client_id="client-1",
                           scope="mcp:read offline_access")
    assert json.loads(narrowed.body)["scope"] == "mcp:read"
    first = json.loads(narrowed.body)
    refused = world.token(grant_type="refresh_token", refresh_token=first["refresh_token"], client_id="client-1",
                          scope="mcp:read mcp:admin")
    assert refused.status == 400 and json.loads(refused.body)["error"] == "invalid_scope"


@pytest.mark.parametrize("overrides", [
    {"code_challenge_method": "plain"},
    {"code_challenge_method": None},
    {"code_challenge": None, "code_challenge_method": None},
    {"code_challenge": None},
    {"code_challenge": "short"},
], ids=["plain", "method-missing", "pkce-missing", "challenge-missing", "challenge-malformed"])
def test_pkce_s256_is_required(world: World, overrides: dict[str, Any]) -> None:
    _, challenge = pkce()
    response = world.authorize(**authorize_params(challenge, **overrides))
    assert response.status == 302 and "code" not in response.query
    assert response.query["error"] == "invalid_request"
    assert response.query["state"] == "st-1" and response.query["iss"] == ISSUER


def test_a_wrong_or_missing_verifier_is_refused(world: World) -> None:
    _, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    other_verifier, _ = pkce()
    wrong = world.token(grant_type="authorization_code", code=code, client_id="client-1",
                        redirect_uri=REDIRECT, code_verifier=other_verifier)
    assert wrong.status == 400 and json.loads(wrong.body)["error"] == "invalid_grant"
    missing = world.token(grant_type="authorization_code", code=code, client_id="client-1", redirect_uri=REDIRECT)
    assert missing.status == 400 and json.loads(missing.body)["error"] == "invalid_request"


@pytest.mark.parametrize("overrides", [
    {"client_id": "unknown"},
    {"client_id": None},
    {"redirect_uri": "http://127.0.0.1:33418/callback/../evil"},
    {"redirect_uri": "http://127.0.0.1:33418/callbackx"},
    {"redirect_uri": "https://evil.example/callback"},
    {"redirect_uri": None},
], ids=["unknown-client", "no-client", "dot-segments", "prefix", "other-host", "missing"])
def test_no_redirect_to_an_unregistered_uri(world: World, overrides: dict[str, Any]) -> None:
    _, challenge = pkce()
    with pytest.raises(OAuth2Error) as raised:
        world.authorize(**authorize_params(challenge, **overrides))
    assert raised.value.redirect_uri is None


def test_response_type_other_than_code_is_refused(world: World) -> None:
    _, challenge = pkce()
    response = world.authorize(**authorize_params(challenge, response_type="token"))
    assert response.query["error"] == "unsupported_response_type" and response.query["iss"] == ISSUER


def test_deny_returns_access_denied_with_state_and_iss(world: World) -> None:
    _, challenge = pkce()
    response = world.authorize(user=None, **authorize_params(challenge))
    assert response.location.startswith(REDIRECT + "?")
    assert {k: response.query[k] for k in ("error", "state", "iss")} == {
        "error": "access_denied", "state": "st-1", "iss": ISSUER,
    }
    assert "code" not in response.query


def test_a_foreign_resource_is_invalid_target(world: World) -> None:
    _, challenge = pkce()
    response = world.authorize(**authorize_params(challenge, resource="https://other.example/mcp"))
    assert response.query["error"] == "invalid_target" and response.query["iss"] == ISSUER
    verifier, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    token = world.token(grant_type="authorization_code", code=code, client_id="client-1", redirect_uri=REDIRECT,
                        code_verifier=verifier, resource="https://other.example/mcp")
    assert token.status == 400 and json.loads(token.body)["error"] == "invalid_target"


def test_code_bound_to_client_and_redirect_uri(world: World) -> None:
    verifier, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    other_client = world.token(grant_type="authorization_code", code=code, client_id="client-2",
                               redirect_uri="http://127.0.0.1:9/cb", code_verifier=verifier)
    assert json.loads(other_client.body)["error"] == "invalid_grant"
    other_uri = world.token(grant_type="authorization_code", code=code, client_id="client-1",
                            redirect_uri="http://127.0.0.1:9/cb", code_verifier=verifier)
    assert json.loads(other_uri.body)["error"] == "invalid_grant"
    secret = world.token(grant_type="authorization_code", code=code, client_id="client-1", client_secret="x",
                         redirect_uri=REDIRECT, code_verifier=verifier)
    assert json.loads(secret.body)["error"] == "invalid_client"


def test_code_replay_is_refused_and_revokes_what_it_issued(world: World) -> None:
    verifier, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    form = dict(grant_type="authorization_code", code=code, client_id="client-1", redirect_uri=REDIRECT,
                code_verifier=verifier)
    first = json.loads(world.token(**form).body)
    replay = world.token(**form)
    assert replay.status == 400 and json.loads(replay.body)["error"] == "invalid_grant"
    assert world.is_revoked(claims_of(world, first["access_token"]))
    refresh = world.token(grant_type="refresh_token", refresh_token=first["refresh_token"], client_id="client-1")
    assert json.loads(refresh.body)["error"] == "invalid_grant"
    assert world.service.connections() == []


def test_an_expired_code_is_refused(world: World) -> None:
    verifier, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    world.clock.now += 61
    response = world.token(grant_type="authorization_code", code=code, client_id="client-1",
                           redirect_uri=REDIRECT, code_verifier=verifier)
    assert json.loads(response.body)["error"] == "invalid_grant"


def test_refresh_rotates_and_replay_after_the_grace_window_kills_the_family(world: World) -> None:
    first, _ = code_flow(world)
    second = world.token(grant_type="refresh_token", refresh_token=first["refresh_token"], client_id="client-1",
                         resource=RESOURCE)
    assert second.status == 200
    second_body = json.loads(second.body)
    assert second_body["refresh_token"] != first["refresh_token"]
    assert claims_of(world, second_body["access_token"])["jti"] != claims_of(world, first["access_token"])["jti"]
    world.clock.now += world.settings.oauth.refresh_grace_seconds  # the grace window is over
    replay = world.token(grant_type="refresh_token", refresh_token=first["refresh_token"], client_id="client-1")
    assert replay.status == 400 and json.loads(replay.body)["error"] == "invalid_grant"
    # The whole family is gone: the rotated refresh token and the live access tokens.
    after = world.token(grant_type="refresh_token", refresh_token=second_body["refresh_token"], client_id="client-1")
    assert json.loads(after.body)["error"] == "invalid_grant"
    assert world.is_revoked(claims_of(world, second_body["access_token"]))
    assert world.is_revoked(claims_of(world, first["access_token"]))


def test_refresh_scope_may_only_narrow(world: World) -> None:
    first, _ = code_flow(world, scope="mcp:read mcp:sql")
    escalate = world.token(grant_type="refresh_token", refresh_token=first["refresh_token"], client_id="client-1",
                           scope="mcp:read mcp:all")
    assert escalate.status == 400 and json.loads(escalate.body)["error"] == "invalid_scope"
    narrow = json.loads(world.token(grant_type="refresh_token", refresh_token=first["refresh_token"],
                                    client_id="client-1", scope="mcp:read").body)
    assert claims_of(world, narrow["access_token"])["scope"] == "mcp:read"
    # The new refresh token keeps the original grant (OAuth 2.1 §4.3.1).
    again = json.loads(world.token(grant_type="refresh_token", refresh_token=narrow["refresh_token"],
                                   client_id="client-1").body)
    assert claims_of(world, again["access_token"])["scope"] == "mcp:read mcp:sql"


def test_refresh_checks_client_resource_and_user(world: World) -> None:
    first, _ = code_flow(world)
    other = world.token(grant_type="refresh_token", refresh_token=first["refresh_token"], client_id="client-2")
    assert json.loads(other.body)["error"] == "invalid_grant"
    target = world.token(grant_type="refresh_token", refresh_token=first["refresh_token"], client_id="client-1",
                         resource="https://other.example/mcp")
    assert json.loads(target.body)["error"] == "invalid_target"
    world.users.active.discard("alice")
    inactive = world.token(grant_type="refresh_token", refresh_token=first["refresh_token"], client_id="client-1")
    assert json.loads(inactive.body)["error"] == "invalid_grant"
    assert world.service.connections() == []


def test_inactive_user_gets_no_tokens_from_a_code(world: World) -> None:
    verifier, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    world.users.active.discard("alice")
    response = world.token(grant_type="authorization_code", code=code, client_id="client-1",
                           redirect_uri=REDIRECT, code_verifier=verifier)
    assert json.loads(response.body)["error"] == "invalid_grant"


def test_revocation_endpoint(world: World) -> None:
    body, _ = code_flow(world)
    # Unknown tokens and other clients' tokens: 200, nothing revoked.
    assert world.revoke(token="junk", client_id="client-1").status == 200
    assert world.revoke(token=body["refresh_token"], client_id="client-2").status == 200
    assert world.service.connections() != []
    access = claims_of(world, body["access_token"])
    assert world.revoke(token=body["access_token"], client_id="client-2").status == 200
    assert not world.is_revoked(access)
    # Its own access token: the jti goes into the revocation list.
    assert world.revoke(token=body["access_token"], client_id="client-1",
                        token_type_hint="access_token").status == 200
    assert world.is_revoked(access)
    # Its own refresh token: the family.
    assert world.revoke(token=body["refresh_token"], client_id="client-1").status == 200
    assert world.service.connections() == []
    refreshed = world.token(grant_type="refresh_token", refresh_token=body["refresh_token"], client_id="client-1")
    assert json.loads(refreshed.body)["error"] == "invalid_grant"


def test_service_revocations_stop_access_tokens(world: World) -> None:
    alice, _ = code_flow(world)
    alice_2, _ = code_flow(world)
    connections = world.service.connections("alice")
    assert len(connections) == 2
    assert world.service.revoke_connection(connections[0].id, username="bob") is False
    assert world.service.revoke_connection(connections[0].id, username="alice") is True
    assert world.service.revoke_connection(connections[0].id) is False  # already revoked
    assert world.service.revoke_user("alice") == 1
    assert world.is_revoked(claims_of(world, alice["access_token"]))
    assert world.is_revoked(claims_of(world, alice_2["access_token"]))
    body, _ = code_flow(world)
    [info] = [c for c in world.service.clients() if c.client_id == "client-1"]
    assert info.connections == 1
    assert world.service.revoke_client("client-1") == 1
    assert world.is_revoked(claims_of(world, body["access_token"]))
    assert "client-1" not in {c.client_id for c in world.service.clients()}


def test_a_failing_revocation_store_does_not_fail_the_request(world: World, caplog: pytest.LogCaptureFixture) -> None:
    body, _ = code_flow(world)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("redis down")

    world.revocations.revoke_jti = broken  # type: ignore[method-assign]
    replay = world.token(grant_type="refresh_token", refresh_token=body["refresh_token"], client_id="client-1")
    assert replay.status == 200
    world.clock.now += world.settings.oauth.refresh_grace_seconds
    again = world.token(grant_type="refresh_token", refresh_token=body["refresh_token"], client_id="client-1")
    assert again.status == 400 and json.loads(again.body)["error"] == "invalid_grant"
    assert world.service.connections() == []  # the family is revoked in the database all the same
    assert "could not be written to the revocation store (ConnectionError)" in caplog.text


# --- exact errors, boundaries and log lines ------------------------------------------

def description(response: Any) -> tuple[str, str]:
    """(error, error_description) of a token-endpoint answer or a redirect back to the client."""
    body = json.loads(response.body) if response.location is None else response.query
    return body["error"], body.get("error_description", "")


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"code_challenge_method": "plain"}, "code_challenge_method must be S256."),
    ({"code_challenge_method": None}, "code_challenge_method must be S256."),
    ({"code_challenge": None}, "PKCE is required: send code_challenge with code_challenge_method=S256."),
    ({"code_challenge": "short"}, "Invalid 'code_challenge'"),
], ids=["plain", "method-missing", "challenge-missing", "challenge-malformed"])
def test_pkce_errors_say_what_to_send(world: World, overrides: dict[str, Any], expected: str) -> None:
    _, challenge = pkce()
    response = world.authorize(**authorize_params(challenge, **overrides))
    assert description(response) == ("invalid_request", expected)


def test_the_authorization_code_is_256_random_bits(world: World) -> None:
    _, challenge = pkce()
    codes = {world.authorize(**authorize_params(challenge)).query["code"] for _ in range(3)}
    assert len(codes) == 3 and {len(code) for code in codes} == {43}  # token_urlsafe(32)


def test_resource_foreign_or_repeated_is_invalid_target_with_its_reason(world: World) -> None:
    reason = ("invalid_target", "The resource is not this server's MCP endpoint.")
    _, challenge = pkce()
    assert description(world.authorize(**authorize_params(challenge, resource="https://other.example/mcp"))) == reason
    twice = [*authorize_params(challenge).items(), ("resource", RESOURCE)]
    with pytest.raises(OAuth2Error) as raised:
        world.server.get_consent_grant(Request("GET", twice), end_user="alice")
    assert (raised.value.error, raised.value.description, raised.value.redirect_uri) == (*reason, REDIRECT)
    verifier, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    form = [("grant_type", "authorization_code"), ("code", code), ("client_id", "client-1"),
            ("redirect_uri", REDIRECT), ("code_verifier", verifier), ("resource", RESOURCE), ("resource", RESOURCE)]
    assert description(world.server.create_token_response(Request("POST", form))) == reason
    body, _ = code_flow(world)
    form = [("grant_type", "refresh_token"), ("refresh_token", body["refresh_token"]), ("client_id", "client-1"),
            ("resource", RESOURCE), ("resource", RESOURCE)]
    assert description(world.server.create_token_response(Request("POST", form))) == reason


def test_an_inactive_user_is_told_so(world: World) -> None:
    verifier, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    body, _ = code_flow(world)
    world.users.active.discard("alice")
    from_code = world.token(grant_type="authorization_code", code=code, client_id="client-1",
                            redirect_uri=REDIRECT, code_verifier=verifier)
    from_refresh = world.token(grant_type="refresh_token", refresh_token=body["refresh_token"], client_id="client-1")
    assert description(from_code) == description(from_refresh) == ("invalid_grant", "The user is not active.")


def race(world: World, **form: str) -> tuple[Any, Any]:
    """The same token request twice, the second running between the first's validation and redemption."""
    inner: list[Any] = []

    def racing(username: str) -> bool:
        if not inner:
            inner.append(None)
            inner[0] = world.token(**form)
        return username in world.users.active

    world.server.user_is_active = racing  # type: ignore[method-assign]
    try:
        outer = world.token(**form)
    finally:
        del world.server.user_is_active
    return inner[0], outer


def test_a_concurrent_code_redemption_loses_and_revokes_the_family(world: World) -> None:
    """Two token requests with one code that both pass validation: the store lets one win;
    the other is refused and revokes what the winner got (codes have no grace window)."""
    verifier, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    winner, loser = race(world, grant_type="authorization_code", code=code, client_id="client-1",
                         redirect_uri=REDIRECT, code_verifier=verifier)
    assert winner.status == 200
    assert description(loser) == ("invalid_grant", "Invalid 'code' in request.")
    assert world.is_revoked(claims_of(world, json.loads(winner.body)["access_token"]))


def test_two_concurrent_refreshes_of_one_token_both_get_working_tokens(world: World) -> None:
    """Both pass validation with the token unspent: one wins the rotation, the other gets a
    sibling in the same family (it lost within the grace window); nothing is revoked."""
    body, _ = code_flow(world)
    first, second = race(world, grant_type="refresh_token", refresh_token=body["refresh_token"], client_id="client-1")
    assert first.status == second.status == 200
    tokens = [json.loads(first.body), json.loads(second.body)]
    assert tokens[0]["refresh_token"] != tokens[1]["refresh_token"]
    for issued in tokens:
        assert not world.is_revoked(claims_of(world, issued["access_token"]))
        again = world.token(grant_type="refresh_token", refresh_token=issued["refresh_token"], client_id="client-1")
        assert again.status == 200  # each sibling works for its own next use
    assert len(world.service.connections()) == 1  # one family, one connection


def test_in_strict_mode_a_concurrent_refresh_loses_and_revokes_the_family(tmp_path: Any) -> None:
    """MCP_OAUTH_REFRESH_TOKEN_GRACE_SECONDS = 0: the rule before the window, unchanged."""
    world = World(tmp_path, MCP_OAUTH_REFRESH_TOKEN_GRACE_SECONDS=0)
    body, _ = code_flow(world)
    winner, loser = race(world, grant_type="refresh_token", refresh_token=body["refresh_token"], client_id="client-1")
    assert winner.status == 200
    assert loser.status == 400 and json.loads(loser.body)["error"] == "invalid_grant"
    assert world.is_revoked(claims_of(world, json.loads(winner.body)["access_token"]))
    assert world.service.connections() == []
    body, _ = code_flow(world)
    assert world.token(grant_type="refresh_token", refresh_token=body["refresh_token"],
                       client_id="client-1").status == 200
    replay = world.token(grant_type="refresh_token", refresh_token=body["refresh_token"], client_id="client-1")
    assert replay.status == 400 and world.service.connections() == []  # at once, not a minute later


def test_at_its_expiry_a_code_or_refresh_token_is_expired_not_replayed(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    body, _ = code_flow(world)
    verifier, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    world.clock.now = world.store.find_code(code).expires_at
    expired = world.token(grant_type="authorization_code", code=code, client_id="client-1",
                          redirect_uri=REDIRECT, code_verifier=verifier)
    assert description(expired) == ("invalid_grant", "Invalid 'code' in request.")
    world.clock.now = world.store.find_refresh_token(body["refresh_token"]).expires_at
    expired = world.token(grant_type="refresh_token", refresh_token=body["refresh_token"], client_id="client-1")
    assert json.loads(expired.body)["error"] == "invalid_grant"
    assert "revoking family" not in caplog.text


def test_public_clients_have_no_secret_and_tokens_are_saved_by_the_service(world: World) -> None:
    client = world.server.query_client("client-1")
    assert client is not None and client.client_name == "Claude Code"
    assert [client.check_client_secret(s) for s in ("", "x", "client-1")] == [False, False, False]
    assert [client.check_endpoint_auth_method(m, "token") for m in ("none", "client_secret_post")] == [True, False]
    with pytest.raises(NotImplementedError, match=r"^the grants save their tokens through OAuthService$"):
        world.server.save_token({}, None)


def test_revocation_ignores_a_wrong_hint_and_logs_what_it_revoked(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 7009 §2.1: a token not found under its hint is searched for under the other types."""
    caplog.set_level("INFO", logger="superset_mcp_jwt")
    body, _ = code_flow(world)
    [connection] = world.service.connections()
    access = claims_of(world, body["access_token"])
    caplog.clear()
    assert world.revoke(token=body["access_token"], client_id="client-1",
                        token_type_hint="refresh_token").status == 200
    assert world.is_revoked(access)
    assert world.revoke(token=body["refresh_token"], client_id="client-1",
                        token_type_hint="access_token").status == 200
    assert world.service.connections() == []
    assert [r.getMessage() for r in caplog.records if "by its client" in r.getMessage()] == [
        f"MCP OAuth: access token revoked by its client: jti={access['jti']}",
        f"MCP OAuth: refresh token revoked by its client: family={connection.id}",
    ]


def test_revocation_reads_tokens_up_to_8192_characters(world: World) -> None:
    now = world.store.now()
    tokens = {len(t): t for t in (world.issuer.mint("u" * n, ["mcp:all"], "client-1", f"jti-{n}", now, now + 60)
                                  for n in range(5800, 5900))}
    longest = tokens[8192]
    claims = world.issuer.read(longest)
    assert claims is not None and not world.is_revoked(claims)
    assert world.revoke(token=longest, client_id="client-1").status == 200
    assert world.is_revoked(claims)
