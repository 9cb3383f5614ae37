"""Key modes: HMAC secret rotation, PEM public keys, and a real JWKS over HTTP on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.request
from typing import Any, Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import RSAAlgorithm

from superset_mcp_jwt.errors import ConfigError, Reason, TokenError
from tests.jwks_provider import Provider
from superset_mcp_jwt.keys import JWKSKeys, key_id, load_private_key, load_public_key
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.tokens import TokenVerifier, sign_token

OLD, NEW = "o" * 40, "n" * 40


def config(**keys: Any) -> dict[str, Any]:
    base = {"MCP_AUTH_ENABLED": True, "MCP_JWT_ISSUER": "superset-mcp",
            "MCP_JWT_AUDIENCE": "superset-mcp-clients"}
    base.update(keys)
    return base


def claims(**extra: Any) -> dict[str, Any]:
    """Valid for ten minutes from when the token is made (not from when the module was loaded)."""
    return {"sub": "alice", "iss": "superset-mcp", "aud": "superset-mcp-clients",
            "exp": int(time.time()) + 600, **extra}


def reject(verifier: TokenVerifier, token: str) -> TokenError:
    with pytest.raises(TokenError) as info:
        verifier.verify(token)
    return info.value


def pem(public_key: Any) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def private_pem(private_key: Any) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# --- HMAC secret rotation --------------------------------------------------------


def test_rotation_accepts_every_listed_secret_and_signs_with_the_newest():
    settings = Settings.from_config(config(MCP_JWT_SECRET=[NEW, OLD]))
    verifier = TokenVerifier(settings)
    assert verifier.verify(jwt.encode(claims(), OLD, algorithm="HS256"))["sub"] == "alice"
    minted = sign_token(settings, "alice", 60)
    assert jwt.get_unverified_header(minted)["kid"] == key_id(NEW.encode())
    jwt.decode(minted, NEW, algorithms=["HS256"], audience="superset-mcp-clients")
    assert verifier.verify(minted)["sub"] == "alice"


def test_rotation_kid_selects_one_secret_without_trying_the_others():
    verifier = TokenVerifier(Settings.from_config(config(MCP_JWT_SECRET=[NEW, OLD])))
    signed_old_claiming_new = jwt.encode(claims(), OLD, algorithm="HS256",
                                         headers={"kid": key_id(NEW.encode())})
    assert reject(verifier, signed_old_claiming_new).reason is Reason.BAD_SIGNATURE
    assert len(verifier.keys.candidates(key_id(OLD.encode()))) == 1
    assert len(verifier.keys.candidates("made-up")) == 2


def test_dropping_the_old_secret_retires_its_tokens():
    old_token = jwt.encode(claims(), OLD, algorithm="HS256")
    verifier = TokenVerifier(Settings.from_config(config(MCP_JWT_SECRET=[NEW])))
    assert reject(verifier, old_token).reason is Reason.BAD_SIGNATURE


@pytest.mark.parametrize("secrets", [[NEW, NEW], [NEW, "short"], []])
def test_bad_secret_lists_are_refused(secrets):
    with pytest.raises(ConfigError) as info:
        Settings.from_config(config(MCP_JWT_SECRET=secrets))
    assert info.value.key == "MCP_JWT_SECRET"


def test_kid_is_never_a_key_id_lookup_for_a_single_secret():
    verifier = TokenVerifier(Settings.from_config(config(MCP_JWT_SECRET=NEW)))
    token = jwt.encode(claims(), NEW, algorithm="HS256", headers={"kid": "../../etc/passwd"})
    assert verifier.verify(token)["sub"] == "alice"


# --- PEM public keys -------------------------------------------------------------

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()


@pytest.mark.parametrize(
    "algorithm, private",
    [("RS256", RSA_KEY), ("PS256", RSA_KEY), ("RS512", RSA_KEY), ("ES256", EC_KEY), ("EdDSA", ED_KEY)],
)
def test_public_key_modes_verify_tokens_signed_with_the_private_key(algorithm, private):
    settings = Settings.from_config(config(MCP_JWT_ALGORITHM=algorithm, MCP_JWT_PUBLIC_KEY=pem(private.public_key())))
    verifier = TokenVerifier(settings)
    assert verifier.verify(jwt.encode(claims(), private, algorithm=algorithm))["sub"] == "alice"
    minted = sign_token(settings, "bob", 60, private_key=private, kid="k1")
    assert verifier.verify(minted)["sub"] == "bob"
    stranger = {rsa.RSAPrivateKey: lambda: rsa.generate_private_key(65537, 2048),
                ec.EllipticCurvePrivateKey: lambda: ec.generate_private_key(ec.SECP256R1()),
                ed25519.Ed25519PrivateKey: ed25519.Ed25519PrivateKey.generate}
    make = next(f for kind, f in stranger.items() if isinstance(private, kind))
    forged = jwt.encode(claims(), make(), algorithm=algorithm)
    assert reject(verifier, forged).reason is Reason.BAD_SIGNATURE


def test_hs256_token_signed_with_the_public_key_is_refused_in_rs256_mode():
    public = pem(RSA_KEY.public_key())
    verifier = TokenVerifier(Settings.from_config(config(MCP_JWT_ALGORITHM="RS256", MCP_JWT_PUBLIC_KEY=public)))

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    sig = b64(hmac.new(public.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    assert reject(verifier, f"{head}.{body}.{sig}").reason is Reason.BAD_ALGORITHM


def test_asymmetric_mode_cannot_sign_without_a_private_key():
    settings = Settings.from_config(config(MCP_JWT_ALGORITHM="RS256", MCP_JWT_PUBLIC_KEY=pem(RSA_KEY.public_key())))
    with pytest.raises(ValueError) as info:
        sign_token(settings, "alice", 60)
    assert str(info.value) == "RS256 tokens need a private key to sign"


def test_asymmetric_token_without_kid_has_no_kid_header():
    settings = Settings.from_config(config(MCP_JWT_ALGORITHM="RS256", MCP_JWT_PUBLIC_KEY=pem(RSA_KEY.public_key())))
    token = sign_token(settings, "alice", 60, private_key=RSA_KEY)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT"}
    assert TokenVerifier(settings).verify(token)["sub"] == "alice"


@pytest.mark.parametrize(
    "keys, offending",
    [
        ({"MCP_JWT_ALGORITHM": "HS256", "MCP_JWT_SECRET": NEW, "MCP_JWT_PUBLIC_KEY": pem(RSA_KEY.public_key())},
         "MCP_JWT_PUBLIC_KEY"),
        ({"MCP_JWT_ALGORITHM": "HS256", "MCP_JWT_SECRET": pem(RSA_KEY.public_key())}, "MCP_JWT_SECRET"),
        ({"MCP_JWT_ALGORITHM": "RS256", "MCP_JWT_SECRET": NEW}, "MCP_JWT_SECRET"),
        ({"MCP_JWT_ALGORITHM": "RS256"}, "MCP_JWT_PUBLIC_KEY"),
        ({"MCP_JWT_ALGORITHM": "RS256", "MCP_JWT_PUBLIC_KEY": pem(RSA_KEY.public_key()),
          "MCP_JWKS_URI": "https://idp.example.com/jwks"}, "MCP_JWT_PUBLIC_KEY"),
        ({"MCP_JWT_ALGORITHM": "RS256", "MCP_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"},
         "MCP_JWT_PUBLIC_KEY"),
        ({"MCP_JWT_ALGORITHM": "RS256", "MCP_JWT_PUBLIC_KEY": private_pem(RSA_KEY)}, "MCP_JWT_PUBLIC_KEY"),
        ({"MCP_JWT_ALGORITHM": "RS256", "MCP_JWT_PUBLIC_KEY": pem(EC_KEY.public_key())}, "MCP_JWT_PUBLIC_KEY"),
        ({"MCP_JWT_ALGORITHM": "ES384", "MCP_JWT_PUBLIC_KEY": pem(EC_KEY.public_key())}, "MCP_JWT_PUBLIC_KEY"),
        ({"MCP_JWT_ALGORITHM": "RS256",
          "MCP_JWT_PUBLIC_KEY": pem(rsa.generate_private_key(65537, 1024).public_key())}, "MCP_JWT_PUBLIC_KEY"),
        ({"MCP_JWT_ALGORITHM": "RS256", "MCP_JWKS_URI": "http://idp.example.com/jwks"}, "MCP_JWKS_URI"),
        ({"MCP_JWT_ALGORITHM": "RS256", "MCP_JWKS_URI": "ftp://127.0.0.1/jwks"}, "MCP_JWKS_URI"),
    ],
    ids=["public-key-with-hs", "pem-as-hmac-secret", "secret-with-rs", "rs-without-key",
         "two-key-sources", "malformed-pem", "private-key-as-public", "ec-key-for-rs256",
         "p256-key-for-es384", "rsa-1024", "jwks-plain-http-remote", "jwks-not-http"],
)
def test_key_confusion_and_weak_keys_stop_start_up(keys, offending):
    with pytest.raises(ConfigError) as info:
        Settings.from_config(config(**keys))
    assert info.value.key == offending


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9/jwks", "http://localhost/jwks", "http://[::1]:8/k",
                                 "https://idp.example.com/jwks"])
def test_jwks_uri_https_or_loopback(uri):
    assert Settings.from_config(config(MCP_JWT_ALGORITHM="RS256", MCP_JWKS_URI=uri)).jwks_uri == uri


# --- JWKS over real HTTP on loopback ------------------------------------------------


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider()
    p.keys["k1"] = RSA_KEY
    yield p
    p.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def jwks_verifier(provider: Provider, clock: Clock, **keys: Any) -> TokenVerifier:
    settings = Settings.from_config(config(MCP_JWT_ALGORITHM="RS256", MCP_JWKS_URI=provider.uri,
                                           MCP_JWT_TOKEN_CACHE_SIZE=0, **keys))
    verifier = TokenVerifier(settings)
    verifier.keys = JWKSKeys(provider.uri, "RS256", ttl=300, cooldown=30, timeout=2, stale_for=3600,
                             clock=clock)
    return verifier


def signed(private: Any, kid: Any = "k1", **extra: Any) -> str:
    headers = {} if kid is None else {"kid": kid}
    return jwt.encode(claims(**extra), private, algorithm="RS256", headers=headers)


def test_jwks_verifies_by_kid_and_follows_rotation_at_the_provider(provider):
    clock = Clock()
    verifier = jwks_verifier(provider, clock)
    assert verifier.verify(signed(RSA_KEY))["sub"] == "alice"
    new_key = rsa.generate_private_key(65537, 2048)
    provider.keys = {"k2": new_key, "k1": RSA_KEY}
    clock.now += 31  # past the refetch cooldown: an unknown kid refetches at once
    assert verifier.verify(signed(new_key, "k2"))["sub"] == "alice"
    provider.keys = {"k2": new_key}
    clock.now += 301  # cache expired: k1 is gone now
    assert reject(verifier, signed(RSA_KEY)).reason is Reason.UNKNOWN_KEY


def test_keys_are_refreshed_in_the_background_before_they_expire(provider):
    clock = Clock()
    verifier = jwks_verifier(provider, clock)
    assert verifier.verify(signed(RSA_KEY))["sub"] == "alice"
    new_key = rsa.generate_private_key(65537, 2048)
    provider.keys = {"k2": new_key}  # the provider rotated: k1 is gone there
    clock.now += 0.8 * 300
    # Answered from the keys in hand (still valid): the request did not wait for the refetch.
    assert verifier.verify(signed(RSA_KEY))["sub"] == "alice"
    verifier.keys._background.join(5)
    assert provider.hits == 2
    assert verifier.verify(signed(new_key, "k2"))["sub"] == "alice"  # no fetch on the request path
    assert provider.hits == 2
    clock.now += 1
    verifier.verify(signed(new_key, "k2"))
    assert provider.hits == 2  # one background refresh, not one per request


def test_keys_are_not_refreshed_before_80_percent_of_their_lifetime(provider):
    clock = Clock()
    verifier = jwks_verifier(provider, clock)
    verifier.verify(signed(RSA_KEY))
    clock.now += 0.8 * 300 - 1  # one second before the refresh ahead of expiry is due
    verifier.verify(signed(RSA_KEY))
    assert verifier.keys._background is None and provider.hits == 1
    clock.now += 1
    verifier.verify(signed(RSA_KEY))
    verifier.keys._background.join(5)
    assert provider.hits == 2


def test_a_failed_background_refresh_runs_in_a_named_daemon_thread_and_says_so(caplog):
    """Thread dumps show what the thread is; it never holds up shutdown; the log names the refresh."""
    import threading

    body = json.dumps({"keys": [dict(json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key())), kid="k1")]})
    fetched_in: list[tuple[str, bool]] = []

    def fetch(uri: str, timeout: float) -> bytes:
        fetched_in.append((threading.current_thread().name, threading.current_thread().daemon))
        if len(fetched_in) > 1:
            raise ConnectionError("provider down")
        return body.encode()

    clock = Clock()
    keys = JWKSKeys("https://idp.example.com/jwks", "RS256", ttl=300, fetch=fetch, clock=clock)
    assert len(keys.candidates("k1")) == 1
    clock.now += 0.8 * 300
    caplog.set_level("WARNING", logger="superset_mcp_jwt.keys")
    assert len(keys.candidates("k1")) == 1  # answered from the keys in hand
    keys._background.join(5)
    assert fetched_in[1] == ("superset-mcp-jwt-jwks", True)
    assert [r.getMessage() for r in caplog.records] == [
        "JWKS refresh (ahead of expiry) from https://idp.example.com/jwks failed (ConnectionError); "
        "still using the keys fetched 240s ago"
    ]
    clock.now += 5  # still ahead of expiry, but within the cooldown of the failed attempt
    assert len(keys.candidates("k1")) == 1
    keys._background.join(5)
    assert len(fetched_in) == 2  # a failing provider is not asked again on every request


def test_random_kid_flood_fetches_at_most_once_per_cooldown(provider):
    clock = Clock()
    verifier = jwks_verifier(provider, clock)
    verifier.verify(signed(RSA_KEY))
    assert provider.hits == 1
    clock.now += 31  # the set is no longer brand new
    # The flooder has no key: one signature, re-used under 500 made-up kids (the
    # kid is looked up before any signature is checked).
    _, body, signature = signed(RSA_KEY).split(".")
    for n in range(500):
        header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": f"random-{n}"}).encode())
        token = f"{header.rstrip(b'=').decode()}.{body}.{signature}"
        assert reject(verifier, token).reason is Reason.UNKNOWN_KEY
        clock.now += 0.05  # 25 s in all: still inside the 30 s cooldown
    assert provider.hits == 2  # one refetch for the first unknown kid, then the cooldown
    clock.now += 31
    reject(verifier, signed(RSA_KEY, "random-x"))
    assert provider.hits == 3


def test_outage_serves_the_last_good_keys_then_fails_closed(provider, caplog):
    clock = Clock()
    verifier = jwks_verifier(provider, clock)
    verifier.verify(signed(RSA_KEY))
    provider.down = True
    clock.now += 301
    assert verifier.verify(signed(RSA_KEY))["sub"] == "alice"  # stale-if-error
    assert "still using the keys fetched" in caplog.text
    clock.now += 3600
    assert reject(verifier, signed(RSA_KEY)).reason is Reason.KEYS_UNAVAILABLE
    provider.down = False
    clock.now += 31
    assert verifier.verify(signed(RSA_KEY))["sub"] == "alice"


def test_provider_down_at_first_use_does_not_hammer_it(provider):
    provider.down = True
    clock = Clock()
    verifier = jwks_verifier(provider, clock)
    for _ in range(50):
        assert reject(verifier, signed(RSA_KEY)).reason is Reason.KEYS_UNAVAILABLE
    assert provider.hits == 1


def test_token_without_kid_only_when_the_set_has_one_key(provider):
    clock = Clock()
    verifier = jwks_verifier(provider, clock)
    assert verifier.verify(signed(RSA_KEY, kid=None))["sub"] == "alice"
    provider.keys["k2"] = rsa.generate_private_key(65537, 2048)
    clock.now += 301
    assert reject(verifier, signed(RSA_KEY, kid=None)).reason is Reason.UNKNOWN_KEY


def test_jwks_ignores_keys_for_other_algorithms_and_private_material():
    keys = JWKSKeys("http://127.0.0.1:1/x", "RS256", fetch=lambda uri, timeout: json.dumps({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},
        dict(json.loads(RSAAlgorithm.to_jwk(RSA_KEY)), kid="private"),
        dict(json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key())), kid="enc", use="enc"),
        dict(json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key())), kid="good"),
    ]}).encode())
    assert len(keys.candidates("good")) == 1
    for kid in ("sym", "private", "enc"):
        with pytest.raises(TokenError):
            keys.candidates(kid)


# --- JWKS fetch limits from the config: 1 MiB and MCP_JWKS_TIMEOUT -------------------


def config_verifier(provider: Provider, **keys: Any) -> TokenVerifier:
    """A verifier built from the config alone, as the server builds it (no test clock)."""
    return TokenVerifier(Settings.from_config(config(MCP_JWT_ALGORITHM="RS256", MCP_JWKS_URI=provider.uri, **keys)))


def padded_jwks(size: int) -> bytes:
    """A valid JWKS holding RSA_KEY as k1, padded with whitespace to exactly ``size`` bytes."""
    jwk = dict(json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key())), kid="k1", use="sig")
    body = json.dumps({"keys": [jwk]}).encode()
    assert len(body) < size
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_jwks_document_of_exactly_1_mib_is_accepted(provider):
    provider.body = padded_jwks(1 << 20)
    assert len(provider.body) == 1 << 20
    assert config_verifier(provider).verify(signed(RSA_KEY))["sub"] == "alice"


def test_jwks_document_over_1_mib_is_refused(provider, caplog):
    provider.body = padded_jwks((1 << 20) + 1)
    assert reject(config_verifier(provider), signed(RSA_KEY)).reason is Reason.KEYS_UNAVAILABLE
    assert provider.hits == 1
    assert "JWKS from" in caplog.text and "(ValueError)" in caplog.text


def test_mcp_jwks_timeout_reaches_the_fetch(provider, monkeypatch):
    # The configured number, unchanged, is what urlopen is given.
    seen: list[Any] = []
    real_urlopen = urllib.request.urlopen

    def urlopen(request, timeout):
        seen.append(timeout)
        return real_urlopen(request, timeout=timeout)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assert config_verifier(provider, MCP_JWKS_TIMEOUT=7.5).verify(signed(RSA_KEY))["sub"] == "alice"
    assert seen == [7.5]
    assert config_verifier(provider).verify(signed(RSA_KEY))["sub"] == "alice"
    assert seen == [7.5, 5.0]  # the documented default


def test_slow_provider_is_given_up_on_after_mcp_jwks_timeout(provider):
    provider.delay = 0.8
    start = time.monotonic()
    assert reject(config_verifier(provider, MCP_JWKS_TIMEOUT=0.5), signed(RSA_KEY)).reason is Reason.KEYS_UNAVAILABLE
    assert time.monotonic() - start < provider.delay
    # Control: a timeout longer than the delay waits for the same provider.
    assert config_verifier(provider, MCP_JWKS_TIMEOUT=3).verify(signed(RSA_KEY))["sub"] == "alice"


# --- key ids and key loading ---------------------------------------------------------


def test_hmac_key_id_is_a_stable_short_hash_of_the_secret():
    # Pinned: tokens already issued carry it, so it must not change between releases.
    assert key_id(OLD.encode()) == "hs-0c1a9b3c6eee"
    assert key_id(NEW.encode()) == "hs-d65649fa60f5"


@pytest.mark.parametrize(
    "value, message",
    [
        (42, "must be a PEM public key (-----BEGIN PUBLIC KEY-----)"),
        ("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", "must be a PEM public key (-----BEGIN PUBLIC KEY-----)"),
        (b"\xff\xfe-----BEGIN PUBLIC KEY-----\n\xff\n-----END PUBLIC KEY-----",
         "is not a valid public key for RS256 (InvalidKeyError)"),
        (private_pem(RSA_KEY), "is a private key; give the server only the public key"),
        (private_pem(RSA_KEY).encode(), "is a private key; give the server only the public key"),
        (pem(EC_KEY.public_key()), "is not a valid public key for RS256 (InvalidKeyError)"),
        (pem(rsa.generate_private_key(65537, 1024).public_key()), "RSA key has 1024 bits; at least 2048 required"),
    ],
    ids=["int", "no-pem-armour", "bytes-not-utf8", "private", "private-bytes", "ec-for-rs256", "rsa-1024"],
)
def test_public_key_refusals_name_the_problem(value, message):
    with pytest.raises(ConfigError) as info:
        load_public_key("RS256", value)
    assert info.value.key == "MCP_JWT_PUBLIC_KEY"
    assert str(info.value) == f"superset-mcp-jwt: MCP_JWT_PUBLIC_KEY: {message}"


def test_public_key_as_bytes_is_accepted():
    key = load_public_key("RS256", pem(RSA_KEY.public_key()).encode())
    assert key.public_numbers() == RSA_KEY.public_key().public_numbers()


def test_private_key_for_signing():
    key = load_private_key("RS256", private_pem(RSA_KEY).encode())
    assert key.private_numbers() == RSA_KEY.private_numbers()
    assert isinstance(load_private_key("EdDSA", private_pem(ED_KEY).encode()), ed25519.Ed25519PrivateKey)


@pytest.mark.parametrize(
    "algorithm, data, error, message",
    [
        ("RS256", b"not a key", ValueError, "not a readable unencrypted PEM private key (ValueError)"),
        ("RS256", private_pem(EC_KEY).encode(), ConfigError,
         "superset-mcp-jwt: --private-key: is not a public key of the kind RS256 needs"),
        ("RS256", private_pem(rsa.generate_private_key(65537, 1024)).encode(), ConfigError,
         "superset-mcp-jwt: --private-key: RSA key has 1024 bits; at least 2048 required"),
    ],
    ids=["garbage", "ec-for-rs256", "rsa-1024"],
)
def test_private_key_refusals(algorithm, data, error, message):
    with pytest.raises(error) as info:
        load_private_key(algorithm, data)
    assert type(info.value) is error and str(info.value) == message


def test_jwks_is_requested_as_json(provider):
    config_verifier(provider).verify(signed(RSA_KEY))
    assert provider.last_headers["Accept"] == "application/json"


def test_an_endless_jwks_response_is_cut_at_1_mib_not_read_to_its_end(provider, caplog):
    # 1 MiB + 1 byte, then the connection stays open: the fetch must stop reading
    # there (too large), not wait for more and time out.
    provider.body = padded_jwks((1 << 20) + 1)
    provider.stall = 3
    assert reject(config_verifier(provider, MCP_JWKS_TIMEOUT=0.5), signed(RSA_KEY)).reason is Reason.KEYS_UNAVAILABLE
    assert "(ValueError)" in caplog.text and "Timeout" not in caplog.text


def test_jwks_cache_expires_exactly_after_mcp_jwks_cache_seconds(provider):
    clock = Clock()  # a cooldown longer than the cache: no refresh ahead of expiry
    keys = JWKSKeys(provider.uri, "RS256", ttl=300, cooldown=400, clock=clock)
    keys.candidates("k1")
    clock.now = 100 + 299.9
    keys.candidates("k1")
    assert provider.hits == 1
    clock.now = 100 + 300
    keys.candidates("k1")
    assert provider.hits == 2


def public_jwk(key: Any = None, **members: Any) -> dict[str, Any]:
    return dict(json.loads(RSAAlgorithm.to_jwk((key or RSA_KEY).public_key())), **members)


def served(document: Any) -> JWKSKeys:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return JWKSKeys("http://127.0.0.1:1/jwks", "RS256", fetch=lambda uri, timeout: body)


@pytest.mark.parametrize(
    "document",
    [[public_jwk(kid="k1")], {}, {"keys": []}, {"keys": "k1"}, b"not json"],
    ids=["a-list", "no-keys-member", "no-keys", "keys-not-a-list", "not-json"],
)
def test_a_jwks_without_usable_keys_is_a_failed_fetch(document, caplog):
    with pytest.raises(TokenError) as info:
        served(document).candidates("k1")
    assert info.value.reason is Reason.KEYS_UNAVAILABLE
    assert "(ValueError)" in caplog.text or "(JSONDecodeError)" in caplog.text


def test_unusable_entries_are_skipped_and_the_rest_used():
    small = rsa.generate_private_key(65537, 1024)
    keys = served({"keys": [
        "junk", 7, None,
        public_jwk(small, kid="weak"),  # refused: 1024 bits
        public_jwk(kid="other-alg", alg="RS512"),
        public_jwk(kid="with-k", k="c2VjcmV0"),  # symmetric material riding along
        public_jwk(kid="good"),
    ]})
    assert len(keys.candidates("good")) == 1
    for kid in ("weak", "other-alg", "with-k"):
        with pytest.raises(TokenError) as info:
            keys.candidates(kid)
        assert info.value.reason is Reason.UNKNOWN_KEY, kid


def test_a_jwk_without_kid_is_known_by_the_empty_kid():
    keys = served({"keys": [public_jwk()]})
    assert len(keys.candidates("")) == 1 and len(keys.candidates(None)) == 1
    with pytest.raises(TokenError) as info:
        keys.candidates("None")
    assert info.value.reason is Reason.UNKNOWN_KEY


# --- JWKSKeys timing and logs, with a stub fetch and a test clock --------------------


class StubIdP:
    """A fetch function: the JWKS of ``keys`` (kid -> private key), or an error when down."""

    def __init__(self, **keys: Any) -> None:
        self.keys = keys or {"k1": RSA_KEY}
        self.down = False
        self.timeouts: list[float] = []

    def __call__(self, uri: str, timeout: float) -> bytes:
        self.timeouts.append(timeout)
        if self.down:
            raise OSError("connection refused")
        return json.dumps({"keys": [public_jwk(k, kid=kid) for kid, k in self.keys.items()]}).encode()

    @property
    def fetches(self) -> int:
        return len(self.timeouts)


URI = "https://idp.example.com/jwks"


def stub_keys(idp: StubIdP, clock: Clock, **kwargs: Any) -> JWKSKeys:
    return JWKSKeys(URI, "RS256", fetch=idp, clock=clock, **kwargs)


def test_jwks_keys_defaults_are_the_documented_ones(caplog):
    idp, clock = StubIdP(), Clock()  # the clock starts at 100
    keys = stub_keys(idp, clock)
    keys.candidates("k1")
    assert idp.timeouts == [5]  # MCP_JWKS_TIMEOUT
    clock.now = 100 + 239.9
    keys.candidates("k1")
    assert idp.fetches == 1
    clock.now = 100 + 240  # MCP_JWKS_CACHE_SECONDS 300: refreshed in the background at 80 %
    keys.candidates("k1")
    keys._background.join(5)
    assert idp.fetches == 2
    with pytest.raises(TokenError):
        keys.candidates("k-new")  # unknown kid, but just fetched
    clock.now = 340 + 29.9
    with pytest.raises(TokenError):
        keys.candidates("k-new")
    assert idp.fetches == 2
    clock.now = 340 + 30  # MCP_JWKS_REFETCH_COOLDOWN: 30
    with pytest.raises(TokenError):
        keys.candidates("k-new")
    assert idp.fetches == 3 and keys.fetches == 3
    idp.down = True
    clock.now = 370 + 86399.9  # MCP_JWKS_STALE_SECONDS: 86400 after the last good fetch
    assert len(keys.candidates("k1")) == 1
    clock.now = 370 + 86400
    with pytest.raises(TokenError) as info:
        keys.candidates("k1")
    assert info.value.reason is Reason.KEYS_UNAVAILABLE


def test_settings_reach_the_jwks_keys():
    # The wiring only: each number's effect is tested above and below.
    settings = Settings.from_config(config(
        MCP_JWT_ALGORITHM="RS256", MCP_JWKS_URI=URI, MCP_JWKS_CACHE_SECONDS=11,
        MCP_JWKS_REFETCH_COOLDOWN=2, MCP_JWKS_TIMEOUT=3, MCP_JWKS_STALE_SECONDS=4,
    ))
    keys = TokenVerifier(settings).keys
    assert isinstance(keys, JWKSKeys) and keys.uri == URI
    assert (keys._ttl, keys._cooldown, keys._timeout, keys._stale_for) == (11, 2, 3, 4)


def test_provider_down_at_first_use_is_asked_once_per_cooldown():
    idp, clock = StubIdP(), Clock()
    idp.down = True
    keys = stub_keys(idp, clock, cooldown=30)
    for _ in range(50):
        with pytest.raises(TokenError) as info:
            keys.candidates("k1")
        assert info.value.reason is Reason.KEYS_UNAVAILABLE
        assert info.value.detail == f"no keys could be fetched from {URI}"
        clock.now += 0.5  # 25 s in all
    assert idp.fetches == 1
    clock.now += 5
    with pytest.raises(TokenError):
        keys.candidates("k1")
    assert idp.fetches == 2


def test_one_refresh_per_instant():
    # Threads that waited for the lock while another refreshed do not fetch again.
    idp, clock = StubIdP(), Clock()
    keys = stub_keys(idp, clock, ttl=300, stale_for=3600)
    keys.candidates("k1")
    idp.down = True
    clock.now += 400
    for _ in range(5):
        keys.candidates("k1")
    assert idp.fetches == 2


def test_stale_keys_serve_until_exactly_mcp_jwks_stale_seconds():
    idp, clock = StubIdP(), Clock()  # clock starts at 100
    keys = stub_keys(idp, clock, ttl=300, stale_for=3600)
    keys.candidates("k1")
    idp.down = True
    clock.now += 3599.9
    assert len(keys.candidates("k1")) == 1
    clock.now += 0.1
    with pytest.raises(TokenError) as info:
        keys.candidates("k1")
    assert info.value.reason is Reason.KEYS_UNAVAILABLE


@pytest.mark.parametrize(
    "advance, kid, reason",
    [(301, "k1", "expired"), (31, "k2", "unknown kid"), (301, "k2", "expired")],
    ids=["expired", "unknown-kid", "expired-and-unknown"],
)
def test_failed_refresh_log_lines(caplog, advance, kid, reason):
    idp, clock = StubIdP(), Clock()
    keys = stub_keys(idp, clock, ttl=300, cooldown=30, stale_for=3600)
    keys.candidates("k1")
    idp.down = True
    clock.now += advance
    with caplog.at_level(logging.DEBUG, logger="superset_mcp_jwt"):
        try:
            keys.candidates(kid)
        except TokenError:
            pass
        clock.now += 3600
        with pytest.raises(TokenError):
            keys.candidates("k1")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, f"JWKS refresh ({reason}) from {URI} failed (OSError); still using the keys "
                          f"fetched {advance}s ago"),
        (logging.ERROR, f"JWKS from {URI} unavailable (OSError): MCP tokens cannot be verified"),
    ]


def test_unknown_key_details():
    idp, clock = StubIdP(k1=RSA_KEY, k2=RSA_KEY), Clock()
    keys = stub_keys(idp, clock)
    with pytest.raises(TokenError) as info:
        keys.candidates(None)
    assert info.value.detail == "token has no kid and the JWKS has several keys"
    long_kid = "x" * 30 + "y" * 30
    with pytest.raises(TokenError) as info:
        keys.candidates(long_kid)
    assert info.value.detail == f"kid {long_kid[:40]!r} is not in the JWKS at {URI}"
    with pytest.raises(TokenError) as info:
        keys.candidates(7)
    assert info.value.reason is Reason.UNKNOWN_KEY and info.value.detail == f"kid '7' is not in the JWKS at {URI}"


@pytest.mark.parametrize(
    "uri, message",
    [
        (42, "must be a URL"),
        ("https:///jwks", "must be an https:// URL (plain http only on loopback)"),
        ("http://idp.example.com/jwks", "must be an https:// URL (plain http only on loopback)"),
        ("http://127.0.0.1.example.com/jwks", "must be an https:// URL (plain http only on loopback)"),
    ],
    ids=["not-a-string", "https-without-host", "http-remote", "loopback-lookalike"],
)
def test_jwks_uri_refusals(uri, message):
    with pytest.raises(ConfigError) as info:
        Settings.from_config(config(MCP_JWT_ALGORITHM="RS256", MCP_JWKS_URI=uri))
    assert str(info.value) == f"superset-mcp-jwt: MCP_JWKS_URI: {message}"
