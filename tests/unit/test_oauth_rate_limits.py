"""RateLimits: per-address counting in Flask-Limiter's engine (the limits package)."""

from __future__ import annotations

import socket

import pytest

from superset_mcp_jwt.oauth.rate_limits import LimiterUnavailable, RateLimits


def test_requests_within_the_limit_pass_and_the_next_waits_for_its_window() -> None:
    limits = RateLimits({"token": "3 per hour"})
    assert [limits.hit("token", "203.0.113.1") for _ in range(3)] == [None] * 3
    retry_after = limits.hit("token", "203.0.113.1")
    assert retry_after is not None and 3590 <= retry_after <= 3600
    assert limits.hit("token", "203.0.113.1") is not None  # still refused, still counted


def test_addresses_and_groups_are_counted_apart() -> None:
    limits = RateLimits({"token": "1 per hour", "registration": "1 per hour"})
    assert limits.hit("token", "203.0.113.1") is None
    assert limits.hit("token", "203.0.113.2") is None
    assert limits.hit("registration", "203.0.113.1") is None
    assert limits.hit("token", "203.0.113.1") is not None
    assert limits.hit("unlisted", "203.0.113.1") is None  # a group without a limit is never refused


def test_every_limit_of_a_group_holds() -> None:
    limits = RateLimits({"token": "100 per hour; 2 per minute"})
    assert limits.hit("token", "a") is None and limits.hit("token", "a") is None
    assert 1 <= limits.hit("token", "a") <= 60  # the minute's limit, not the hour's


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    limits = RateLimits({"token": "1 per second"}, clock=lambda: 1e12)  # a clock past any window's end
    limits.hit("token", "a")
    assert limits.hit("token", "a") == 1


@pytest.mark.parametrize("strategy", ["fixed-window", "moving-window", "sliding-window-counter"])
def test_superset_strategies_are_usable(strategy: str) -> None:
    limits = RateLimits({"token": "1 per minute"}, strategy=strategy)
    assert limits.hit("token", "a") is None and limits.hit("token", "a") is not None


def test_a_failing_storage_is_limiter_unavailable_naming_only_the_error_class() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    limits = RateLimits({"token": "5 per minute"}, f"redis://:hunter2@127.0.0.1:{port}/0",
                        {"socket_connect_timeout": 1})
    with pytest.raises(LimiterUnavailable) as raised:
        limits.hit("token", "a")
    assert str(raised.value) == "ConnectionError" and "hunter2" not in str(raised.value)
