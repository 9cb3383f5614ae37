"""The verified-token cache and the identity cache: expiry, invalidation, bounds, isolation."""

from __future__ import annotations

import threading
import time

import jwt
import pytest

from superset_mcp_jwt.errors import Reason, TokenError
from superset_mcp_jwt.identity import Identity, IdentityCache
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.tokens import MAX_CACHED_TOKEN_CHARS, TokenVerifier

SECRET = "c" * 40
NOW = 1_800_000_000


def settings(**keys) -> Settings:
    config = {
        "MCP_AUTH_ENABLED": True, "MCP_JWT_SECRET": SECRET, "MCP_JWT_ISSUER": "superset-mcp",
        "MCP_JWT_AUDIENCE": "superset-mcp-clients",
    }
    config.update(keys)
    return Settings.from_config(config)


def token(secret: str = SECRET, **claims) -> str:
    payload = {"sub": "alice", "iss": "superset-mcp", "aud": "superset-mcp-clients", "exp": NOW + 600}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


class SpyAlgorithm:
    def __init__(self, verifier: TokenVerifier) -> None:
        self.calls = 0
        self._real = verifier._algorithm

    def verify(self, *args):
        self.calls += 1
        return self._real.verify(*args)


def test_repeated_token_skips_the_signature_check():
    verifier = TokenVerifier(settings())
    spy = verifier._algorithm = SpyAlgorithm(verifier)
    t = token()
    first = verifier.verify(t, now=NOW)
    again = verifier.verify(t, now=NOW + 1)
    assert again == first and spy.calls == 1


def test_cached_token_still_expires():
    verifier = TokenVerifier(settings())
    t = token()
    verifier.verify(t, now=NOW)
    with pytest.raises(TokenError) as info:
        verifier.verify(t, now=NOW + 600 + 30)  # exp + leeway
    assert info.value.reason is Reason.EXPIRED
    assert info.value.claims["sub"] == "alice"
    assert verifier.verify(t, now=NOW + 600 + 29)["sub"] == "alice"  # inside the leeway


def test_cached_token_still_checks_nbf_and_iat():
    # One token per claim: with both, the nbf check (first) would hide the iat one.
    verifier = TokenVerifier(settings())
    for claim, reason in (("nbf", Reason.NOT_YET_VALID), ("iat", Reason.ISSUED_IN_FUTURE)):
        t = token(**{claim: NOW + 100})
        verifier.verify(t, now=NOW + 100)
        assert verifier.is_cached(t)
        with pytest.raises(TokenError) as info:
            verifier.verify(t, now=NOW + 100 - 31)  # 31 s before it, past the 30 s leeway
        assert info.value.reason is reason, claim
        assert verifier.verify(t, now=NOW + 100 - 30)["sub"] == "alice"  # within the leeway


def test_rejected_tokens_are_not_cached():
    verifier = TokenVerifier(settings())
    for bad in (token(secret="x" * 40), token(iss="evil"), token(exp=NOW - 3600)):
        with pytest.raises(TokenError):
            verifier.verify(bad, now=NOW)
    assert len(verifier._cache) == 0


def test_cache_is_bounded_and_skips_long_tokens():
    verifier = TokenVerifier(settings(MCP_JWT_TOKEN_CACHE_SIZE=3))
    for n in range(5):
        verifier.verify(token(jti=str(n)), now=NOW)
    assert len(verifier._cache) == 3
    long_token = token(pad="p" * MAX_CACHED_TOKEN_CHARS)
    verifier.verify(long_token, now=NOW)
    assert verifier._cache.get(long_token) is None


def test_size_zero_turns_the_cache_off():
    verifier = TokenVerifier(settings(MCP_JWT_TOKEN_CACHE_SIZE=0))
    verifier.verify(token(), now=NOW)
    assert len(verifier._cache) == 0


def test_cache_never_survives_a_secret_rotation():
    old = TokenVerifier(settings())
    t = token()
    old.verify(t, now=NOW)
    rotated = TokenVerifier(settings(MCP_JWT_SECRET="d" * 40))
    with pytest.raises(TokenError) as info:
        rotated.verify(t, now=NOW)
    assert info.value.reason is Reason.BAD_SIGNATURE


def test_cache_never_survives_a_settings_change():
    TokenVerifier(settings()).verify(token(), now=NOW)
    stricter = TokenVerifier(settings(MCP_JWT_AUDIENCE="another-api"))
    with pytest.raises(TokenError) as info:
        stricter.verify(token(), now=NOW)
    assert info.value.reason is Reason.BAD_AUDIENCE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def identity(username: str = "alice", **claims) -> Identity:
    full = {"iss": "superset-mcp", "sub": username, **claims}
    return Identity(user=object(), username=username, claims=full, user_id=7)


def test_identity_cache_remembers_names_not_orm_objects_for_ttl():
    clock = Clock()
    cache = IdentityCache(settings(MCP_JWT_USER_CACHE_SECONDS=5), clock=clock)
    cache.put(identity())
    asked = {"iss": "superset-mcp", "sub": "alice", "jti": "this-request"}
    hit = cache.get(asked)
    assert hit.username == "alice" and hit.user_id == 7 and hit.user is None
    assert hit.claims is asked  # this request's claims, not those of the cached one
    clock.now += 5
    assert cache.get({"iss": "superset-mcp", "sub": "alice"}) is None


def test_identity_cache_keys_on_issuer_and_user_claim():
    cache = IdentityCache(settings(MCP_JWT_USER_CACHE_SECONDS=5), clock=Clock())
    cache.put(identity())
    assert cache.get({"iss": "other-issuer", "sub": "alice"}) is None
    assert cache.get({"iss": "superset-mcp", "sub": "bob"}) is None


@pytest.mark.parametrize(
    "keys",
    [{"MCP_JWT_USER_CACHE_SECONDS": 0}, {"MCP_JWT_USER_RESOLVER": lambda claims, sm: "alice"}],
)
def test_identity_cache_off(keys):
    cache = IdentityCache(settings(**keys), clock=Clock())
    cache.put(identity())
    assert cache.get({"iss": "superset-mcp", "sub": "alice"}) is None


def test_identity_cache_is_bounded():
    cache = IdentityCache(settings(), max_entries=2, clock=Clock())
    for name in ("a", "b", "c"):
        cache.put(identity(name))
    assert cache.get({"iss": "superset-mcp", "sub": "a"}) is None
    assert cache.get({"iss": "superset-mcp", "sub": "c"}).username == "c"


def test_identity_cache_holds_4096_users_by_default():
    cache = IdentityCache(settings(), clock=Clock())
    for n in range(4097):
        cache.put(identity(f"user{n}"))
    assert cache.get({"iss": "superset-mcp", "sub": "user0"}) is None  # the oldest left
    assert cache.get({"iss": "superset-mcp", "sub": "user1"}).username == "user1"


def test_concurrent_verification_keeps_identities_apart():
    verifier = TokenVerifier(settings(MCP_JWT_TOKEN_CACHE_SIZE=8))
    cache = IdentityCache(settings(), clock=time.monotonic)
    names = [f"user{n}" for n in range(32)]
    tokens = {name: token(sub=name) for name in names}
    errors: list[str] = []

    def worker(name: str) -> None:
        for _ in range(200):
            claims = verifier.verify(tokens[name], now=NOW)
            hit = cache.get(claims)
            if hit is None:
                cache.put(Identity(user=None, username=claims["sub"], claims=claims))
            elif hit.username != name:
                errors.append(f"{name} saw {hit.username}")
            if claims["sub"] != name:
                errors.append(f"{name} got claims of {claims['sub']}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(verifier._cache) <= 8


def test_callers_cannot_change_what_the_next_request_sees():
    verifier = TokenVerifier(settings())
    t = token(scp=["mcp:read"], realm_access={"roles": ["x"]})
    first = verifier.verify(t, now=NOW)
    first["sub"] = "admin"
    del first["exp"]
    with pytest.raises(AttributeError):  # a tuple: no append
        first["scp"].append("mcp:all")
    with pytest.raises(TypeError):
        first["realm_access"]["roles"] = ["admin"]
    again = verifier.verify(t, now=NOW)
    assert again["sub"] == "alice" and again["exp"] == NOW + 600 and again["scp"] == ("mcp:read",)
