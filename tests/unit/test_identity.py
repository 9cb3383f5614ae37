"""resolve_identity: verified claims to an active user, through a fake security manager."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import pytest

from superset_mcp_jwt.errors import Reason, TokenError
from superset_mcp_jwt.identity import Identity, resolve_identity
from superset_mcp_jwt.settings import Settings

CONFIG = {
    "MCP_AUTH_ENABLED": True,
    "MCP_JWT_ALGORITHM": "HS256",
    "MCP_JWT_SECRET": "vU3Tq0h8kXw1s9bYpL2mZr7cN5aJ4eFgHdKiOoQtRsE",
    "MCP_JWT_ISSUER": "superset-mcp",
    "MCP_JWT_AUDIENCE": "superset-mcp-clients",
}


@dataclass
class User:
    username: str
    email: Optional[str] = None
    is_active: bool = True


class FakeSecurityManager:
    """Just FAB's ``find_user(username=None, email=None)``, recording its calls."""

    def __init__(self, *users: User) -> None:
        self.users = {u.username: u for u in users}
        self.calls: list[tuple[Optional[str], Optional[str]]] = []

    def find_user(self, username=None, email=None):
        self.calls.append((username, email))
        if username is not None:
            return self.users.get(username)
        if email is not None:
            return next((u for u in self.users.values() if u.email == email), None)
        return None


ALICE = User("alice", "alice@example.com")
BOB = User("bob", "bob@example.com")
MALLORY = User("mallory", "mallory@example.com", is_active=False)


def settings(**overrides) -> Settings:
    return Settings.from_config({**CONFIG, **overrides})


@pytest.fixture
def sm() -> FakeSecurityManager:
    return FakeSecurityManager(ALICE, BOB, MALLORY)


def claims(sub: str, **extra):
    return {"sub": sub, "iss": "superset-mcp", "aud": "superset-mcp-clients",
            "exp": 2_000_000_000, **extra}


def reject(c, s, sm) -> TokenError:
    with pytest.raises(TokenError) as info:
        resolve_identity(c, s, sm)
    return info.value


# --------------------------------------------------------------------------- default lookup


def test_found_by_username(sm):
    c = claims("alice")
    identity = resolve_identity(c, settings(), sm)
    assert isinstance(identity, Identity)
    assert identity.user is ALICE
    assert identity.username == "alice"
    assert identity.claims is c
    assert sm.calls == [("alice", None)]


def test_email_fallback_when_claim_contains_at(sm):
    identity = resolve_identity(claims("bob@example.com"), settings(), sm)
    assert identity.user is BOB
    assert identity.username == "bob"
    assert sm.calls == [("bob@example.com", None), (None, "bob@example.com")]


def test_username_match_wins_over_email(sm):
    # A user whose user name looks like someone else's email address.
    odd = User("bob@example.com", "odd@example.com")
    sm.users[odd.username] = odd
    assert resolve_identity(claims("bob@example.com"), settings(), sm).user is odd


def test_no_email_fallback_when_disabled(sm):
    error = reject(claims("bob@example.com"), settings(MCP_JWT_EMAIL_FALLBACK=False), sm)
    assert error.reason is Reason.UNKNOWN_USER
    assert all(email is None for _, email in sm.calls)


def test_no_email_lookup_without_at(sm):
    # Found if the claim were (wrongly) looked up as an email address.
    sm.users["carol-x"] = User("carol-x", email="carol-y")
    error = reject(claims("carol-y"), settings(), sm)
    assert error.reason is Reason.UNKNOWN_USER
    assert sm.calls == [("carol-y", None)]


def test_custom_user_claim(sm):
    s = settings(MCP_JWT_USER_CLAIM="preferred_username")
    identity = resolve_identity(claims("svc-123", preferred_username="alice"), s, sm)
    assert identity.user is ALICE


def test_unknown_user(sm):
    error = reject(claims("nobody"), settings(), sm)
    assert error.reason is Reason.UNKNOWN_USER


def test_unknown_email(sm):
    error = reject(claims("nobody@example.com"), settings(), sm)
    assert error.reason is Reason.UNKNOWN_USER


def test_inactive_user(sm):
    error = reject(claims("mallory"), settings(), sm)
    assert error.reason is Reason.INACTIVE_USER


def test_inactive_user_by_email(sm):
    error = reject(claims("mallory@example.com"), settings(), sm)
    assert error.reason is Reason.INACTIVE_USER


def test_user_without_is_active_is_refused():
    class Bare:
        username = "bare"

    sm = FakeSecurityManager()
    sm.users["bare"] = Bare()
    assert reject(claims("bare"), settings(), sm).reason is Reason.INACTIVE_USER


# --------------------------------------------------------------------------- custom resolver


def test_resolver_returning_a_username(sm):
    seen = []

    def resolver(c, security_manager):
        seen.append((c, security_manager))
        return "alice"

    c = claims("service-account-7")
    identity = resolve_identity(c, settings(MCP_JWT_USER_RESOLVER=resolver), sm)
    assert identity.user is ALICE
    assert identity.username == "alice"
    assert seen == [(c, sm)]


def test_resolver_returning_a_user_object(sm):
    outsider = User("outsider")  # not known to the security manager
    s = settings(MCP_JWT_USER_RESOLVER=lambda c, m: outsider)
    identity = resolve_identity(claims("x"), s, sm)
    assert identity.user is outsider
    assert identity.username == "outsider"


def test_resolver_returning_none_denies(sm):
    # "alice" exists, but the resolver has the last word.
    s = settings(MCP_JWT_USER_RESOLVER=lambda c, m: None)
    assert reject(claims("alice"), s, sm).reason is Reason.UNKNOWN_USER


def test_resolver_returning_an_unknown_username(sm):
    s = settings(MCP_JWT_USER_RESOLVER=lambda c, m: "ghost")
    assert reject(claims("alice"), s, sm).reason is Reason.UNKNOWN_USER


def test_resolver_returning_an_inactive_user(sm):
    s = settings(MCP_JWT_USER_RESOLVER=lambda c, m: MALLORY)
    assert reject(claims("alice"), s, sm).reason is Reason.INACTIVE_USER


def test_resolver_result_is_not_looked_up_by_email(sm):
    s = settings(MCP_JWT_USER_RESOLVER=lambda c, m: "bob@example.com")
    assert reject(claims("x"), s, sm).reason is Reason.UNKNOWN_USER
    assert sm.calls == [("bob@example.com", None)]


def test_resolver_returning_false_denies(sm):
    s = settings(MCP_JWT_USER_RESOLVER=lambda c, m: False)
    assert reject(claims("alice"), s, sm).reason in (Reason.UNKNOWN_USER, Reason.INACTIVE_USER)


class ResolverBoom(RuntimeError):
    pass


def _raising_resolver(c, m):
    raise ResolverBoom("db password is hunter2")


def test_resolver_raising_is_resolver_failed_and_message_not_logged(sm, caplog):
    s = settings(MCP_JWT_USER_RESOLVER=_raising_resolver)
    with caplog.at_level(logging.DEBUG, logger="superset_mcp_jwt"):
        error = reject(claims("alice"), s, sm)
    assert error.reason is Reason.RESOLVER_FAILED
    assert error.__cause__ is None and error.__suppress_context__
    assert "hunter2" not in error.detail
    assert "hunter2" not in caplog.text
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "ResolverBoom" in errors[0].getMessage()
    assert not errors[0].exc_info


def test_resolver_traceback_is_logged_only_with_debug_errors(sm, caplog):
    s = settings(MCP_JWT_USER_RESOLVER=_raising_resolver, MCP_JWT_DEBUG_ERRORS=True)
    with caplog.at_level(logging.DEBUG, logger="superset_mcp_jwt"):
        assert reject(claims("alice"), s, sm).reason is Reason.RESOLVER_FAILED
    assert "hunter2" in caplog.text  # the contrast with the default above


# --------------------------------------------------------------------------- what a rejection carries


@dataclass
class NumberedUser:
    username: str
    id: int
    is_active: bool = True


def test_identity_carries_the_users_id(sm):
    sm.users["dora"] = NumberedUser("dora", id=42)
    assert resolve_identity(claims("dora"), settings(), sm).user_id == 42
    assert resolve_identity(claims("alice"), settings(), sm).user_id is None  # a user without id


@pytest.mark.parametrize(
    "c, s_overrides, reason, detail",
    [
        (claims("nobody"), {}, Reason.UNKNOWN_USER, "no Superset user for claim 'sub' = 'nobody'"),
        (claims("x", upn="ghost"), {"MCP_JWT_USER_CLAIM": "upn"}, Reason.UNKNOWN_USER,
         "no Superset user for claim 'upn' = 'ghost'"),
        (claims("mallory"), {}, Reason.INACTIVE_USER, "user 'mallory' is inactive"),
        (claims("alice"), {"MCP_JWT_USER_RESOLVER": lambda c, m: None}, Reason.UNKNOWN_USER,
         "no Superset user for MCP_JWT_USER_RESOLVER = 'alice'"),
        (claims("alice"), {"MCP_JWT_USER_RESOLVER": _raising_resolver}, Reason.RESOLVER_FAILED,
         "the user resolver raised"),
        (claims("alice"), {"MCP_JWT_USER_RESOLVER": lambda c, m: 42}, Reason.RESOLVER_FAILED,
         "the user resolver returned no user"),
    ],
    ids=["unknown", "unknown-custom-claim", "inactive", "resolver-none", "resolver-raised",
         "resolver-returned-an-int"],
)
def test_rejection_detail_and_claims(sm, c, s_overrides, reason, detail):
    # The detail is what `mcp-jwt check` and the debug log show an operator; the
    # claims let the audit line say whose token it was.
    error = reject(c, settings(**s_overrides), sm)
    assert error.reason is reason
    assert error.detail == detail
    assert error.claims == c and error.claims is not c


@pytest.mark.parametrize("value", [42, object(), ["alice"], True])
def test_resolver_returning_something_else_is_refused_and_logged(sm, caplog, value):
    s = settings(MCP_JWT_USER_RESOLVER=lambda c, m: value)
    with caplog.at_level(logging.DEBUG, logger="superset_mcp_jwt"):
        assert reject(claims("alice"), s, sm).reason is Reason.RESOLVER_FAILED
    assert sm.calls == []  # nothing looked up
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"MCP_JWT_USER_RESOLVER returned a {type(value).__name__}, not a user, user name "
        "or None; the request is denied"
    ]


def test_resolver_exception_is_logged_by_class_name(sm, caplog):
    s = settings(MCP_JWT_USER_RESOLVER=_raising_resolver)
    with caplog.at_level(logging.DEBUG, logger="superset_mcp_jwt"):
        reject(claims("alice"), s, sm)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["MCP_JWT_USER_RESOLVER raised ResolverBoom; the request is denied"]
