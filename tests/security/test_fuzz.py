"""Property-based fuzzing of the core with Hypothesis.

Starting from genuine tokens signed with the real secret, the properties mutate
bytes anywhere in the token, rewrite the claims or the header and re-sign them
with a wrong key or with the right one, and throw arbitrary bytes at the JSON
parsers. Two properties hold for every input:

1. ``TokenVerifier.verify`` returns claims or raises ``TokenError`` -- never
   any other exception;
2. if it accepts a token, this test signed exactly that token with the real
   secret (``SIGNED`` holds every one): nothing else is ever accepted.

Where the test signs a token itself with the real secret, an independent oracle
written from the documented rules (docs/reference/errors.md) predicts acceptance, and must agree.

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (the default, 1,000 examples per
property, derandomized: about a minute in all on a busy 2-core machine) and
``long`` (100,000 per property, randomized: to explore)::

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/security/test_fuzz.py -q

At the end of the module a summary line is printed:
``fuzz: N tokens tried, M forgeries accepted``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections import Counter
from typing import Any, Iterator, Mapping, Optional

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from superset_mcp_jwt.errors import Reason, TokenError
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.tokens import TokenVerifier, bearer_token

from .conftest import ATTACKER, AUDIENCE, ISSUER, LEEWAY

settings.register_profile(
    "ci",
    max_examples=1_000,
    deadline=None,
    derandomize=True,  # the same examples every run: CI is reproducible; "long" explores
    database=None,  # nothing written to the work tree; failures print a reproduce blob
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
settings.register_profile(
    "long", parent=settings.get_profile("ci"), max_examples=100_000, derandomize=False
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)

SECRET = b"fuzz-Real-Secret_3c9a1e7f5b2d4086a9c1e3f5b7d9024681357"
WRONG_KEYS = [
    SECRET + b"x",
    SECRET[:-1],
    SECRET.upper(),
    b"",
    b"\x00" * 32,
    base64.urlsafe_b64encode(SECRET),
    ATTACKER.oct_secret,
    ATTACKER.rsa_public_pem,
    ATTACKER.ec_public_jwk.encode(),
]
NOW = 1_700_000_000
ACCEPTED_TYP = {"jwt", "at+jwt", "application/jwt", "application/at+jwt"}

VERIFIER = TokenVerifier(
    Settings.from_config(
        {
            "MCP_AUTH_ENABLED": True,
            "MCP_JWT_ALGORITHM": "HS256",
            "MCP_JWT_SECRET": SECRET,
            "MCP_JWT_ISSUER": ISSUER,
            "MCP_JWT_AUDIENCE": AUDIENCE,
            "MCP_JWT_LEEWAY": LEEWAY,
        }
    )
)

#: Every token this module signed with the real secret, and their signing inputs.
SIGNED: set[str] = set()
SIGNED_INPUTS: set[str] = set()
STATS: Counter = Counter()


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def mac(signing_input: str, key: bytes) -> str:
    return b64(hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest())


def sign_real(header: bytes, payload: bytes) -> str:
    """Sign exactly these header/payload bytes with the real secret; remember it."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    token = f"{signing_input}.{mac(signing_input, SECRET)}"
    SIGNED.add(token)
    SIGNED_INPUTS.add(signing_input)
    return token


def sign_with(header: bytes, payload: bytes, key: bytes) -> str:
    signing_input = f"{b64(header)}.{b64(payload)}"
    return f"{signing_input}.{mac(signing_input, key)}"


def attempt(token: str, now: float = NOW) -> Optional[dict[str, Any]]:
    """verify(token): the claims, or None for a TokenError. Anything else fails the
    property (it propagates), and so does accepting a token we did not sign."""
    STATS["tried"] += 1
    try:
        claims = VERIFIER.verify(token, now=now)
    except TokenError as error:
        assert isinstance(error.reason, Reason)
        event(f"rejected: {error.reason.code}")
        return None
    STATS["accepted"] += 1
    event("accepted")
    if token not in SIGNED:
        STATS["forgeries"] += 1
        raise AssertionError(f"FORGERY ACCEPTED: {token!r}")
    assert token.rsplit(".", 1)[0] in SIGNED_INPUTS
    assert isinstance(claims, Mapping)
    return dict(claims)


@pytest.fixture(scope="module", autouse=True)
def fuzz_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.perf_counter()
    yield
    line = (
        f"fuzz: {STATS['tried']} tokens tried, {STATS['forgeries']} forgeries accepted "
        f"({STATS['accepted']} genuine tokens accepted; profile {PROFILE}, "
        f"{time.perf_counter() - started:.1f}s)"
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover
        print(line)
        return
    with capture.global_and_fixture_disabled():  # past pytest's output capture
        reporter.write("\n" + line + "\n")


# --------------------------------------------------------------------------- oracle


def plain(value: Any) -> Any:
    """Claims as plain JSON data: the verifier may hand nested arrays and objects
    back as read-only tuples and mappings."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def numeric_date(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 2**53


def header_ok(header: Any) -> bool:
    """docs/reference/errors.md: alg equals MCP_JWT_ALGORITHM; no crit/b64; typ, if present, is JWT."""
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return False
    if "crit" in header or "b64" in header:
        return False
    typ = header.get("typ")
    typ_ok = typ is None or (isinstance(typ, str) and typ.lower() in ACCEPTED_TYP)
    return typ_ok and unicode_text(header)


def claims_ok(claims: Any, now: float) -> bool:
    """docs/reference/errors.md: exp/iss/aud/sub required; exp/nbf/iat NumericDates checked with the
    leeway; iss equal; aud (string or list of strings) contains ours; sub a
    non-empty string; jti, if present, a string."""
    if not isinstance(claims, dict):
        return False
    if any(name not in claims for name in ("exp", "iss", "aud", "sub")):
        return False
    if any(name in claims and not numeric_date(claims[name]) for name in ("exp", "nbf", "iat")):
        return False
    if "jti" in claims and not isinstance(claims["jti"], str):
        return False
    if not now < claims["exp"] + LEEWAY:
        return False
    if "nbf" in claims and not claims["nbf"] <= now + LEEWAY:
        return False
    if "iat" in claims and not claims["iat"] <= now + LEEWAY:
        return False
    if not (isinstance(claims["iss"], str) and claims["iss"] == ISSUER):
        return False
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else aud
    if not (isinstance(audiences, list) and all(isinstance(a, str) for a in audiences)):
        return False
    if AUDIENCE not in audiences:
        return False
    sub = claims["sub"]
    return isinstance(sub, str) and sub.strip() != "" and unicode_text(claims)


def unicode_text(value: Any) -> bool:
    """RFC 8725 §3.7: every string (keys included) is Unicode text, no lone surrogate."""
    if isinstance(value, str):
        return not any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return all(unicode_text(k) and unicode_text(v) for k, v in value.items())
    if isinstance(value, list):
        return all(unicode_text(v) for v in value)
    return True


# --------------------------------------------------------------------------- strategies

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)


def json_containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    )


json_values = st.recursive(json_scalars, json_containers, max_leaves=5)
times = st.one_of(
    st.integers(NOW - 120, NOW + 120),
    st.floats(NOW - 120, NOW + 120),
    st.sampled_from(
        [NOW - LEEWAY, NOW - LEEWAY - 1, NOW - LEEWAY + 1, NOW + LEEWAY, NOW + LEEWAY + 1,
         NOW + LEEWAY - 1, NOW + 3600, 0, -1, 2**53, 2**53 - 1, -(2**53) + 1, 1e300, True, False]
    ),
    json_values,
)
CLAIMS = {
    "sub": st.one_of(st.sampled_from(["alice", "admin", "", " ", "\t\n", "\u00a0"]), st.text(max_size=10), json_values),
    "iss": st.one_of(st.sampled_from([ISSUER, "Superset-MCP", ISSUER + " ", "", "x" + ISSUER]), json_values),
    "aud": st.one_of(
        st.sampled_from([AUDIENCE, [AUDIENCE], ["other", AUDIENCE], [], ["other"], [AUDIENCE, 1], AUDIENCE.upper()]),
        st.lists(st.sampled_from([AUDIENCE, "other", ""]), max_size=3),
        json_values,
    ),
    "exp": times,
    "nbf": times,
    "iat": times,
    "jti": st.one_of(st.text(max_size=8), json_values),
}
BASE_CLAIMS = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": NOW + 3600}


@st.composite
def claim_sets(draw: Any) -> dict[str, Any]:
    """Near-valid claims: each claim kept (usually), replaced by a random value, or dropped;
    plus random extra claims."""
    result: dict[str, Any] = {}
    for name, strategy in CLAIMS.items():
        action = draw(st.sampled_from(["keep"] * 6 + ["replace"] * 3 + ["drop"]))
        if action == "keep" and name in BASE_CLAIMS:
            result[name] = BASE_CLAIMS[name]
        elif action == "replace":
            result[name] = draw(strategy)
    extra = draw(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in CLAIMS), json_values, max_size=3))
    result.update(extra)
    return result


def json_bytes(value: Any, draw: Any) -> bytes:
    return json.dumps(
        value,
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([None, (",", ":"), (", ", ": ")])),
        sort_keys=draw(st.booleans()),
    ).encode("utf-8")


OPTIONAL_HEADER_PARAMS = {
    "typ": st.one_of(
        st.sampled_from(["JWT", "jwt", "at+jwt", "application/at+JWT", "JOSE", "secevent+jwt", "", None]),
        json_values,
    ),
    "kid": st.one_of(st.sampled_from(["../../dev/null", "' OR 1=1 --", "k1"]), json_values),
    "jku": st.sampled_from(["https://attacker.invalid/jwks.json", "file:///etc/passwd"]),
    "x5u": st.just("https://attacker.invalid/cert.pem"),
    "jwk": st.just({"kty": "oct", "k": b64(ATTACKER.oct_secret)}),
    "crit": st.one_of(st.just(["exp"]), st.just([]), json_values),
    "b64": st.one_of(st.booleans(), json_values),
    "zip": st.just("DEF"),
    "cty": st.one_of(st.just("JWT"), json_values),
}


@st.composite
def headers(draw: Any) -> dict[str, Any]:
    header: dict[str, Any] = {}
    alg = draw(
        st.one_of(
            st.just("HS256"),
            st.sampled_from(["HS384", "HS512", "none", "None", "NONE", "RS256", "ES256", "PS256",
                             "EdDSA", "hs256", "HS256 ", " HS256", "", "HS256\x00"]),
            json_values,
            st.just(...),
        )
    )
    if alg is not ...:
        header["alg"] = alg
    for name, strategy in OPTIONAL_HEADER_PARAMS.items():
        if draw(st.integers(0, 3)) == 0:
            header[name] = draw(strategy)
    header.update(draw(st.dictionaries(st.text(max_size=6).filter(lambda k: k not in OPTIONAL_HEADER_PARAMS and k != "alg"),
                                       json_values, max_size=2)))
    return header


def genuine_pool() -> list[str]:
    """Genuine tokens of several shapes, all valid at NOW."""
    shapes = [
        ({"alg": "HS256", "typ": "JWT"}, BASE_CLAIMS),
        ({"alg": "HS256"}, BASE_CLAIMS | {"iat": NOW, "jti": "abc"}),
        ({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}, BASE_CLAIMS | {"nbf": NOW - 10}),
        ({"alg": "HS256", "typ": "JWT"}, BASE_CLAIMS | {"sub": "admin", "aud": ["x", AUDIENCE]}),
        ({"alg": "HS256", "typ": "JWT"}, BASE_CLAIMS | {"scope": "mcp:read", "email": "a@example.com"}),
        ({"typ": "JWT", "alg": "HS256"}, BASE_CLAIMS | {"exp": NOW + 0.5, "name": "Al\u00efce \u2603"}),
    ]
    pool = [sign_real(json.dumps(h).encode(), json.dumps(c).encode()) for h, c in shapes]
    for token in pool:
        assert VERIFIER.verify(token, now=NOW)  # the pool itself is valid
    return pool


POOL = genuine_pool()

mutation_chars = st.one_of(
    st.sampled_from(list(B64URL + ".=+/ \t\n\x00")),
    st.characters(),
)
mutations = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)),
        st.tuples(st.just("replace"), st.integers(0, 10_000), mutation_chars),
        st.tuples(st.just("insert"), st.integers(0, 10_000), mutation_chars),
        st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 8)),
    ),
    min_size=0,
    max_size=6,
)


def mutate(token: str, ops: list[tuple[str, int, Any]]) -> str:
    chars = list(token)
    for kind, position, arg in ops:
        if kind == "insert":
            chars.insert(position % (len(chars) + 1), arg)
            continue
        if not chars:
            continue
        i = position % len(chars)
        if kind == "flip":
            chars[i] = chr(ord(chars[i]) ^ (1 << arg))
        elif kind == "replace":
            chars[i] = arg
        else:
            del chars[i : i + arg]
    return "".join(chars)


# --------------------------------------------------------------------------- properties


@given(base=st.sampled_from(POOL), ops=mutations)
def test_byte_mutations_of_genuine_tokens(base: str, ops: list) -> None:
    """Flip, replace, insert or delete characters anywhere in a genuine token."""
    token = mutate(base, ops)
    note(f"token={token!r}")
    claims = attempt(token)
    if claims is not None:
        event("mutation left a genuine token")


@given(parts=st.tuples(*[st.sampled_from(POOL)] * 3), index=st.tuples(*[st.integers(0, 2)] * 3))
def test_segments_spliced_between_genuine_tokens(parts: tuple, index: tuple) -> None:
    """Header, payload and signature each taken from any part of any genuine token."""
    token = ".".join(p.split(".")[i] for p, i in zip(parts, index))
    attempt(token)


@given(
    data=st.data(),
    claims=claim_sets(),
    header=st.one_of(st.just({"alg": "HS256", "typ": "JWT"}), st.just({"alg": "HS256"}), headers()),
)
def test_claims_and_headers_resigned_with_a_wrong_key_are_always_rejected(data: Any, claims: dict, header: dict) -> None:
    """Any header and claims (mostly with the configured alg, so that the MAC check is
    what decides), MACed with any key but the real one: always rejected."""
    key = data.draw(st.one_of(st.sampled_from(WRONG_KEYS), st.binary(max_size=80)).filter(lambda k: k != SECRET))
    token = sign_with(json_bytes(header, data.draw), json_bytes(claims, data.draw), key)
    assert attempt(token) is None


@given(data=st.data(), claims=claim_sets(), now=st.one_of(st.just(NOW), st.integers(NOW - 200, NOW + 200), st.floats(NOW - 200, NOW + 200)))
def test_claims_resigned_with_the_real_key_follow_the_claim_rules(data: Any, claims: dict, now: float) -> None:
    """Random claims MACed with the real secret: accepted exactly when the documented
    claim rules say so, and then the claims come back unchanged."""
    payload = json_bytes(claims, data.draw)
    token = sign_real(json.dumps({"alg": "HS256", "typ": "JWT"}).encode(), payload)
    note(f"claims={claims!r} now={now!r}")
    result = attempt(token, now=now)
    expected = claims_ok(json.loads(payload), now)
    assert (result is not None) == expected, f"verify {'accepted' if result else 'rejected'}, oracle says {expected}"
    if result is not None:
        assert plain(result) == json.loads(payload)


@given(data=st.data(), header=headers())
def test_random_headers_signed_with_the_real_key_follow_the_header_rules(data: Any, header: dict) -> None:
    """Random JOSE headers (alg, typ, kid, jku, x5u, jwk, crit, b64, zip...) on valid
    claims, MACed with the real secret: accepted exactly when the header rules allow."""
    raw = json_bytes(header, data.draw)
    duplicate = data.draw(st.sampled_from([None, None, *sorted(header)])) if header else None
    if duplicate is not None:
        # Repeat a key (a parser-differential trick): must be refused outright.
        raw = raw[:-1] + b', "' + duplicate.encode() + b'": "HS256"}'
    token = sign_real(raw, json.dumps(BASE_CLAIMS).encode())
    note(f"header={raw!r}")
    result = attempt(token)
    expected = duplicate is None and header_ok(header)
    assert (result is not None) == expected


json_like_text = st.text(alphabet='{}[]":,0123456789.eE+-tfnrulsa\\ uU\x00\u00e9\ud7ff', max_size=80)


@st.composite
def raw_parts(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["binary", "json_like", "nesting", "mutated_json"]))
    if kind == "binary":
        return draw(st.binary(max_size=300))
    if kind == "json_like":
        return draw(json_like_text).encode("utf-8", "surrogatepass")
    if kind == "nesting":
        depth = draw(st.integers(1, 3000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return (opener * depth + "1" + closer * depth).encode()
    text = bytearray(json.dumps(BASE_CLAIMS).encode())
    for position, value in draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4)):
        text[position % len(text)] = value
    return bytes(text)


@given(header=st.one_of(raw_parts(), st.just(b'{"alg":"HS256"}')), payload=raw_parts())
def test_arbitrary_bytes_as_header_and_payload_signed_with_the_real_key(header: bytes, payload: bytes) -> None:
    """The JSON layer under fire: any bytes at all, correctly MACed with the real secret."""
    token = sign_real(header, payload)
    claims = attempt(token)
    if claims is not None:
        assert plain(claims) == json.loads(payload.decode("utf-8"))


@given(token=st.one_of(st.text(max_size=200), st.from_regex(r"[A-Za-z0-9_=+/.-]{0,120}", fullmatch=True)))
def test_arbitrary_strings_as_tokens(token: str) -> None:
    """Any string at all as the token."""
    attempt(token)


@given(values=st.lists(st.one_of(st.text(max_size=40), st.builds(lambda s, t: f"{s} {t}",
                       st.sampled_from(["Bearer", "bearer", "Basic", "BEARER", "Bearer "]), st.text(max_size=30))),
                       max_size=3))
def test_bearer_token_on_arbitrary_header_values(values: list[str]) -> None:
    """bearer_token returns one whitespace-free token from exactly one Bearer header,
    or raises TokenError."""
    try:
        token = bearer_token(values)
    except TokenError as error:
        assert error.reason in (Reason.MISSING_TOKEN, Reason.INVALID_REQUEST)
        return
    assert len(values) == 1
    assert values[0].strip().split(" ", 1)[0].lower() == "bearer"
    assert token and token == token.strip() and len(token.split()) == 1
    assert token in values[0]


def test_zz_no_forgery_was_ever_accepted() -> None:
    """Runs after the properties (file order): the module-wide tally."""
    assert STATS["forgeries"] == 0
    if STATS["tried"]:
        assert STATS["accepted"] > 0, "the fuzzer never produced an accepted token: the oracle paths went untested"
