"""The attack catalogue against the core: ``bearer_token`` -> ``TokenVerifier.verify``
-> ``resolve_identity``, with no Flask and no FastMCP.

Every entry of ``conftest.CATALOGUE`` becomes one test here named for its attack
(``test_alg_none_lowercase_unsigned``, ``test_hs256_signed_with_rsa_public_key_pem``,
...). Each runs with the clock fixed, inside ``no_io()`` (no file, socket or URL may
be opened while the token is checked) and with the attacker's key server
listening, which must receive nothing.

The tests after the generated ones cover what a catalogue entry cannot express:
exact fractional leeway edges, the 1 MB header, the order of the checks, and the
operator who configures a public key as the secret.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Callable, Union

import jwt
import pytest

from superset_mcp_jwt.errors import ConfigError, Reason, TokenError
from superset_mcp_jwt.identity import Identity, resolve_identity
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.tokens import TokenVerifier, bearer_token
from tests.documented import documented_config

from .conftest import (
    ATTACKER,
    AUDIENCE,
    CATALOGUE,
    ISSUER,
    KID_PATH,
    KID_SQL,
    TRUSTED_IDP_KEY,
    TRUSTED_IDP_KID,
    Attack,
    DatabaseLikeSecurityManager,
    Forge,
    KeyServer,
    hmac_token,
    no_io,
    non_canonical,
    trusted_idp_jwks,
    trusted_idp_public_pem,
)

SECRET = "c0re-Attack-Suite-secret_9f2b7d41e6a84c3fb1d0e5a7c2f94b68"
NOW = 1_700_000_000
CONFIG = documented_config(SECRET)
SETTINGS = Settings.from_config(CONFIG)
VERIFIER = TokenVerifier(SETTINGS)
SECURITY_MANAGER = DatabaseLikeSecurityManager()

# Warm up once, so that nothing is lazily imported (and no file opened) during
# the checked calls below.
VERIFIER.verify(Forge(SECRET, NOW).pyjwt(), now=NOW)


def authenticate(values: list[str], now: float = NOW) -> Identity:
    """What ``MCPJWTManager.authenticate`` does, minus the logging."""
    claims = VERIFIER.verify(bearer_token(values), now=now)
    return resolve_identity(claims, SETTINGS, SECURITY_MANAGER)


def outcome(values: list[str], now: float = NOW) -> Union[Identity, TokenError]:
    """The identity, or the TokenError. Any other exception propagates (a failure)."""
    try:
        return authenticate(values, now)
    except TokenError as error:
        return error


def check_attack(attack: Attack, key_server: KeyServer) -> None:
    values = attack.build(Forge(SECRET, NOW, attacker_url=key_server.url))
    before = list(key_server.hits)
    with no_io() as io_events:
        result = outcome(values)
    assert io_events == [], f"{attack.name}: I/O during verification: {io_events}"
    assert key_server.hits == before, f"{attack.name}: the attacker's key server was contacted"
    if attack.accepted:
        assert isinstance(result, Identity), f"{attack.name}: rejected ({result!r})"
        assert result.username == attack.expect.user  # type: ignore[union-attr]
        return
    assert isinstance(result, TokenError), f"{attack.name} was ACCEPTED as {result.username!r}"
    assert result.reason in attack.reasons(), (attack.name, result.reason, result.detail)
    # The operator-facing detail never quotes the secret, the token or its MAC.
    assert SECRET not in result.detail
    for value in values:
        for token in (word.strip(",;") for word in value.split() if len(word) > 20):
            assert token not in result.detail
            signature = token.rsplit(".", 1)[-1]
            if token.count(".") == 2 and len(signature) >= 8:
                assert signature not in result.detail


def _make_test(attack: Attack) -> Callable[..., None]:
    def test(key_server: KeyServer) -> None:
        check_attack(attack, key_server)

    test.__name__ = test.__qualname__ = f"test_{attack.name}"
    test.__doc__ = attack.doc
    for mark in attack.marks():
        test = mark(test)
    return test


# One named test per attack: test_alg_none_lowercase_unsigned, ...
for _attack in CATALOGUE.values():
    globals()[f"test_{_attack.name}"] = _make_test(_attack)
del _attack


def test_catalogue_covers_every_family_in_the_issue():
    """A guard against the catalogue silently shrinking."""
    names = set(CATALOGUE)
    for required in [
        "alg_none_lowercase_unsigned", "alg_none_capitalised_unsigned", "alg_none_uppercase_unsigned",
        "alg_none_lowercase_with_valid_hmac", "hs256_signed_with_rsa_public_key_pem",
        "hs256_signed_with_rsa_public_key_jwk_json", "hs256_signed_with_ec_public_key_pem",
        "hs256_signed_with_ec_public_key_jwk_json", "hs384_token_signed_with_the_real_secret",
        "hs512_token_signed_with_the_real_secret", "rs256_token_signed_by_attacker_key",
        "es256_token_signed_by_attacker_key", "signature_stripped_keeping_the_dot",
        "signature_truncated_by_three_chars", "signature_reencoded_non_canonical_base64url",
        "signature_with_base64_padding", "payload_swapped_between_two_valid_tokens",
        "kid_path_traversal_on_a_valid_token_is_ignored",
        "kid_path_traversal_signed_with_dev_null_contents", "kid_sql_injection_signed_with_the_injected_key",
        "kid_integer_on_a_valid_token_is_ignored", "kid_object_on_a_valid_token_is_ignored",
        "jku_attacker_jwks_with_rs256_signed_by_attacker", "x5u_attacker_certificate_with_rs256",
        "jwk_header_embedding_attacker_rsa_key", "crit_unknown_extension", "b64_false_with_crit",
        "duplicate_alg_in_header_none_then_hs256", "duplicate_sub_in_payload_alice_then_admin",
        "header_json_array", "header_json_string", "header_json_number", "header_json_null",
        "payload_json_array", "payload_json_string", "payload_json_number", "payload_json_null",
        "header_with_latin1_bytes", "payload_with_latin1_bytes", "oversized_token_8193_chars",
        "expired_exactly_at_the_leeway", "expired_just_beyond_the_leeway",
        "nbf_exactly_at_the_leeway_is_accepted", "nbf_just_beyond_the_leeway",
        "iat_in_future_exactly_at_the_leeway_is_accepted", "iat_in_future_just_beyond_the_leeway",
        "sub_missing", "sub_empty", "sub_whitespace_only", "sub_integer", "sub_object",
        "sub_unknown_user", "sub_inactive_user", "two_authorization_headers",
        "bearer_with_extra_spaces_is_accepted", "bearer_with_two_tokens",
        "bearer_lowercase_scheme_is_accepted", "basic_scheme",
    ]:
        assert required in names, required


# --------------------------------------------------------------------------- leeway, exactly


@pytest.mark.parametrize(
    "claim, offset, now_offset, expected",
    [
        pytest.param("exp", 0, 29.999, None, id="exp_a_millisecond_inside_the_leeway"),
        pytest.param("exp", 0, 30, Reason.EXPIRED, id="exp_exactly_at_the_leeway"),
        pytest.param("exp", 0, 30.001, Reason.EXPIRED, id="exp_a_millisecond_beyond_the_leeway"),
        pytest.param("nbf", 30, 0, None, id="nbf_exactly_at_the_leeway"),
        pytest.param("nbf", 30.001, 0, Reason.NOT_YET_VALID, id="nbf_a_millisecond_beyond_the_leeway"),
        pytest.param("iat", 30, 0, None, id="iat_exactly_at_the_leeway"),
        pytest.param("iat", 30.001, 0, Reason.ISSUED_IN_FUTURE, id="iat_a_millisecond_beyond_the_leeway"),
    ],
)
def test_leeway_edges_to_the_millisecond(claim, offset, now_offset, expected):
    forge = Forge(SECRET, NOW)
    token = forge.real(**{claim: NOW + offset}) if claim != "exp" else forge.real(exp=NOW + offset)
    result = outcome([f"Bearer {token}"], now=NOW + now_offset)
    if expected is None:
        assert isinstance(result, Identity), result
    else:
        assert isinstance(result, TokenError) and result.reason is expected


# --------------------------------------------------------------------------- size


def test_huge_authorization_header_1mb_is_refused_quickly():
    """1 MiB of token: refused on length before any decoding, in bounded time."""
    value = "Bearer " + "A" * (1 << 20)
    started = time.perf_counter()
    result = outcome([value])
    elapsed = time.perf_counter() - started
    assert isinstance(result, TokenError) and result.reason is Reason.TOKEN_TOO_LARGE
    assert elapsed < 1.0


def test_huge_authorization_header_of_many_tokens_is_invalid_request():
    """1 MiB of space-separated tokens: a malformed header (400), not a crash."""
    result = outcome(["Bearer " + "a.b.c " * (1 << 18)])
    assert isinstance(result, TokenError) and result.reason is Reason.INVALID_REQUEST


def test_oversized_token_is_refused_before_any_decoding(monkeypatch):
    """The length check comes first: no base64 or JSON work for a token over the limit."""
    token = CATALOGUE["oversized_token_8193_chars"].build(Forge(SECRET, NOW))[0].split()[1]
    calls: list[str] = []
    real_b64, real_loads = base64.urlsafe_b64decode, json.loads
    monkeypatch.setattr(base64, "urlsafe_b64decode", lambda *a, **k: calls.append("b64") or real_b64(*a, **k))
    monkeypatch.setattr(json, "loads", lambda *a, **k: calls.append("json") or real_loads(*a, **k))
    with pytest.raises(TokenError) as info:
        VERIFIER.verify(token, now=NOW)
    assert info.value.reason is Reason.TOKEN_TOO_LARGE
    assert calls == []


# --------------------------------------------------------------------------- order of checks


def test_forged_payload_is_never_parsed(monkeypatch):
    """A token with a bad MAC is refused before its claims are decoded (RFC 8725 §3.3):
    only the header is parsed, the payload's JSON never is."""
    forge = Forge(SECRET, NOW)
    token = CATALOGUE["token_signed_with_another_secret"].build(forge)[0].split()[1]
    header_b64, payload_b64, _ = token.split(".")
    parsed: list[str] = []
    real_loads = json.loads
    monkeypatch.setattr(json, "loads", lambda text, *a, **k: parsed.append(text) or real_loads(text, *a, **k))
    with pytest.raises(TokenError) as info:
        VERIFIER.verify(token, now=NOW)
    assert info.value.reason is Reason.BAD_SIGNATURE
    header_text = base64.urlsafe_b64decode(header_b64 + "==").decode()
    assert parsed == [header_text]


def test_kid_never_selects_a_key_even_one_that_exists_on_disk(tmp_path):
    """A kid naming a file that holds a MAC key the attacker used: still refused.
    (The verifier has exactly one key, so there is nothing for kid to select.)"""
    key_file = tmp_path / "attacker.key"
    key_file.write_bytes(ATTACKER.oct_secret)
    forge = Forge(SECRET, NOW)
    token = hmac_token({"alg": "HS256", "kid": str(key_file)}, forge.claims(sub="admin"), ATTACKER.oct_secret)
    with no_io() as events:
        result = outcome([f"Bearer {token}"])
    assert events == []
    assert isinstance(result, TokenError) and result.reason is Reason.BAD_SIGNATURE


# --------------------------------------------------------------------------- the operator


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(ATTACKER.rsa_public_pem.decode(), id="rsa_public_key_pem"),
        pytest.param(ATTACKER.ec_public_pem.decode(), id="ec_public_key_pem"),
        pytest.param(ATTACKER.rsa_public_jwk, id="rsa_public_key_jwk_json"),
    ],
)
def test_operator_configures_a_public_key_as_the_secret_fails_closed(secret):
    """An operator who pastes a public key into MCP_JWT_SECRET gets no verifier at all,
    so tokens MACed with that (public!) text can never be accepted. The error never
    quotes the key."""
    with pytest.raises(ConfigError) as info:
        TokenVerifier(Settings.from_config({**CONFIG, "MCP_JWT_SECRET": secret}))
    assert info.value.key == "MCP_JWT_SECRET"
    message = str(info.value)
    assert secret not in message
    for line in secret.replace('"', "\n").splitlines():
        if len(line) > 20 and not line.startswith("-----"):
            assert line not in message


def test_pyjwt_decode_with_the_same_settings_agrees_on_a_genuine_token():
    """A cross-check: the documented token verifies here and with PyJWT's own decoder."""
    forge = Forge(SECRET, time.time())
    token = forge.pyjwt()
    assert VERIFIER.verify(token)["sub"] == "alice"
    decoded: dict[str, Any] = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert decoded["sub"] == "alice"


# --------------------------------------------------------------------------- remembered tokens
# A token verified once may be remembered by the verifier; none of the following
# may change because of that.


def fresh_verifier() -> TokenVerifier:
    return TokenVerifier(Settings.from_config(CONFIG))


def test_remembered_genuine_token_still_expires():
    verifier = fresh_verifier()
    token = Forge(SECRET, NOW).pyjwt()
    assert verifier.verify(token, now=NOW)["sub"] == "alice"
    with pytest.raises(TokenError) as info:
        verifier.verify(token, now=NOW + 3600 + 30)
    assert info.value.reason is Reason.EXPIRED


def test_remembered_genuine_token_respelled_or_altered_is_still_refused():
    """Remembering is by exact token text: a respelling of the same bytes, or the
    same header and payload with another MAC, gets no benefit from it."""
    verifier = fresh_verifier()
    forge = Forge(SECRET, NOW)
    for n in range(100):
        token = forge.pyjwt(jti=f"r{n}")
        h, p, s = token.split(".")
        if non_canonical(p) and non_canonical(s):
            break
    assert verifier.verify(token, now=NOW)["sub"] == "alice"
    for variant, reasons in [
        (f"{h}.{non_canonical(p)}.{s}", {Reason.BAD_SIGNATURE, Reason.MALFORMED_TOKEN}),
        (f"{h}.{p}.{non_canonical(s)}", {Reason.MALFORMED_TOKEN}),
        (f"{h}.{p}.{s[:-4]}AAAA", {Reason.BAD_SIGNATURE, Reason.MALFORMED_TOKEN}),
        (f"{h}.{p}.{s}=", {Reason.MALFORMED_TOKEN}),
        (f" {token}", {Reason.MALFORMED_TOKEN}),
    ]:
        with pytest.raises(TokenError) as info:
            verifier.verify(variant, now=NOW)
        assert info.value.reason in reasons, variant


def test_rejected_token_is_rejected_every_time():
    verifier = fresh_verifier()
    token = Forge(SECRET, NOW).pyjwt(iss="someone-else")
    for _ in range(3):
        with pytest.raises(TokenError) as info:
            verifier.verify(token, now=NOW)
        assert info.value.reason is Reason.BAD_ISSUER


def test_cache_poisoning_by_mutating_the_returned_claims():
    """A caller (a resolver, a view) that edits the claims it was given cannot change
    what the next verification of the same token returns."""
    verifier = fresh_verifier()
    token = Forge(SECRET, NOW).pyjwt(sub="alice")
    claims = verifier.verify(token, now=NOW)
    claims["sub"] = "admin"  # e.g. a resolver or a view "normalising" the claims
    assert verifier.verify(token, now=NOW)["sub"] == "alice"
    claims = verifier.verify(token, now=NOW)
    claims.pop("exp", None)
    assert verifier.verify(token, now=NOW)["exp"] == NOW + 3600
    listed = Forge(SECRET, NOW).pyjwt(sub="alice", aud=[AUDIENCE, "x"])
    aud = verifier.verify(listed, now=NOW)["aud"]
    try:
        aud.append("y")  # nested values too (they may come back read-only)
    except (TypeError, AttributeError):
        pass
    assert list(verifier.verify(listed, now=NOW)["aud"]) == [AUDIENCE, "x"]


# --------------------------------------------------------------------------- the nets themselves


def test_bait_attacks_point_at_the_recording_key_server(key_server: KeyServer):
    """The "nothing was fetched" assertions are not vacuous: the bait tokens do name
    the key server, and the key server does record a fetch."""
    import urllib.request

    baits = [a for a in CATALOGUE.values() if a.bait]
    assert len(baits) >= 4
    for attack in baits:
        token = attack.build(Forge(SECRET, NOW, attacker_url=key_server.url))[0].split()[1]
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert any(str(header.get(k, "")).startswith(key_server.url) for k in ("jku", "x5u")), attack.name
    before = len(key_server.hits)
    with urllib.request.urlopen(f"{key_server.url}/jwks.json", timeout=5) as response:
        assert "keys" in json.load(response)
    assert len(key_server.hits) == before + 1
    del key_server.hits[before:]


def test_no_io_net_catches_file_and_network_access():
    """The no_io() net used around every core attack really catches I/O."""
    import socket

    with no_io() as events:
        with pytest.raises(AssertionError):
            open("/dev/null")
        with pytest.raises(AssertionError):
            socket.create_connection(("127.0.0.1", 9))
    assert events == []  # refused before reaching the OS: nothing to audit
    import io

    with no_io() as events:
        io.FileIO("/dev/null").close()  # not monkeypatched: the audit hook sees it
    assert any(event.startswith("open ") for event in events), events


# --------------------------------------------------------------------------- asymmetric modes
# The issue's configuration is HS256, but the same verifier also runs with an RSA
# public key (MCP_JWT_PUBLIC_KEY) or a provider's JWKS (MCP_JWKS_URI). There the
# classic key confusion (HS256 MACed with the server's own public key) and the
# key-injection headers matter most; the server's key must be the only key.

ASYMMETRIC_ATTACKS: dict[str, tuple[Callable[[Forge], str], Any, Any]] = {}


def _asymmetric(public_key_mode: Any, jwks_mode: Any) -> Callable[[Callable[[Forge], str]], Callable[[Forge], str]]:
    """Register a token builder with its expected outcome in each mode: a user name
    (accepted as that user) or a set of acceptable reasons."""

    def decorate(fn: Callable[[Forge], str]) -> Callable[[Forge], str]:
        ASYMMETRIC_ATTACKS[fn.__name__] = (fn, public_key_mode, jwks_mode)
        return fn

    return decorate


def _idp(forge: Forge, algorithm: str = "RS256", key: Any = None, **headers: Any) -> str:
    headers.setdefault("kid", TRUSTED_IDP_KID)
    return jwt.encode(forge.claims(sub="admin"), key or TRUSTED_IDP_KEY, algorithm=algorithm, headers=headers)


@_asymmetric("admin", "admin")
def genuine_rs256_token_from_the_trusted_provider(f: Forge) -> str:
    """Control: signed by the provider the server trusts."""
    return _idp(f)


@_asymmetric({Reason.BAD_ALGORITHM}, {Reason.BAD_ALGORITHM})
def hs256_signed_with_the_servers_own_public_key_pem(f: Forge) -> str:
    """The classic RS256 -> HS256 confusion, with the very public key the server trusts."""
    return hmac_token({"alg": "HS256", "kid": TRUSTED_IDP_KID}, f.claims(sub="admin"), trusted_idp_public_pem())


@_asymmetric({Reason.BAD_ALGORITHM}, {Reason.BAD_ALGORITHM})
def hs256_signed_with_the_servers_own_public_key_jwk_json(f: Forge) -> str:
    """The same, keyed with the trusted key's JWK JSON as published in the JWKS."""
    jwk = json.dumps(trusted_idp_jwks()["keys"][0]).encode()
    return hmac_token({"alg": "HS256", "kid": TRUSTED_IDP_KID}, f.claims(sub="admin"), jwk)


@_asymmetric({Reason.BAD_ALGORITHM, Reason.MALFORMED_TOKEN}, {Reason.BAD_ALGORITHM, Reason.MALFORMED_TOKEN})
def alg_none_in_rs256_mode(f: Forge) -> str:
    """An unsecured token."""
    return jwt.encode(f.claims(sub="admin"), None, algorithm="none")


@_asymmetric({Reason.BAD_ALGORITHM}, {Reason.BAD_ALGORITHM})
def ps256_signed_with_the_trusted_key(f: Forge) -> str:
    """The right key, another algorithm: the header must not choose."""
    return _idp(f, "PS256")


@_asymmetric({Reason.BAD_SIGNATURE}, {Reason.BAD_SIGNATURE})
def rs256_signed_by_attacker_claiming_the_trusted_kid(f: Forge) -> str:
    """The attacker's RSA key, with the trusted key's kid."""
    return _idp(f, key=ATTACKER.rsa_private)


@_asymmetric({Reason.BAD_SIGNATURE}, {Reason.BAD_SIGNATURE})
def rs256_attacker_key_embedded_as_jwk(f: Forge) -> str:
    """The attacker's public key embedded in the header (jwk), signed with it."""
    return _idp(f, key=ATTACKER.rsa_private, jwk=json.loads(ATTACKER.rsa_public_jwk))


@_asymmetric({Reason.BAD_SIGNATURE}, {Reason.UNKNOWN_KEY})
def rs256_jku_to_the_attacker_jwks(f: Forge) -> str:
    """jku -> the attacker's JWKS; kid names the attacker's key published there."""
    return _idp(f, key=ATTACKER.rsa_private, kid="attacker", jku=f"{f.attacker_url}/jwks.json")


@_asymmetric({Reason.BAD_SIGNATURE}, {Reason.BAD_SIGNATURE})
def rs256_x5u_and_x5c_to_the_attacker_certificate(f: Forge) -> str:
    """x5u and x5c naming the attacker's self-signed certificate."""
    return _idp(f, key=ATTACKER.rsa_private, x5u=f"{f.attacker_url}/cert.pem", x5c=[ATTACKER.certificate_der_b64])


@_asymmetric({Reason.BAD_ALGORITHM}, {Reason.BAD_ALGORITHM})
def es256_signed_by_attacker(f: Forge) -> str:
    """ES256 with the attacker's EC key."""
    return _idp(f, "ES256", key=ATTACKER.ec_private)


@_asymmetric("admin", {Reason.UNKNOWN_KEY})
def genuine_token_with_kid_path_traversal(f: Forge) -> str:
    """A genuine signature with kid '../../dev/null': ignored with one public key;
    with a JWKS the kid must name a published key, and this one does not."""
    return _idp(f, kid=KID_PATH)


@_asymmetric({Reason.BAD_SIGNATURE}, {Reason.UNKNOWN_KEY})
def rs256_kid_sql_injection_signed_by_attacker(f: Forge) -> str:
    """kid carrying SQL text, attacker signature."""
    return _idp(f, key=ATTACKER.rsa_private, kid=KID_SQL)


@pytest.fixture(params=["public_key", "jwks"])
def asymmetric_mode(request: pytest.FixtureRequest, key_server: KeyServer) -> tuple[str, TokenVerifier]:
    config = {k: v for k, v in CONFIG.items() if k != "MCP_JWT_SECRET"} | {"MCP_JWT_ALGORITHM": "RS256"}
    if request.param == "public_key":
        config["MCP_JWT_PUBLIC_KEY"] = trusted_idp_public_pem().decode()
    else:
        config["MCP_JWKS_URI"] = f"{key_server.url}/idp/jwks.json"
    return request.param, TokenVerifier(Settings.from_config(config))


@pytest.mark.parametrize("name", sorted(ASYMMETRIC_ATTACKS))
def test_asymmetric_mode_attack(name: str, asymmetric_mode: tuple[str, TokenVerifier], key_server: KeyServer) -> None:
    mode, verifier = asymmetric_mode
    build, public_key_expect, jwks_expect = ASYMMETRIC_ATTACKS[name]
    expect = public_key_expect if mode == "public_key" else jwks_expect
    token = build(Forge(SECRET, NOW, attacker_url=key_server.url))
    before = list(key_server.hits)
    try:
        result: Union[Identity, TokenError] = resolve_identity(
            verifier.verify(token, now=NOW), verifier.settings, SECURITY_MANAGER
        )
    except TokenError as error:
        result = error
    assert key_server.hits == before, f"{name}: the attacker's key server was contacted"
    assert all(path == "/idp/jwks.json" for path in key_server.idp_hits)
    if isinstance(expect, str):
        assert isinstance(result, Identity) and result.username == expect, (name, mode, result)
    else:
        assert isinstance(result, TokenError), f"{name} ACCEPTED in {mode} mode"
        assert result.reason in expect, (name, mode, result.reason, result.detail)
