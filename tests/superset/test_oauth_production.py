"""The authorization server as production runs it, on PostgreSQL: races, workers, replicas.

Two web replicas (gunicorn, two gthread workers each) and two `superset mcp run`
replicas share one PostgreSQL metadata DB whose OAuth tables were created by
`superset mcp-jwt db upgrade`. A plain HTTP client plays the MCP client (PKCE,
registration, token and revocation requests) and its user (Superset's login
form, the consent form), every request on a fresh connection so that it may land
on any worker. Races fire two requests at once from two threads behind a barrier,
many rounds each; the outcomes are printed (`pytest -s`).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Iterator, Optional

import httpx
import pytest

from demo.sandbox import INITIALIZE, MCP_ACCEPT, GunicornWebServer, MCPServer, free_port
from tests.superset.oauth_http import OAuthHTTPUser, at_once

pytestmark = pytest.mark.postgresql(only=True)

ROUNDS = 20
#: MCP_OAUTH_REFRESH_TOKEN_GRACE_SECONDS here: short, so that a test can wait for its end.
GRACE_SECONDS = 5
#: MCP_JWT_REVOCATION_MEMO_SECONDS (2 s, the default) and a margin.
MEMO_BOUND = 3.0


class Deployment:
    """Web replicas ``a`` and ``b`` behind one public issuer URL, MCP replicas behind one resource URL."""

    def __init__(self, home: Any) -> None:
        self.home = home
        self.web_ports = [free_port(), free_port()]
        self.mcp_ports = [free_port(), free_port()]
        self.issuer = f"http://127.0.0.1:{self.web_ports[0]}"
        self.resource = f"http://127.0.0.1:{self.mcp_ports[0]}/mcp"
        self.config = home.config(
            "oauth_production_config", MCP_OAUTH_ENABLED=True,
            MCP_OAUTH_ISSUER=self.issuer, MCP_OAUTH_RESOURCE=self.resource,
            MCP_OAUTH_AUTHORIZATION_CODE_TTL=600,  # a code outlives a slow replica restart
            MCP_OAUTH_REFRESH_TOKEN_GRACE_SECONDS=GRACE_SECONDS,
        )
        self.web: list[GunicornWebServer] = []
        self.mcp: list[MCPServer] = []

    def start_web(self, index: int) -> GunicornWebServer:
        server = GunicornWebServer(self.home, self.config, f"oauth-web-{'ab'[index]}",
                                   port=self.web_ports[index]).__enter__()
        if index < len(self.web):
            self.web[index] = server
        else:
            self.web.append(server)
        return server

    def stop(self) -> None:
        for server in self.web + self.mcp:
            server.stop()


@pytest.fixture(scope="module")
def deployment(home) -> Iterator[Deployment]:
    d = Deployment(home)
    # The documented way, twice: the second run finds nothing to do.
    for _ in range(2):
        upgraded = home.superset("mcp-jwt", "db", "upgrade", config=d.config)
        assert upgraded.returncode == 0
    try:
        d.start_web(0)
        d.start_web(1)
        for index, port in enumerate(d.mcp_ports):
            d.mcp.append(MCPServer(home, d.config, f"oauth-mcp-{'ab'[index]}", port=port).__enter__())
        yield d
    finally:
        d.stop()


class OAuthUser(OAuthHTTPUser):
    """A registered public client and its signed-in user (alice), talking to one web replica."""

    def __init__(self, deployment: Deployment, web: GunicornWebServer, username: str = "alice") -> None:
        super().__init__(web.url, deployment.issuer, deployment.resource, username, "production test")
        self.d = deployment
        self.web = web

    def exchange(self, code: str, verifier: str, web: Optional[GunicornWebServer] = None) -> httpx.Response:
        return super().exchange(code, verifier, (web or self.web).url)

    def refresh(self, refresh_token: str, web: Optional[GunicornWebServer] = None, **form: str) -> httpx.Response:
        return super().refresh(refresh_token, (web or self.web).url, **form)

    def revoke(self, token: str, web: Optional[GunicornWebServer] = None) -> httpx.Response:
        return super().revoke(token, (web or self.web).url)


@pytest.fixture
def user(deployment) -> Iterator[OAuthUser]:
    oauth_user = OAuthUser(deployment, deployment.web[0])
    yield oauth_user
    oauth_user.close()


def mcp_status(server: MCPServer, access_token: str) -> int:
    return httpx.post(server.url, json=INITIALIZE, timeout=60, headers={
        "Accept": MCP_ACCEPT, "Authorization": f"Bearer {access_token}",
    }).status_code


def _outcome(response: Any) -> str:
    if not isinstance(response, httpx.Response):
        return f"exception {type(response).__name__}"
    if response.status_code == 200:
        return "200"
    try:
        return f"{response.status_code} {response.json().get('error')}"
    except ValueError:
        return str(response.status_code)


def test_consent_page_and_its_form_post_on_different_workers(deployment, user):
    crossed = 0
    for rounds in range(1, ROUNDS + 1):
        tokens = user.tokens()
        expected = 2 + 3 * rounds  # the login form's GET and POST, then per round: consent GET, POST, token
        workers = deployment.web[0].served_by(user.probe, expected)
        assert len(workers) == expected
        workers = workers[-3:]
        crossed += workers[0] != workers[1]
        assert mcp_status(deployment.mcp[0], tokens["access_token"]) == 200
        if crossed >= 3:
            break
    print(f"consent form posted to the other worker {crossed} times in {rounds} rounds")
    assert crossed >= 3


def test_the_same_code_twice_at_once_has_exactly_one_winner(deployment, user):
    outcomes: Counter[str] = Counter()
    for _ in range(ROUNDS):
        code, verifier = user.code()
        first, second = at_once(lambda: user.exchange(code, verifier),
                                lambda: user.exchange(code, verifier, deployment.web[1]))
        pair = sorted([_outcome(first), _outcome(second)])
        outcomes[" + ".join(pair)] += 1
        assert pair == ["200", "400 invalid_grant"], pair
        winner = first if first.status_code == 200 else second
        # The second use is a replay: it also revoked what the code issued (RFC 6749 §4.1.2).
        assert _outcome(user.refresh(winner.json()["refresh_token"])) == "400 invalid_grant"
    print(f"same code twice at once, {ROUNDS} rounds: {dict(outcomes)}")


def test_the_same_refresh_token_twice_at_once_on_two_replicas_gives_both_working_tokens(deployment, user):
    """Claude.ai refreshing one token from two egress addresses at once (PrefectHQ/fastmcp #4264),
    here on two web replicas: one rotation and one grace answer, both in the family, nothing revoked."""
    outcomes: Counter[str] = Counter()
    for _ in range(ROUNDS):
        refresh_token = user.tokens()["refresh_token"]
        first, second = at_once(lambda: user.refresh(refresh_token),
                                lambda: user.refresh(refresh_token, deployment.web[1]))
        pair = sorted([_outcome(first), _outcome(second)])
        outcomes[" + ".join(pair)] += 1
        assert pair == ["200", "200"], pair
        assert first.json()["refresh_token"] != second.json()["refresh_token"]
        # Each works for its own next use, on the other replica.
        assert _outcome(user.refresh(first.json()["refresh_token"], deployment.web[1])) == "200"
        assert _outcome(user.refresh(second.json()["refresh_token"], deployment.web[0])) == "200"
    print(f"same refresh token twice at once on two replicas, {ROUNDS} rounds: {dict(outcomes)}")


def test_eight_concurrent_refreshes_of_one_token_all_work_and_a_replay_after_the_window_kills_the_family(
    deployment, user
):
    """Eight presentations of one refresh token at once, spread over both web replicas: every
    answer is 200 and every refresh token returned works. After the grace window the same token
    is a replay: both replicas refuse the family, both MCP replicas its access tokens."""
    a, b = deployment.web
    tokens = user.tokens()
    answers = at_once(*[(lambda web=web: user.refresh(tokens["refresh_token"], web)) for web in [a, b] * 4])
    rotated_at = time.monotonic()
    assert [_outcome(r) for r in answers] == ["200"] * 8
    issued = [r.json() for r in answers]
    assert len({t["refresh_token"] for t in issued}) == 8
    access = [t["access_token"] for t in issued]
    assert [mcp_status(server, t) for t in access[:2] for server in deployment.mcp] == [200] * 4
    # Every refresh token handed out works for its own next use (on the other replica each).
    nexts = [user.refresh(t["refresh_token"], [b, a][i % 2]) for i, t in enumerate(issued)]
    assert [_outcome(r) for r in nexts] == ["200"] * 8
    access += [r.json()["access_token"] for r in nexts]
    time.sleep(max(0.0, rotated_at + GRACE_SECONDS + 1 - time.monotonic()))
    assert _outcome(user.refresh(tokens["refresh_token"], b)) == "400 invalid_grant"  # a replay: theft
    for web in (a, b):
        assert [_outcome(user.refresh(r.json()["refresh_token"], web)) for r in nexts] == ["400 invalid_grant"] * 8
    time.sleep(MEMO_BOUND)
    assert {mcp_status(server, t) for t in [tokens["access_token"], *access] for server in deployment.mcp} == {401}
    print(f"8 concurrent refreshes: 8 x 200, 8 next refreshes 200; replay after {GRACE_SECONDS} s: "
          f"family refused by 2 web replicas, {len(access) + 1} access tokens by 2 MCP replicas")


def test_a_refresh_racing_a_revocation_never_leaves_a_live_token(deployment, user):
    outcomes: Counter[str] = Counter()
    issued: list[str] = []  # every access token of a revoked family
    last_revoked = 0.0
    for _ in range(ROUNDS):
        tokens = user.tokens()
        issued.append(tokens["access_token"])
        refreshed, revoked = at_once(lambda: user.refresh(tokens["refresh_token"]),
                                     lambda: user.revoke(tokens["refresh_token"], deployment.web[1]))
        last_revoked = time.monotonic()
        assert _outcome(revoked) == "200"
        outcomes[f"refresh {_outcome(refreshed)}"] += 1
        assert _outcome(refreshed) in ("200", "400 invalid_grant")
        if refreshed.status_code == 200:
            issued.append(refreshed.json()["access_token"])
            # Refreshed before the revocation: its new refresh token died with the family.
            assert _outcome(user.refresh(refreshed.json()["refresh_token"])) == "400 invalid_grant"
    time.sleep(max(0.0, last_revoked + MEMO_BOUND - time.monotonic()))
    live = [t for t in issued for server in deployment.mcp if mcp_status(server, t) != 401]
    print(f"refresh racing revocation, {ROUNDS} rounds: {dict(outcomes)}; "
          f"{len(issued)} access tokens checked on 2 MCP replicas, {len(live)} still accepted")
    assert live == []


def test_mcp_replicas_accept_oauth_tokens_and_honour_revocations_from_either_web_replica(deployment, user):
    a, b = deployment.mcp
    # Access token revoked on web replica b (RFC 7009, by jti): refused by both MCP replicas.
    tokens = user.tokens()
    assert [mcp_status(a, tokens["access_token"]), mcp_status(b, tokens["access_token"])] == [200, 200]
    assert user.revoke(tokens["access_token"], deployment.web[1]).status_code == 200
    time.sleep(MEMO_BOUND)
    assert [mcp_status(a, tokens["access_token"]), mcp_status(b, tokens["access_token"])] == [401, 401]
    # A family refreshed on b, revoked on a: its access tokens are refused by both MCP replicas.
    first = user.tokens()
    second = user.refresh(first["refresh_token"], deployment.web[1])
    assert second.status_code == 200
    access = second.json()["access_token"]
    assert [mcp_status(a, access), mcp_status(b, access)] == [200, 200]
    assert user.revoke(second.json()["refresh_token"], deployment.web[0]).status_code == 200
    time.sleep(MEMO_BOUND)
    assert [mcp_status(a, access), mcp_status(b, access)] == [401, 401]
    assert [mcp_status(a, first["access_token"]), mcp_status(b, first["access_token"])] == [401, 401]


def test_a_web_replica_restart_loses_no_client_or_refresh_family(deployment, user):
    tokens = user.tokens()
    pending_code, verifier = user.code()
    deployment.web[0].stop()
    restarted = deployment.start_web(0)
    assert user.exchange(pending_code, verifier, restarted).status_code == 200  # a code in flight too
    refreshed = user.refresh(tokens["refresh_token"], restarted)
    assert refreshed.status_code == 200, refreshed.text
    assert mcp_status(deployment.mcp[1], refreshed.json()["access_token"]) == 200
    # The client registered before the restart, and alice's session, still work on the restarted replica.
    user.web, user.web_url = restarted, restarted.url
    assert mcp_status(deployment.mcp[0], user.tokens()["access_token"]) == 200


def test_revision_0004_upgrades_and_downgrades_on_postgresql_with_rows(postgres):
    """The grace counter column on PostgreSQL: added with 0 for existing tokens, counted, dropped."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from tests.unit.test_oauth_migrations import check_revision_0004

    engine = sa.create_engine(postgres.create_database("grace_migration"), poolclass=NullPool)
    try:
        check_revision_0004(engine)
    finally:
        engine.dispose()
