"""A flood from one address is held to its limit, across replicas sharing Superset's rate-limit
storage (a real redis-server), and each refused request says when to come back (429, Retry-After).

Two apps play two web replicas: each has its own Flask-Limiter-engine counters
in one Redis (``RATELIMIT_STORAGE_URI``), as Superset's replicas would.
"""

from __future__ import annotations

from itertools import cycle
from typing import Any, Iterator

import pytest
from flask import Flask

from superset_mcp_jwt.registry import get_manager
from tests.flask_app.test_oauth_views import REDIRECT, make_oauth_app
from tests.superset.test_revocation_replicas import redis_url  # noqa: F401  (a real redis-server)


@pytest.fixture(scope="module")
def replicas(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> list[Flask]:
    config = dict(RATELIMIT_STORAGE_URI=redis_url, MCP_OAUTH_RATE_LIMIT_REGISTRATION="5 per hour",
                  MCP_OAUTH_RATE_LIMIT_TOKEN="10 per hour")
    return [make_oauth_app(tmp_path_factory.mktemp(f"replica-{n}"), **config) for n in range(2)]


def clients(replicas: list[Flask], address: str) -> Iterator[Any]:
    """Test clients of both replicas, taking turns, all from ``address``."""
    made = []
    for app in replicas:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        made.append(client)
    return cycle(made)


def registered(replicas: list[Flask]) -> int:
    return sum(get_manager(app).oauth.store.count_clients("dcr") for app in replicas)


def test_a_registration_flood_is_held_to_the_limit_across_replicas(replicas: list[Flask]) -> None:
    before = registered(replicas)
    turns = clients(replicas, "203.0.113.50")
    answers = [next(turns).post("/oauth/mcp/register", json={"redirect_uris": [REDIRECT]}) for _ in range(30)]
    assert [a.status_code for a in answers] == [201] * 5 + [429] * 25
    assert registered(replicas) - before == 5  # the flood wrote five rows, no more
    for answer in answers[5:]:
        assert 1 <= int(answer.headers["Retry-After"]) <= 3600
        assert answer.get_json()["error"] == "temporarily_unavailable"
    # Another address is not held back by this one's flood, on either replica.
    others = clients(replicas, "203.0.113.51")
    assert [next(others).post("/oauth/mcp/register", json={"redirect_uris": [REDIRECT]}).status_code
            for _ in range(2)] == [201, 201]


def test_a_token_endpoint_flood_is_held_to_the_limit_across_replicas(replicas: list[Flask]) -> None:
    turns = clients(replicas, "203.0.113.60")
    statuses = [next(turns).post("/oauth/mcp/token", data={"grant_type": "refresh_token", "client_id": "x",
                                                          "refresh_token": "guess"}).status_code
                for _ in range(25)]
    assert statuses[:10] == [400] * 10 and statuses[10:] == [429] * 15
