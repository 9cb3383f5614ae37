"""bearer_token, TokenVerifier.verify and the TokenError response helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest

from superset_mcp_jwt.errors import Reason, TokenError
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.keys import key_id
from superset_mcp_jwt.tokens import MAX_TOKEN_CHARS, TokenVerifier, bearer_token, freeze, sign_token, thaw
from tests.documented import documented_config

SECRET = "vU3Tq0h8kXw1s9bYpL2mZr7cN5aJ4eFgHdKiOoQtRsE"  # 43 chars, like token_urlsafe(32)
OTHER_SECRET = "a-completely-different-secret-of-enough-length-0123456789"
HS512_SECRET = "x" * 64 + "-hs512-signing-key"
ISSUER = "superset-mcp"
AUDIENCE = "superset-mcp-clients"
NOW = 1_700_000_000

CONFIG = documented_config(SECRET)


def make_verifier(**overrides) -> TokenVerifier:
    return TokenVerifier(Settings.from_config({**CONFIG, **overrides}))


@pytest.fixture
def verifier() -> TokenVerifier:
    return make_verifier()


def claims(**overrides):
    """The documented token shape: sub, iss, aud, exp, and no iat."""
    result = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": NOW + 3600}
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def mint(payload=None, secret=SECRET, algorithm="HS256", headers=None) -> str:
    return jwt.encode(claims() if payload is None else payload, secret,
                      algorithm=algorithm, headers=headers)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64_json(value) -> str:
    return b64(json.dumps(value).encode())


def hand_signed(header: bytes, payload: bytes, secret: str = SECRET) -> str:
    """A compact JWS built by hand from raw header/payload bytes, HS256-signed."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


HS256_HEADER = b'{"alg":"HS256","typ":"JWT"}'


def reject(verifier: TokenVerifier, token: str, now: float = NOW) -> TokenError:
    with pytest.raises(TokenError) as info:
        verifier.verify(token, now=now)
    return info.value


# --------------------------------------------------------------------------- bearer_token


def test_bearer_token_returns_the_token():
    assert bearer_token(["Bearer abc.def.ghi"]) == "abc.def.ghi"


def test_bearer_scheme_is_case_insensitive_and_extra_spaces_are_tolerated():
    assert bearer_token(["bearer  TOKEN"]) == "TOKEN"


@pytest.mark.parametrize(
    "values, reason",
    [
        pytest.param([], Reason.MISSING_TOKEN, id="no-header"),
        pytest.param(["Basic abc"], Reason.MISSING_TOKEN, id="basic-scheme"),
        pytest.param([""], Reason.MISSING_TOKEN, id="empty-header"),
        pytest.param(["Bearer a", "Bearer b"], Reason.INVALID_REQUEST, id="two-headers"),
        pytest.param(["Bearer"], Reason.INVALID_REQUEST, id="bearer-alone"),
        pytest.param(["Bearer   "], Reason.INVALID_REQUEST, id="bearer-spaces"),
        pytest.param(["Bearer a b"], Reason.INVALID_REQUEST, id="two-tokens"),
    ],
)
def test_bearer_token_rejections(values, reason):
    with pytest.raises(TokenError) as info:
        bearer_token(values)
    assert info.value.reason is reason


# --------------------------------------------------------------------------- valid tokens


def test_documented_token_without_iat_passes_and_returns_claims(verifier):
    payload = claims()
    assert "iat" not in payload
    assert verifier.verify(mint(payload), now=NOW) == payload


def test_verify_uses_the_clock_when_now_is_omitted(verifier):
    import time

    token = mint(claims(exp=int(time.time()) + 600))
    assert verifier.verify(token)["sub"] == "alice"
    expired = mint(claims(exp=int(time.time()) - 3600))
    with pytest.raises(TokenError) as info:
        verifier.verify(expired)
    assert info.value.reason is Reason.EXPIRED


def test_hand_signed_token_passes(verifier):
    # Control for the hand-built cases below: the same construction is valid.
    token = hand_signed(HS256_HEADER, json.dumps(claims()).encode())
    assert verifier.verify(token, now=NOW)["sub"] == "alice"


def test_verifier_refuses_settings_with_auth_disabled():
    with pytest.raises(ValueError):
        TokenVerifier(Settings.from_config({"MCP_AUTH_ENABLED": False}))


# --------------------------------------------------------------------------- size and shape


def test_token_over_the_size_limit(verifier):
    token = "a" * (MAX_TOKEN_CHARS + 1)
    assert reject(verifier, token).reason is Reason.TOKEN_TOO_LARGE


def test_signed_token_over_the_size_limit(verifier):
    token = mint(claims(pad="x" * MAX_TOKEN_CHARS))
    assert len(token) > MAX_TOKEN_CHARS
    assert reject(verifier, token).reason is Reason.TOKEN_TOO_LARGE


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("abc", id="one-part"),
        pytest.param("abc.def", id="two-parts"),
        pytest.param("a.b.c.d", id="four-parts"),
        pytest.param("abc.def.", id="empty-signature"),
        pytest.param("eyJ.eyJ.a+b/", id="standard-base64-chars"),
        pytest.param("eyJ.eyJ.abc=", id="padding"),
        pytest.param("eyJ .eyJ.abc", id="space"),
        pytest.param("abc.def.ghi\n", id="trailing-newline"),
    ],
)
def test_not_a_compact_jws(verifier, token):
    assert reject(verifier, token).reason is Reason.MALFORMED_TOKEN


def test_undecodable_base64_part(verifier):
    # A base64url part of length 4k+1 cannot be decoded.
    header, payload, signature = mint().split(".")
    bad = signature + "AA"
    assert len(bad) % 4 == 1
    assert reject(verifier, f"{header}.{payload}.{bad}").reason is Reason.MALFORMED_TOKEN


def test_non_canonical_signature_encoding(verifier):
    token = mint()
    header, payload, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 32 bytes in 43 characters: the last character has 2 unused low bits.
    last = alphabet[alphabet.index(signature[-1]) ^ 1]
    altered = signature[:-1] + last
    assert altered != signature
    # Same bytes: only the unused bits differ, so the signature itself still matches.
    assert base64.urlsafe_b64decode(altered + "=") == base64.urlsafe_b64decode(signature + "=")
    assert reject(verifier, f"{header}.{payload}.{altered}").reason is Reason.MALFORMED_TOKEN


# --------------------------------------------------------------------------- header


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_without_signature(verifier, alg):
    token = f"{b64_json({'alg': alg, 'typ': 'JWT'})}.{b64_json(claims())}."
    error = reject(verifier, token)
    assert error.reason in (Reason.BAD_ALGORITHM, Reason.MALFORMED_TOKEN)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_with_a_signature(verifier, alg):
    header = json.dumps({"alg": alg, "typ": "JWT"}).encode()
    token = hand_signed(header, json.dumps(claims()).encode())  # even a valid HMAC
    error = reject(verifier, token)
    assert error.reason in (Reason.BAD_ALGORITHM, Reason.MALFORMED_TOKEN)


def test_alg_none_via_pyjwt(verifier):
    token = jwt.encode(claims(), None, algorithm="none")
    assert reject(verifier, token).reason in (Reason.BAD_ALGORITHM, Reason.MALFORMED_TOKEN)


def test_hs512_token_against_hs256_config(verifier):
    token = mint(secret=HS512_SECRET, algorithm="HS512")
    assert reject(verifier, token).reason is Reason.BAD_ALGORITHM


def test_hs512_token_signed_with_the_right_secret_against_hs256_config(verifier):
    # Same secret, different algorithm: still refused on alg, before the signature.
    header = json.dumps({"alg": "HS512", "typ": "JWT"}).encode()
    signing_input = f"{b64(header)}.{b64_json(claims())}"
    sig = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha512).digest()
    assert reject(verifier, f"{signing_input}.{b64(sig)}").reason is Reason.BAD_ALGORITHM


def test_missing_alg(verifier):
    token = hand_signed(b'{"typ":"JWT"}', json.dumps(claims()).encode())
    assert reject(verifier, token).reason is Reason.BAD_ALGORITHM


def test_crit_header(verifier):
    token = mint(headers={"crit": ["exp"]})
    assert reject(verifier, token).reason is Reason.UNSUPPORTED_HEADER


def test_b64_header(verifier):
    token = hand_signed(b'{"alg":"HS256","b64":false}', json.dumps(claims()).encode())
    assert reject(verifier, token).reason is Reason.UNSUPPORTED_HEADER


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt", "application/at+JWT"])
def test_accepted_typ(verifier, typ):
    assert verifier.verify(mint(headers={"typ": typ}), now=NOW)["sub"] == "alice"


@pytest.mark.parametrize("typ", ["JWE", "", 1])
def test_unexpected_typ(verifier, typ):
    header = json.dumps({"alg": "HS256", "typ": typ}).encode()
    token = hand_signed(header, json.dumps(claims()).encode())
    assert reject(verifier, token).reason is Reason.UNSUPPORTED_HEADER


def test_duplicate_key_in_header(verifier):
    header = b'{"alg":"HS256","typ":"JWT","alg":"HS256"}'
    token = hand_signed(header, json.dumps(claims()).encode())
    assert reject(verifier, token).reason is Reason.UNSUPPORTED_HEADER


def test_duplicate_key_in_payload(verifier):
    body = json.dumps(claims())[:-1] + ', "sub": "admin"}'
    assert body.count('"sub"') == 2
    token = hand_signed(HS256_HEADER, body.encode())
    assert reject(verifier, token).reason is Reason.MALFORMED_TOKEN


def test_header_that_is_a_json_array(verifier):
    token = hand_signed(b'["alg","HS256"]', json.dumps(claims()).encode())
    assert reject(verifier, token).reason is Reason.MALFORMED_TOKEN


def test_payload_that_is_a_json_array(verifier):
    token = hand_signed(HS256_HEADER, json.dumps([claims()]).encode())
    assert reject(verifier, token).reason is Reason.MALFORMED_TOKEN


def test_payload_that_is_not_utf8(verifier):
    payload = json.dumps(claims(sub="al\u00e9x"), ensure_ascii=False).encode("latin-1")
    assert b"\xe9" in payload
    token = hand_signed(HS256_HEADER, payload)
    assert reject(verifier, token).reason is Reason.MALFORMED_TOKEN


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_payload_with_non_json_constant(verifier, constant):
    body = json.dumps(claims())[:-1] + f', "x": {constant}}}'
    token = hand_signed(HS256_HEADER, body.encode())
    assert reject(verifier, token).reason is Reason.MALFORMED_TOKEN


# --------------------------------------------------------------------------- signature


def test_wrong_secret(verifier):
    assert reject(verifier, mint(secret=OTHER_SECRET)).reason is Reason.BAD_SIGNATURE


def test_payload_swapped_between_two_valid_tokens(verifier):
    alice = mint(claims(sub="alice"))
    admin = mint(claims(sub="admin"))
    assert verifier.verify(alice, now=NOW)["sub"] == "alice"
    assert verifier.verify(admin, now=NOW)["sub"] == "admin"
    h, _, s = alice.split(".")
    _, p, _ = admin.split(".")
    assert reject(verifier, f"{h}.{p}.{s}").reason is Reason.BAD_SIGNATURE


def test_truncated_signature(verifier):
    h, p, s = mint().split(".")
    assert reject(verifier, f"{h}.{p}.{s[:-3]}").reason is Reason.BAD_SIGNATURE


# --------------------------------------------------------------------------- claims


@pytest.mark.parametrize("name", ["exp", "iss", "aud", "sub"])
def test_missing_required_claim(verifier, name):
    payload = claims(**{name: None})
    assert name not in payload
    assert reject(verifier, mint(payload)).reason is Reason.MISSING_CLAIM


def test_missing_custom_user_claim():
    v = make_verifier(MCP_JWT_USER_CLAIM="email")
    assert reject(v, mint()).reason is Reason.MISSING_CLAIM
    assert v.verify(mint(claims(email="a@example.com")), now=NOW)["email"] == "a@example.com"


@pytest.mark.parametrize(
    "name, value",
    [
        ("exp", str(NOW + 3600)),
        ("exp", True),
        ("exp", None),  # JSON null
        ("exp", [NOW + 3600]),
        ("nbf", "0"),
        ("iat", False),
    ],
)
def test_non_numeric_date(verifier, name, value):
    payload = claims()
    payload[name] = value
    token = hand_signed(HS256_HEADER, json.dumps(payload).encode())
    assert reject(verifier, token).reason is Reason.BAD_CLAIM


def test_float_exp_is_accepted(verifier):
    assert verifier.verify(mint(claims(exp=NOW + 0.5)), now=NOW)["sub"] == "alice"


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_float_overflowing_to_infinity_is_bad_claim(verifier, name):
    # 1e400 parses as float('inf'): refused as not a NumericDate.
    payload = json.dumps(claims() | {name: 0}).replace(f'"{name}": 0', f'"{name}": 1e400')
    assert "1e400" in payload
    token = hand_signed(HS256_HEADER, payload.encode())
    assert reject(verifier, token).reason is Reason.BAD_CLAIM


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_integer_too_large_for_a_float_is_bad_claim(verifier, name):
    token = mint(claims() | {name: 10**400})
    assert reject(verifier, token).reason is Reason.BAD_CLAIM


@pytest.mark.parametrize("jti", [1, None, ["a"], {"a": 1}])
def test_non_string_jti(verifier, jti):
    token = hand_signed(HS256_HEADER, json.dumps(claims() | {"jti": jti}).encode())
    assert reject(verifier, token).reason is Reason.BAD_CLAIM


def test_string_jti_passes(verifier):
    assert verifier.verify(mint(claims(jti="abc")), now=NOW)["jti"] == "abc"


# --------------------------------------------------------------------------- time, leeway 30


def test_expiry_within_leeway_passes(verifier):
    assert verifier.verify(mint(claims(exp=NOW)), now=NOW + 29)["sub"] == "alice"


def test_expiry_at_leeway_is_expired(verifier):
    error = reject(verifier, mint(claims(exp=NOW)), now=NOW + 30)
    assert error.reason is Reason.EXPIRED


def test_expired_detail_says_how_long_ago(verifier):
    error = reject(verifier, mint(claims(exp=NOW - 3600)), now=NOW)
    assert error.reason is Reason.EXPIRED
    assert "ago" in error.detail
    assert "60min" in error.detail


def test_zero_leeway():
    v = make_verifier(MCP_JWT_LEEWAY=0)
    assert v.verify(mint(claims(exp=NOW)), now=NOW - 1)["sub"] == "alice"
    assert reject(v, mint(claims(exp=NOW)), now=NOW).reason is Reason.EXPIRED


def test_nbf_beyond_leeway_is_not_yet_valid(verifier):
    error = reject(verifier, mint(claims(nbf=NOW + 31)), now=NOW)
    assert error.reason is Reason.NOT_YET_VALID


def test_nbf_within_leeway_passes(verifier):
    assert verifier.verify(mint(claims(nbf=NOW + 29)), now=NOW)["nbf"] == NOW + 29


def test_iat_beyond_leeway_is_issued_in_future(verifier):
    error = reject(verifier, mint(claims(iat=NOW + 31)), now=NOW)
    assert error.reason is Reason.ISSUED_IN_FUTURE


def test_iat_within_leeway_passes(verifier):
    assert verifier.verify(mint(claims(iat=NOW + 29)), now=NOW)["iat"] == NOW + 29


# --------------------------------------------------------------------------- iss, aud, sub, scope


def test_wrong_issuer(verifier):
    error = reject(verifier, mint(claims(iss="someone-else")))
    assert error.reason is Reason.BAD_ISSUER
    assert "someone-else" in error.detail
    assert ISSUER in error.detail


@pytest.mark.parametrize("iss", [["superset-mcp"], 1, "Superset-MCP", "superset-mcp "])
def test_issuer_must_match_exactly(verifier, iss):
    token = hand_signed(HS256_HEADER, json.dumps(claims() | {"iss": iss}).encode())
    assert reject(verifier, token).reason is Reason.BAD_ISSUER


@pytest.mark.parametrize("aud", ["other-clients", ["other-clients"], []])
def test_wrong_audience(verifier, aud):
    token = hand_signed(HS256_HEADER, json.dumps(claims() | {"aud": aud}).encode())
    assert reject(verifier, token).reason is Reason.BAD_AUDIENCE


def test_audience_list_containing_ours_passes(verifier):
    payload = claims(aud=["other-clients", AUDIENCE])
    # Nested values come back immutable (a tuple), so no caller can alter the cached claims.
    assert verifier.verify(mint(payload), now=NOW)["aud"] == ("other-clients", AUDIENCE)


@pytest.mark.parametrize("aud", [[AUDIENCE, 1], 7, {"a": AUDIENCE}])
def test_audience_of_the_wrong_type(verifier, aud):
    token = hand_signed(HS256_HEADER, json.dumps(claims() | {"aud": aud}).encode())
    assert reject(verifier, token).reason is Reason.BAD_CLAIM


@pytest.mark.parametrize("sub", ["", "   ", 42, None, ["alice"]])
def test_bad_subject(verifier, sub):
    token = hand_signed(HS256_HEADER, json.dumps(claims() | {"sub": sub}).encode())
    assert reject(verifier, token).reason is Reason.BAD_SUBJECT


@pytest.mark.parametrize("value", ["", "   ", 42, None, True, ["alice"], {"name": "alice"}])
def test_custom_user_claim_must_be_a_non_empty_string(value):
    # MCP_JWT_USER_CLAIM names another claim: it is held to the same rule as sub.
    v = make_verifier(MCP_JWT_USER_CLAIM="preferred_username")
    token = hand_signed(HS256_HEADER, json.dumps(claims(sub="alice") | {"preferred_username": value}).encode())
    error = reject(v, token)
    assert error.reason is Reason.BAD_SUBJECT
    assert "'preferred_username'" in error.detail


@pytest.mark.parametrize("sub", ["", 42, None])
def test_sub_must_be_a_string_even_with_a_custom_user_claim(sub):
    v = make_verifier(MCP_JWT_USER_CLAIM="preferred_username")
    token = hand_signed(HS256_HEADER, json.dumps(claims() | {"sub": sub, "preferred_username": "alice"}).encode())
    error = reject(v, token)
    assert error.reason is Reason.BAD_SUBJECT
    assert "'sub'" in error.detail


def test_custom_user_claim_that_is_a_string_passes():
    v = make_verifier(MCP_JWT_USER_CLAIM="preferred_username")
    token = mint(claims(preferred_username="alice"))
    assert v.verify(token, now=NOW)["preferred_username"] == "alice"


def test_required_scope_present_in_scope_string():
    v = make_verifier(MCP_REQUIRED_SCOPES=["mcp:read"])
    assert v.verify(mint(claims(scope="mcp:read other")), now=NOW)["sub"] == "alice"


def test_required_scope_present_in_scp_list():
    v = make_verifier(MCP_REQUIRED_SCOPES=["mcp:read"])
    assert v.verify(mint(claims(scp=["other", "mcp:read"])), now=NOW)["sub"] == "alice"


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"scp": ["other"]}, id="scp-other"),
        pytest.param({}, id="no-scope"),
        pytest.param({"scope": "mcp:readonly"}, id="prefix-only"),
        pytest.param({"scope": "other", "scp": ["mcp:read"]}, id="scope-wins-over-scp"),
    ],
)
def test_insufficient_scope(extra):
    v = make_verifier(MCP_REQUIRED_SCOPES=["mcp:read"])
    error = reject(v, mint(claims(**extra)))
    assert error.reason is Reason.INSUFFICIENT_SCOPE
    assert error.status == 403


@pytest.mark.parametrize(
    "extra, missing",
    [
        pytest.param({"scope": "mcp:read"}, ["mcp:write"], id="only-the-first"),
        pytest.param({"scope": "mcp:write"}, ["mcp:read"], id="only-the-second"),
        pytest.param({"scp": ["mcp:read"]}, ["mcp:write"], id="scp-only-the-first"),
        pytest.param({"scope": "other"}, ["mcp:read", "mcp:write"], id="neither"),
    ],
)
def test_every_required_scope_is_checked_not_only_the_first(extra, missing):
    v = make_verifier(MCP_REQUIRED_SCOPES=["mcp:read", "mcp:write"])
    error = reject(v, mint(claims(**extra)))
    assert error.reason is Reason.INSUFFICIENT_SCOPE
    assert f"{missing}" in error.detail  # names exactly the scopes the token lacks


def test_token_with_every_required_scope_passes():
    v = make_verifier(MCP_REQUIRED_SCOPES=["mcp:read", "mcp:write"])
    token = mint(claims(scope="mcp:write other mcp:read"))
    assert v.verify(token, now=NOW)["sub"] == "alice"


def test_no_required_scopes_means_scope_is_not_checked(verifier):
    assert verifier.verify(mint(claims(scp=["other"])), now=NOW)["sub"] == "alice"


# --------------------------------------------------------------------------- detail hygiene


@pytest.mark.parametrize(
    "token_factory",
    [
        pytest.param(lambda: mint(secret=OTHER_SECRET), id="bad-signature"),
        pytest.param(lambda: mint(claims(exp=NOW - 3600)), id="expired"),
        pytest.param(lambda: mint(claims(iss="x")), id="bad-issuer"),
        pytest.param(lambda: mint(claims(aud="x")), id="bad-audience"),
        pytest.param(lambda: mint(claims(sub=" ")), id="bad-subject"),
        pytest.param(lambda: mint(secret=HS512_SECRET, algorithm="HS512"), id="bad-alg"),
        pytest.param(lambda: mint(headers={"crit": ["exp"]}), id="crit"),
        pytest.param(lambda: mint()[:-2] + "A", id="tampered-sig"),
    ],
)
def test_detail_never_contains_the_secret_or_the_token(verifier, token_factory):
    token = token_factory()
    error = reject(verifier, token)
    for text in (error.detail, str(error)):
        assert SECRET not in text
        assert token not in text
        assert token.split(".")[2] not in text  # nor the signature


# --------------------------------------------------------------------------- TokenError helpers


def test_missing_token_response():
    error = TokenError(Reason.MISSING_TOKEN, "no Authorization header")
    assert error.status == 401
    assert error.www_authenticate("r") == 'Bearer realm="r"'
    assert "error=" not in error.www_authenticate("r")


def test_invalid_token_response():
    error = TokenError(Reason.BAD_SIGNATURE, "detail")
    assert error.status == 401
    header = error.www_authenticate("r")
    assert header.startswith('Bearer realm="r", ')
    assert 'error="invalid_token"' in header


def test_invalid_request_response():
    error = TokenError(Reason.INVALID_REQUEST)
    assert error.status == 400
    assert 'error="invalid_request"' in error.www_authenticate("r")


def test_insufficient_scope_response():
    error = TokenError(Reason.INSUFFICIENT_SCOPE)
    assert error.status == 403
    assert 'error="insufficient_scope"' in error.www_authenticate("r")


def test_body_hides_reason_code_and_claim_values():
    error = TokenError(Reason.UNKNOWN_USER, "no Superset user for claim 'sub' = 'alice'")
    text = json.dumps(error.body())
    assert "unknown_user" not in text
    assert "alice" not in text
    assert error.body()["error"] == "invalid_token"
    assert "alice" not in error.www_authenticate("r")
    assert "unknown_user" not in error.www_authenticate("r")


@pytest.mark.parametrize(
    # Multi-word codes that are not also an RFC 6750 error value ("expired" is
    # a plain word of the generic description, so it is checked by the next test).
    "reason", [r for r in Reason if r.code != r.error and "_" in r.code], ids=lambda r: r.code
)
def test_body_and_challenge_never_name_the_precise_reason(reason):
    error = TokenError(reason, "secret-detail-xyz")
    body = json.dumps(error.body())
    challenge = error.www_authenticate("r")
    assert reason.code not in body and reason.code not in challenge
    assert "secret-detail-xyz" not in body and "secret-detail-xyz" not in challenge


@pytest.mark.parametrize("reason", list(Reason), ids=lambda r: r.code)
def test_body_is_the_same_for_every_reason_of_one_kind(reason):
    expected = TokenError(
        next(r for r in Reason if r.error == reason.error)
    ).body()
    assert TokenError(reason, "whatever").body() == expected


@pytest.mark.parametrize(
    "scopes, methods",
    [
        ([], None),
        (["openid", "reports:read"], None),
        (["mcp:read"], {"read"}),
        (["mcp:read", "mcp:sql"], {"read", "execute_sql_query"}),
        (["mcp:write"], {"read", "write"}),
        (["mcp:all"], {"*"}),
        (["mcp:unknown"], set()),
        (["superset:read"], {"read", "get"}),
        (["superset:write"], {"write", "update", "delete", "execute_sql_query"}),
        (["superset:read", "mcp:sql"], {"read", "get", "execute_sql_query"}),
        (["superset:chart:read"], set()),  # narrowing: grants on its resource only (scope_allows)
        (["superset:unknown"], set()),
    ],
)
def test_allowed_methods_from_scopes(scopes, methods):
    from superset_mcp_jwt.tokens import allowed_methods

    result = allowed_methods(scopes)
    assert (result if result is None else set(result)) == methods


@pytest.mark.parametrize(
    "scopes, class_name, method, allowed",
    [
        ([], "Chart", "write", None),
        (["openid"], "Chart", "write", None),
        (["superset:chart:read"], "Chart", "read", True),
        (["superset:chart:read"], "Chart", "get", True),
        (["superset:chart:read"], "Chart", "write", False),
        (["superset:chart:read"], "Dashboard", "read", False),
        (["superset:chart:write"], "Chart", "delete", True),
        (["superset:chart:write"], "Chart", "update", True),
        (["superset:sqllab:write"], "SQLLab", "execute_sql_query", True),
        (["superset:rls:read"], "Row Level Security", "read", True),
        (["superset:chart:write"], "Chart", "custom_method", False),
        (["superset:chart:admin"], "Chart", "read", False),
        (["mcp:read"], "Chart", "get", False),  # mcp:read is can_read only
        (["mcp:all"], "Chart", "custom_method", True),
        (["superset:write"], "Chart", "update", True),  # Superset's flat write: writes, updates, deletes, SQL
        (["superset:write"], "Chart", "read", False),
        (["superset:chart:read"], None, "read", False),  # a tool without a class needs a flat scope
        (["mcp:read"], None, "read", True),
    ],
)
def test_scope_allows_per_resource(scopes, class_name, method, allowed):
    from superset_mcp_jwt.tokens import scope_allows

    assert scope_allows(scopes, class_name, method) is allowed


# --------------------------------------------------------------------------- what an operator is told
# The detail of a rejection is what `mcp-jwt check` prints and MCP_JWT_DEBUG_ERRORS
# logs (docs/operators/tokens.md: "rejected: expired: token expired 3.0h ago (leeway 30s)").


@pytest.mark.parametrize(
    "values, detail",
    [
        ([], "no Authorization header"),
        (["Bearer a", "Bearer b"], "more than one Authorization header"),
        (["Basic abc"], "Authorization scheme is 'Basic', expected Bearer"),
        (["Negotiate" + "x" * 40 + " abc"], f"Authorization scheme is {('Negotiate' + 'x' * 11)!r}, expected Bearer"),
        (["Bearer a b"], "Authorization: Bearer must be followed by exactly one token"),
    ],
    ids=["none", "two", "basic", "long-scheme-cut-to-20", "two-tokens"],
)
def test_bearer_token_rejection_detail(values, detail):
    with pytest.raises(TokenError) as info:
        bearer_token(values)
    assert info.value.detail == detail


LONG_ISSUER = "i" * 100


def _surrogate_payload(where: str) -> bytes:
    """A payload whose JSON spells a lone UTF-16 surrogate with a \\u escape."""
    body = {"sub": "\\ud800", "key": '{"\\ud800": 1}', "list": '["ok", "\\ud800"]'}[where]
    text = json.dumps(claims(sub="alice"))[:-1]
    if where == "sub":
        text = text.replace('"sub": "alice"', '"sub": "\\ud800"')
    else:
        text += f', "extra": {body}'
    return (text + "}").encode()


@pytest.mark.parametrize(
    "make, now, reason, detail",
    [
        (lambda: "a" * (MAX_TOKEN_CHARS + 1), NOW, Reason.TOKEN_TOO_LARGE,
         f"token is {MAX_TOKEN_CHARS + 1} characters, the limit is {MAX_TOKEN_CHARS}"),
        (lambda: "abc.def", NOW, Reason.MALFORMED_TOKEN,
         "not a compact JWS (three base64url parts joined by dots)"),
        (lambda: mint()[:-1] + "A" * 3, NOW, Reason.MALFORMED_TOKEN, "signature is not canonical base64url"),
        (lambda: f"{b64(b'[1]')}.{b64_json(claims())}.{b64(b'x')}", NOW, Reason.MALFORMED_TOKEN,
         "header is not a JSON object"),
        (lambda: f"{b64(b'{')}.{b64_json(claims())}.{b64(b'x')}", NOW, Reason.UNSUPPORTED_HEADER,
         "header is not a strict JSON object (JSONDecodeError)"),
        (lambda: hand_signed(HS256_HEADER, b'{"x": NaN}'), NOW, Reason.MALFORMED_TOKEN,
         "payload is not a strict JSON object (ValueError)"),
        (lambda: hand_signed(b'{"alg":"HS256","typ":"\\udc00"}', json.dumps(claims()).encode()), NOW,
         Reason.UNSUPPORTED_HEADER, "header has a string that is not valid Unicode"),
        (lambda: hand_signed(HS256_HEADER, _surrogate_payload("sub")), NOW, Reason.MALFORMED_TOKEN,
         "payload has a string that is not valid Unicode"),
        (lambda: hand_signed(HS256_HEADER, _surrogate_payload("key")), NOW, Reason.MALFORMED_TOKEN,
         "payload has a string that is not valid Unicode"),
        (lambda: hand_signed(HS256_HEADER, _surrogate_payload("list")), NOW, Reason.MALFORMED_TOKEN,
         "payload has a string that is not valid Unicode"),
        (lambda: mint(secret=HS512_SECRET, algorithm="HS512"), NOW, Reason.BAD_ALGORITHM,
         "token alg is 'HS512', MCP_JWT_ALGORITHM is 'HS256'"),
        (lambda: hand_signed(b'{"typ":"JWT"}', json.dumps(claims()).encode()), NOW, Reason.BAD_ALGORITHM,
         "token alg is None, MCP_JWT_ALGORITHM is 'HS256'"),
        (lambda: mint(headers={"crit": ["exp"]}), NOW, Reason.UNSUPPORTED_HEADER,
         "header has crit/b64 extensions, which this server does not implement"),
        (lambda: mint(headers={"typ": "JWE"}), NOW, Reason.UNSUPPORTED_HEADER, "header typ is 'JWE', expected JWT"),
        (lambda: mint(secret=OTHER_SECRET), NOW, Reason.BAD_SIGNATURE,
         "signature does not match the configured key(s) (signed with another key, or the token was altered)"),
        (lambda: mint(claims(aud=None)), NOW, Reason.MISSING_CLAIM, "required claim 'aud' is missing"),
        (lambda: mint(claims(nbf="soon")), NOW, Reason.BAD_CLAIM, "claim 'nbf' is not a NumericDate"),
        (lambda: mint(claims(jti=7)), NOW, Reason.BAD_CLAIM, "claim 'jti' is not a string"),
        (lambda: mint(claims(exp=NOW)), NOW + 30, Reason.EXPIRED, "token expired 30s ago (leeway 30s)"),
        (lambda: mint(claims(exp=NOW)), NOW + 3 * 3600, Reason.EXPIRED, "token expired 3.0h ago (leeway 30s)"),
        (lambda: mint(claims(nbf=NOW + 600)), NOW, Reason.NOT_YET_VALID,
         "token is not valid for another 10min (nbf; leeway 30s)"),
        (lambda: mint(claims(iat=NOW + 90)), NOW, Reason.ISSUED_IN_FUTURE,
         "token iat is 90s in the future (leeway 30s); check the signing machine's clock"),
        (lambda: mint(claims(iss="acme")), NOW, Reason.BAD_ISSUER, "iss is 'acme', MCP_JWT_ISSUER is 'superset-mcp'"),
        (lambda: mint(claims(iss=LONG_ISSUER)), NOW, Reason.BAD_ISSUER,
         f"iss is {repr(LONG_ISSUER)[:77]}..., MCP_JWT_ISSUER is 'superset-mcp'"),
        (lambda: mint(claims(aud=7)), NOW, Reason.BAD_CLAIM, "claim 'aud' is not a string or list of strings"),
        (lambda: mint(claims(aud=["a", "b"])), NOW, Reason.BAD_AUDIENCE,
         "aud is ['a', 'b'], MCP_JWT_AUDIENCE is ['superset-mcp-clients']"),
        (lambda: mint(claims(sub=" ")), NOW, Reason.BAD_SUBJECT, "claim 'sub' must be a non-empty string"),
    ],
    ids=["too-large", "not-jws", "non-canonical", "header-array", "header-not-json", "payload-nan",
         "header-surrogate", "payload-surrogate", "payload-surrogate-in-key", "payload-surrogate-in-list",
         "alg", "alg-missing", "crit", "typ", "signature", "missing-aud", "nbf-string", "jti-int",
         "expired-30s", "expired-3h", "nbf", "iat", "issuer", "issuer-cut-to-80", "aud-type", "audience",
         "subject"],
)
def test_rejection_detail(verifier, make, now, reason, detail):
    error = reject(verifier, make(), now=now)
    assert error.reason is reason
    assert error.detail == detail


@pytest.mark.parametrize("length", [78, 79])
def test_quoted_values_are_cut_after_80_characters(verifier, length):
    # repr adds two quotes: 78 characters show whole (80), 79 are cut to 77 + "...".
    iss = "i" * length
    shown = repr(iss) if length == 78 else repr(iss)[:77] + "..."
    error = reject(verifier, mint(claims(iss=iss)))
    assert error.detail == f"iss is {shown}, MCP_JWT_ISSUER is 'superset-mcp'"


def test_insufficient_scope_detail():
    v = make_verifier(MCP_REQUIRED_SCOPES=["mcp:read", "mcp:write"])
    error = reject(v, mint(claims(scope="mcp:write")))
    assert error.detail == "token lacks required scope(s) ['mcp:read'] (MCP_REQUIRED_SCOPES)"


def test_a_valid_unicode_escape_is_accepted(verifier):
    # Control for the surrogate cases: \u escapes of real characters are fine,
    # in values, keys and lists.
    body = json.dumps(claims(sub="al\u00e9x") | {"\u00fcber": ["\u2603"], "n": 1}).encode()
    assert b"\\u00e9" in body
    result = verifier.verify(hand_signed(HS256_HEADER, body), now=NOW)
    assert result["sub"] == "al\u00e9x" and result["\u00fcber"] == ("\u2603",)


@pytest.mark.parametrize(
    "seconds, shown",
    [(119, "119s"), (120, "2min"), (7199, "120min"), (7200, "2.0h"), (8460, "2.4h"), (9000, "2.5h"),
     (172799, "48.0h"), (172800, "2.0d"), (216000, "2.5d"), (237600, "2.8d")],
)
def test_durations_in_details(verifier, seconds, shown):
    error = reject(verifier, mint(claims(exp=NOW - seconds)), now=NOW)
    assert error.detail == f"token expired {shown} ago (leeway 30s)"


# --------------------------------------------------------------------------- sign_token


def unverified(token: str) -> tuple[dict, dict]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def test_sign_token_sets_exactly_the_documented_claims():
    settings = Settings.from_config(CONFIG)
    token = sign_token(settings, "alice", 60, now=NOW + 0.7)
    header, payload = unverified(token)
    assert header == {"alg": "HS256", "typ": "JWT", "kid": key_id(SECRET.encode())}
    jti = payload.pop("jti")
    assert len(jti) == 32 and int(jti, 16) >= 0
    assert payload == {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": NOW, "exp": NOW + 60}
    assert TokenVerifier(settings).verify(token, now=NOW)["sub"] == "alice"
    assert unverified(sign_token(settings, "alice", 60, now=NOW))[1]["jti"] != jti  # random


def test_sign_token_scopes_claims_and_several_audiences():
    settings = Settings.from_config({**CONFIG, "MCP_JWT_AUDIENCE": ["b-clients", "a-clients"]})
    token = sign_token(settings, "alice", 1, scopes=["mcp:read", "mcp:sql"], claims={"client": "cli"}, now=NOW)
    _, payload = unverified(token)
    assert payload["aud"] == ["a-clients", "b-clients"]
    assert payload["scope"] == "mcp:read mcp:sql"
    assert payload["client"] == "cli"
    assert payload["exp"] == NOW + 1  # one second is a positive lifetime


def test_sign_token_uses_the_clock_when_now_is_omitted():
    import time

    before = int(time.time())
    _, payload = unverified(sign_token(Settings.from_config(CONFIG), "alice", 60))
    assert before <= payload["iat"] <= int(time.time()) and payload["exp"] == payload["iat"] + 60


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ttl_seconds": 0}, "ttl_seconds must be positive"),
        ({"ttl_seconds": -5}, "ttl_seconds must be positive"),
        ({"claims": {"exp": 1, "sub": "admin", "x": 1}}, "claims may not set exp, sub"),
        ({"claims": {"nbf": 1}}, "claims may not set nbf"),
    ],
)
def test_sign_token_refuses(kwargs, message):
    args = {"ttl_seconds": 60, **kwargs}
    with pytest.raises(ValueError) as info:
        sign_token(Settings.from_config(CONFIG), "alice", **args)
    assert str(info.value) == message


def test_sign_token_without_scopes_sets_no_scope_claim():
    _, payload = unverified(sign_token(Settings.from_config(CONFIG), "alice", 60))
    assert "scope" not in payload


def test_thaw_gives_back_plain_json_of_frozen_claims():
    value = {"a": [1, {"b": [2, "c"]}], "d": {"e": None}}
    frozen = freeze(value)
    plain = thaw(frozen)
    assert plain == value
    assert type(plain) is dict and type(plain["a"]) is list and type(plain["a"][1]) is dict
    assert type(plain["a"][1]["b"]) is list and type(plain["d"]) is dict


def test_verifier_refusal_message():
    with pytest.raises(ValueError) as info:
        TokenVerifier(Settings.from_config({"MCP_AUTH_ENABLED": False}))
    assert str(info.value) == "TokenVerifier needs settings with auth enabled"


@pytest.mark.parametrize(
    "name, value, accepted",
    [("exp", 2**53 - 1, True), ("exp", 2**53, False), ("nbf", -(2**53) + 1, True), ("nbf", -(2**53), False)],
)
def test_numeric_dates_are_bounded_by_2_to_the_53(verifier, name, value, accepted):
    token = mint(claims(**{name: value}))
    if accepted:
        assert verifier.verify(token, now=NOW)[name] == value
    else:
        assert reject(verifier, token).reason is Reason.BAD_CLAIM


def token_of_length(length: int) -> str:
    for extra in range(length):
        token = mint(claims(pad="p" * extra))
        if len(token) >= length:
            assert len(token) == length, (length, len(token))
            return token
    raise AssertionError(length)


def test_tokens_up_to_2048_characters_are_cached():
    from superset_mcp_jwt.tokens import MAX_CACHED_TOKEN_CHARS

    v = make_verifier()
    for length in (MAX_CACHED_TOKEN_CHARS, MAX_CACHED_TOKEN_CHARS + 1):
        token = token_of_length(length)
        v.verify(token, now=NOW)
        assert v.is_cached(token) is (length == MAX_CACHED_TOKEN_CHARS), length


HS384_SECRET = "h" * 48 + "-hs384-signing-key"


def test_a_signature_ending_in_x_is_canonical():
    # Only "=" is padding: a part that ends in "X" (or any other base64url
    # character) is its one canonical spelling. A 48-byte HS384 signature uses all
    # six bits of its last character, so some signatures end in "X".
    v = make_verifier(MCP_JWT_ALGORITHM="HS384", MCP_JWT_SECRET=HS384_SECRET)
    token = next(
        t for t in (mint(claims(n=n), secret=HS384_SECRET, algorithm="HS384") for n in range(2000))
        if t.endswith("X")
    )
    assert v.verify(token, now=NOW)["sub"] == "alice"


def signed_parts(header: str, payload: str) -> str:
    """header.payload (base64url text, taken as is) with a valid HS256 signature over exactly that text."""
    signature = hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


@pytest.mark.parametrize("which", ["header", "payload"])
def test_non_canonical_header_or_payload_detail(verifier, which):
    from tests.security.conftest import non_canonical

    header = b64(b'{"alg":"HS256" }')  # 16 bytes in 22 characters: the last has unused bits
    payload = b64(json.dumps(claims()).encode())
    parts = {"header": header, "payload": payload}
    parts[which] = non_canonical(parts[which])
    assert parts[which] is not None
    error = reject(verifier, signed_parts(parts["header"], parts["payload"]))
    assert error.detail == f"{which} is not canonical base64url"


@pytest.mark.parametrize(
    "scopes, expected",
    [
        (["mcp:all"], []),  # "*": every right, as with no scope: Superset checks roles alone
        ([], []),
        (["superset:chart:read"], ["superset:chart:read"]),
        (["mcp:sql"], ["mcp:sql", "superset:read", "superset:write"]),
        (["mcp:read", "superset:write"], ["mcp:read", "superset:write", "superset:read"]),
    ],
)
def test_superset_scopes_implied_by_the_tokens_own(scopes, expected):
    from superset_mcp_jwt.tokens import scopes_for_superset

    assert scopes_for_superset(scopes) == expected


def two_issuer_verifier() -> TokenVerifier:
    import dataclasses
    from types import SimpleNamespace

    return TokenVerifier(dataclasses.replace(
        Settings.from_config(CONFIG),
        oauth=SimpleNamespace(issuer="https://superset.example.com", resource="https://superset.example.com/mcp"),
    ))


@pytest.mark.parametrize(
    "payload, reason",
    [(b"not json", Reason.MALFORMED_TOKEN), (b'{"iss": ["superset-mcp"]}', Reason.MISSING_CLAIM)],
    ids=["unreadable-payload", "unhashable-iss"],
)
def test_with_two_issuers_an_unreadable_issuer_is_a_rejection_not_a_crash(payload, reason):
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(payload)}"
    signature = b64(hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError) as info:
        two_issuer_verifier().verify(f"{signing_input}.{signature}", now=NOW)
    assert info.value.reason is reason


def test_details_with_two_trusted_issuers_name_each_ones_config_keys():
    verifier = two_issuer_verifier()
    with pytest.raises(TokenError) as info:
        verifier.verify(mint(claims(iss="acme")), now=NOW)
    assert info.value.reason is Reason.BAD_ISSUER
    assert info.value.detail == (
        "iss is 'acme', MCP_JWT_ISSUER is 'superset-mcp' and MCP_OAUTH_ISSUER is 'https://superset.example.com'"
    )
    with pytest.raises(TokenError) as info:
        verifier.verify(mint(claims(iss="https://superset.example.com", aud="other")), now=NOW)
    assert info.value.reason is Reason.BAD_AUDIENCE
    assert info.value.detail == "aud is 'other', MCP_OAUTH_RESOURCE is ['https://superset.example.com/mcp']"


def test_each_tool_permission_maps_to_the_narrowest_mcp_scope_that_grants_it():
    """The scope a step-up asks for (one table: SCOPE_METHODS)."""
    from superset_mcp_jwt.tokens import allowed_methods, scope_for_method

    cases = {"read": "mcp:read", "write": "mcp:write", "execute_sql_query": "mcp:sql", "delete": "mcp:all",
             "export": "mcp:all"}
    assert {method: scope_for_method(method) for method in cases} == cases
    for method, scope in cases.items():
        methods = allowed_methods([scope])
        assert method in methods or "*" in methods
