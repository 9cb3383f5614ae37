"""MCPJWTManager.authenticate and its fast path, on a real FAB security manager."""

from __future__ import annotations

import time

import pytest

from superset_mcp_jwt import TokenError, get_manager


@pytest.fixture
def manager(app):
    manager = get_manager(app)
    manager.records = []
    manager.action_log = lambda user_id, record: manager.records.append((user_id, record))
    return manager


def bearer(token):
    return [f"Bearer {token}"]


def test_action_log_gets_first_use_not_every_request(app, manager, mint):
    token = mint("alice", jti="j1")
    for _ in range(3):
        manager.authenticate(bearer(token), app.appbuilder.sm)
    assert [r["outcome"] for _, r in manager.records] == ["accepted"]
    user_id, record = manager.records[0]
    assert record == {"outcome": "accepted", "user": "alice", "jti": "j1", "client": "-"}
    assert user_id == app.appbuilder.sm.find_user(username="alice").id


def test_action_log_gets_a_signed_rejection_once_and_never_junk(app, manager, mint):
    expired = mint("alice", jti="j2", exp=int(time.time()) - 3600)
    forged = mint("alice", secret="f" * 40)
    for token in (expired, expired, forged, "junk"):
        with pytest.raises(TokenError):
            manager.authenticate(bearer(token), app.appbuilder.sm)
    assert [r for _, r in manager.records] == [
        {"outcome": "rejected", "reason": "expired", "jti": "j2", "client": "-"}
    ]


def test_fast_path_answers_only_repeated_tokens_with_cached_users(app, manager, mint):
    token = mint("alice")
    assert manager.authenticate_from_cache(bearer(token)) is None  # never seen
    manager.authenticate(bearer(token), app.appbuilder.sm, need_user=False)
    fast = manager.authenticate_from_cache(bearer(token))
    assert fast.username == "alice" and fast.user is None


def test_fast_path_answers_a_first_seen_token_of_a_cached_user_and_logs_it_once(app, manager, mint):
    manager.authenticate(bearer(mint("alice", jti="a")), app.appbuilder.sm, need_user=False)
    fresh = mint("alice", jti="b")
    assert manager.authenticate_from_cache(bearer(fresh)).username == "alice"
    manager.authenticate_from_cache(bearer(fresh))
    assert [r["jti"] for _, r in manager.records] == ["a", "b"]


def test_a_first_seen_token_the_fast_path_passes_on_is_still_logged(app, manager, mint):
    token = mint("alice", jti="c")
    assert manager.authenticate_from_cache(bearer(token)) is None  # alice is not cached yet
    manager.authenticate(bearer(token), app.appbuilder.sm, need_user=False)
    assert [r["jti"] for _, r in manager.records] == ["c"]


def test_fast_path_leaves_rejections_to_the_full_path(app, manager, mint):
    assert manager.authenticate_from_cache(bearer(mint("nobody"))) is None
    assert manager.authenticate_from_cache(["Basic abc"]) is None
    assert manager.records == []


def test_need_user_true_always_returns_an_orm_user(app, manager, mint):
    token = mint("admin")
    manager.authenticate(bearer(token), app.appbuilder.sm, need_user=False)
    identity = manager.authenticate(bearer(token), app.appbuilder.sm)
    assert identity.user is not None and identity.user.username == "admin"


def test_auth_factory_failure_stops_the_mcp_server_instead_of_serving_open(caplog):
    """Superset 6.1.0 swallows any Exception from MCP_AUTH_FACTORY and serves with no auth."""
    from flask import Flask

    from superset_mcp_jwt.superset_compat import create_auth_provider

    with pytest.raises(SystemExit) as info:
        create_auth_provider(Flask("without_the_extension"))
    assert not isinstance(info.value, Exception)
    assert "refusing to serve MCP without authentication" in caplog.text


def test_auth_factory_builds_the_provider(app):
    from superset_mcp_jwt.mcp_server import MCPJWTAuthProvider
    from superset_mcp_jwt.superset_compat import create_auth_provider

    assert isinstance(create_auth_provider(app), MCPJWTAuthProvider)
