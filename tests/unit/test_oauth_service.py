"""OAuthService: token responses, revocation, and the log lines an operator reads, on a real SQLite store."""

from __future__ import annotations

import json
import logging
from typing import Any

import jwt
import pytest

from tests.unit.oauth_fixtures import REDIRECT
from tests.unit.oauth_server import RESOURCE, World, authorize_params, pkce

TTL_NOTE = "they expire (at most MCP_OAUTH_ACCESS_TOKEN_TTL)"


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(tmp_path)


def claims_of(world: World, token: str) -> dict[str, Any]:
    # The clock of these tests moves by hand, so iat may lie ahead of the real time.
    return jwt.decode(token, world.settings.secrets[0], algorithms=["HS256"], audience=RESOURCE,
                      options={"verify_iat": False})


def code_flow(world: World, user: str = "alice", scope: str | None = None) -> tuple[dict[str, Any], str]:
    verifier, challenge = pkce()
    code = world.authorize(user=user, **authorize_params(challenge, scope=scope)).query["code"]
    token = world.token(grant_type="authorization_code", code=code, client_id="client-1",
                        redirect_uri=REDIRECT, code_verifier=verifier, resource=RESOURCE)
    assert token.status == 200, token.body
    return json.loads(token.body), code


def refresh(world: World, refresh_token: str) -> Any:
    return world.token(grant_type="refresh_token", refresh_token=refresh_token, client_id="client-1")


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """The service's log lines, as (level, message)."""
    return [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "superset_mcp_jwt" and r.getMessage().startswith("MCP OAuth:")]


def test_token_response_is_exactly_the_oauth_fields(world: World) -> None:
    body, _ = code_flow(world, scope="mcp:read mcp:sql")
    claims = claims_of(world, body["access_token"])
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, "mcp:read mcp:sql")
    assert claims["iat"] == int(world.clock.now) and claims["exp"] == claims["iat"] + 3600
    world.clock.now += 100
    rotated = json.loads(refresh(world, body["refresh_token"]).body)
    claims = claims_of(world, rotated["access_token"])
    assert set(rotated) == set(body) and rotated["scope"] == "mcp:read mcp:sql"
    assert (claims["sub"], claims["client_id"], claims["scope"]) == ("alice", "client-1", "mcp:read mcp:sql")
    assert claims["iat"] == int(world.clock.now) and claims["exp"] == claims["iat"] + 3600


def test_issuance_rotation_and_replays_are_logged(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="superset_mcp_jwt")
    first, code = code_flow(world)
    [connection] = world.service.connections("alice")
    family, jti_1 = connection.id, claims_of(world, first["access_token"])["jti"]
    second = json.loads(refresh(world, first["refresh_token"]).body)
    jti_2 = claims_of(world, second["access_token"])["jti"]
    world.clock.now += 3
    third = json.loads(refresh(world, first["refresh_token"]).body)  # 3 s later: a grace answer
    jti_3 = claims_of(world, third["access_token"])["jti"]
    world.clock.now += 57
    assert refresh(world, first["refresh_token"]).status == 400  # 60 s later: a replay, the family goes
    assert lines(caplog) == [
        ("INFO", f"MCP OAuth: tokens issued from a code: user=alice client='client-1' family={family} jti={jti_1}"),
        ("INFO", f"MCP OAuth: refresh token rotated: user=alice client='client-1' family={family} jti={jti_2}"),
        ("WARNING", "MCP OAuth: refresh token presented again 3s after its rotation, within the grace window: "
                    "new tokens in the same family (answer 1 of at most 20): user=alice client='client-1' "
                    f"family={family} jti={jti_3}"),
        ("WARNING", "MCP OAuth: refresh token reused 60s after its rotation (grace window 60s): user=alice "
                    f"client='client-1'; revoking family {family}"),
    ]
    for line in lines(caplog):  # never a token
        assert first["refresh_token"] not in line[1] and third["refresh_token"] not in line[1]
    caplog.clear()
    world.service.code_replayed(world.store.find_code(code))
    assert lines(caplog) == [
        ("WARNING", "MCP OAuth: authorization code used twice: user=alice client='client-1'; "
                    f"revoking family {family}"),
    ]


def test_a_lost_race_for_a_code_revokes_the_family_one_for_a_refresh_token_gets_a_sibling(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Two requests that both passed validation: the store lets one win. The loser of a code
    revokes the family; the loser of a refresh token, within the grace window, gets tokens too."""
    verifier, challenge = pkce()
    code = world.authorize(**authorize_params(challenge)).query["code"]
    record = world.store.find_code(code)
    won = world.service.redeem_code(record, "Claude Code")
    assert won is not None and world.service.redeem_code(record, "Claude Code") is None
    assert world.is_revoked(claims_of(world, won["access_token"]))
    assert world.service.connections() == []
    body, _ = code_flow(world)
    token = world.store.find_refresh_token(body["refresh_token"])
    rotated = world.service.rotate(token, ["mcp:all"])
    sibling = world.service.rotate(token, ["mcp:all"])
    assert rotated is not None and sibling is not None
    assert not world.is_revoked(claims_of(world, rotated["access_token"]))
    assert not world.is_revoked(claims_of(world, sibling["access_token"]))
    assert len(world.service.connections()) == 1
    assert [level for level, message in lines(caplog) if "revoking family" in message] == ["WARNING"]


def test_connections_and_revocation_by_user_connection_and_client(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="superset_mcp_jwt")
    alice, _ = code_flow(world)
    alice_2, _ = code_flow(world)
    bob, _ = code_flow(world, user="bob")
    assert {c.username for c in world.service.connections("alice")} == {"alice"}
    assert len(world.service.connections("alice")) == 2
    assert {c.username for c in world.service.connections()} == {"alice", "bob"}
    [bobs] = world.service.connections("bob")
    assert world.service.revoke_connection(bobs.id) is True  # an admin: anyone's
    assert world.is_revoked(claims_of(world, bob["access_token"]))
    assert world.service.connections("bob") == []
    caplog.clear()
    assert world.service.revoke_user("bob") == 0
    assert world.service.revoke_user("alice") == 2
    assert world.is_revoked(claims_of(world, alice["access_token"]))
    assert world.is_revoked(claims_of(world, alice_2["access_token"]))
    code_flow(world)
    assert world.service.revoke_client("client-1") == 1
    assert [line for line in lines(caplog) if "tokens issued" not in line[1]] == [
        ("INFO", "MCP OAuth: 2 connection(s) of user alice revoked"),
        ("INFO", "MCP OAuth: client 'client-1' removed, 1 connection(s) revoked"),
    ]


def test_caller_chosen_ids_are_logged_bounded_and_printable(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="superset_mcp_jwt")
    client_id = "https://a.example/c m~\x07\n\x7f\u00e9" + "x" * 200
    assert world.service.revoke_client(client_id) == 0
    shown = "https://a.example/c m~????" + "x" * 74  # the first 100 characters
    assert lines(caplog) == [("INFO", f"MCP OAuth: client {shown!r} removed, 0 connection(s) revoked")]


def test_without_a_revocation_store_access_tokens_live_on_and_it_is_said(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = code_flow(world)
    second = json.loads(refresh(world, first["refresh_token"]).body)
    world.service.revocations = None
    [connection] = world.service.connections()
    caplog.clear()
    assert world.service.revoke_connection(connection.id, username="alice") is True
    assert not world.is_revoked(claims_of(world, second["access_token"]))
    assert lines(caplog) == [
        ("WARNING", "MCP OAuth: no revocation store, so 2 revoked access token(s) stay valid until " + TTL_NOTE),
    ]
    caplog.clear()
    assert world.service.revoke_connection(connection.id) is False  # nothing live: nothing to say
    assert lines(caplog) == []


def test_a_failing_revocation_store_is_logged_with_the_count(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    body, _ = code_flow(world)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("redis down")

    world.revocations.revoke_jti = broken  # type: ignore[method-assign]
    caplog.clear()
    assert world.service.revoke_user("alice") == 1
    assert world.service.connections() == []
    assert ("ERROR", "MCP OAuth: 1 revoked access token(s) could not be written to the revocation store "
                     "(ConnectionError); they stay valid until " + TTL_NOTE) in lines(caplog)


def test_a_token_inside_the_leeway_is_revoked_until_it_stops_being_accepted(tmp_path: Any) -> None:
    """Past its exp a token is still accepted for MCP_JWT_LEEWAY seconds: revoking its connection,
    or the token itself (RFC 7009), then must stop it, and the record must outlive the leeway."""
    from superset_mcp_jwt.revocation import STATE_KEY

    world = World(tmp_path, MCP_JWT_LEEWAY=120)
    by_connection, _ = code_flow(world)
    by_rfc7009, _ = code_flow(world)
    first, second = claims_of(world, by_connection["access_token"]), claims_of(world, by_rfc7009["access_token"])
    world.clock.now = first["exp"] + 100  # expired 100 s ago, accepted for 20 s more
    family = world.store.find_refresh_token(by_connection["refresh_token"]).family_id
    assert world.service.revoke_connection(family) is True
    assert world.revoke(token=by_rfc7009["access_token"], client_id="client-1").status == 200
    kept = world.cache.data[STATE_KEY]["jti"]
    assert world.is_revoked(first) and world.is_revoked(second)
    grace = 60  # revocation._JTI_GRACE_SECONDS: clock skew between replicas
    assert (kept[first["jti"]], kept[second["jti"]]) == (first["exp"] + 120 + grace, second["exp"] + 120 + grace)
