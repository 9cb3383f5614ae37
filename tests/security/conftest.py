"""Shared material for the security tests: attacker keys, token forging helpers,
and the attack catalogue that every face (core, Flask guard, `superset mcp run`)
is run against.

Each catalogue entry is a function named for its attack. It receives a
:class:`Forge` (the real secret, the clock, where the attacker's key server
lives) and returns the ``Authorization`` header values an attacker would send.
Its expectation is either the set of acceptable rejection reasons, or
``Accept(user)`` for the controls that must keep working (for example a valid
token whose ``kid`` is a path: the ``kid`` must simply be ignored).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import http.server
import json
import sys
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from superset_mcp_jwt.errors import Reason, TokenError
from superset_mcp_jwt.tokens import MAX_TOKEN_CHARS

from tests.superset.conftest import home  # noqa: F401  (session Superset home)

ISSUER = "superset-mcp"
AUDIENCE = "superset-mcp-clients"
LEEWAY = 30  # the default MCP_JWT_LEEWAY
HS256_HEADER = {"alg": "HS256", "typ": "JWT"}

# --------------------------------------------------------------------------- encoding


def b64(raw: bytes) -> str:
    """Canonical base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64_json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def as_part(value: Union[bytes, dict, Any]) -> str:
    """A header/payload part: raw bytes are encoded as they are, anything else as JSON."""
    return b64(value) if isinstance(value, bytes) else b64_json(value)


def hmac_token(header: Any, payload: Any, key: bytes, digest: Any = hashlib.sha256) -> str:
    """A compact JWS whose signature is HMAC(key) over the exact header.payload text."""
    signing_input = f"{as_part(header)}.{as_part(payload)}"
    mac = hmac.new(key, signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{b64(mac)}"


def non_canonical(part: str) -> Optional[str]:
    """The same bytes spelled differently: flip an unused low bit of the last character.

    Returns None when the part's length leaves no unused bits (a multiple of 4).
    """
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if len(part) % 4 == 0:
        return None
    altered = part[:-1] + alphabet[alphabet.index(part[-1]) ^ 1]
    padding = "=" * (-len(part) % 4)
    assert base64.urlsafe_b64decode(altered + padding) == base64.urlsafe_b64decode(part + padding)
    return altered


# --------------------------------------------------------------------------- attacker keys


@dataclass(frozen=True)
class AttackerKeys:
    """Key material an attacker fully controls (nothing here is ever configured)."""

    rsa_private: rsa.RSAPrivateKey
    ec_private: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    oct_secret: bytes = b"attacker-chosen-hmac-secret-0123456789abcdef"

    @property
    def rsa_public_pem(self) -> bytes:
        return self.rsa_private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def rsa_public_pem_pkcs1(self) -> bytes:
        return self.rsa_private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        )

    @property
    def rsa_public_jwk(self) -> str:
        return RSAAlgorithm.to_jwk(self.rsa_private.public_key())

    @property
    def ec_public_pem(self) -> bytes:
        return self.ec_private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def ec_public_jwk(self) -> str:
        return ECAlgorithm.to_jwk(self.ec_private.public_key())

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def certificate_der_b64(self) -> str:
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(self.rsa_public_jwk) | {"kid": "attacker", "use": "sig"}
        oct_jwk = {"kty": "oct", "k": b64(self.oct_secret), "kid": "attacker-oct"}
        return {"keys": [rsa_jwk, oct_jwk]}


def _make_attacker_keys() -> AttackerKeys:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker.invalid")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )
    return AttackerKeys(rsa_key, ec_key, certificate)


ATTACKER = _make_attacker_keys()

#: The identity provider the server *does* trust in the asymmetric modes
#: (MCP_JWT_PUBLIC_KEY or MCP_JWKS_URI); the key server publishes its JWKS at /idp/.
TRUSTED_IDP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
TRUSTED_IDP_KID = "idp-2026"


def trusted_idp_public_pem() -> bytes:
    return TRUSTED_IDP_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def trusted_idp_jwks() -> dict[str, Any]:
    jwk = json.loads(RSAAlgorithm.to_jwk(TRUSTED_IDP_KEY.public_key()))
    return {"keys": [jwk | {"kid": TRUSTED_IDP_KID, "use": "sig", "alg": "RS256"}]}


# --------------------------------------------------------------------------- forging


@dataclass
class Forge:
    """What an attack is built from: the real secret (for the controls and for
    "signed by the real key but otherwise wrong" cases), the clock, and the
    URL of the attacker's key server."""

    secret: str
    now: float
    #: Seconds added where the time between building a token and the server
    #: checking it could flip the outcome (HTTP faces); 0 for the core, which
    #: is given ``now`` exactly.
    slack: float = 0
    attacker_url: str = "https://attacker.invalid"

    @property
    def key(self) -> bytes:
        return self.secret.encode()

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """The documented token shape; a value of ``...`` removes that claim."""
        result: dict[str, Any] = {
            "sub": "alice",
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": int(self.now) + 3600,
        }
        result.update(overrides)
        return {k: v for k, v in result.items() if v is not ...}

    def real(self, payload: Any = None, header: Any = None, **claims: Any) -> str:
        """Signed by hand with the real secret (HS256) over exactly these bytes."""
        return hmac_token(
            HS256_HEADER if header is None else header,
            self.claims(**claims) if payload is None else payload,
            self.key,
        )

    def pyjwt(self, **claims: Any) -> str:
        """Signed with the real secret by PyJWT, the way clients do it."""
        return jwt.encode(self.claims(**claims), self.secret, algorithm="HS256")


@dataclass(frozen=True)
class Accept:
    """The control outcome: the request is served as ``user``."""

    user: str


Expectation = Union[frozenset, Accept]


@dataclass(frozen=True)
class Attack:
    name: str
    build: Callable[[Forge], list[str]]
    expect: Expectation
    doc: str
    #: Set for an attack that exposes a real bug: its tests are strict xfails.
    bug: Optional[str] = None
    #: The attack points at the attacker's key server; nothing may be fetched.
    bait: bool = False

    @property
    def accepted(self) -> bool:
        return isinstance(self.expect, Accept)

    def reasons(self) -> frozenset:
        assert not self.accepted
        return self.expect  # type: ignore[return-value]

    def status(self) -> int:
        """The one HTTP status every acceptable reason maps to."""
        if self.accepted:
            return 200
        statuses = {r.status for r in self.reasons()}
        errors = {r.error for r in self.reasons()}
        assert len(statuses) == 1 and len(errors) == 1, (self.name, statuses, errors)
        return statuses.pop()

    def marks(self) -> list[Any]:
        if self.bug:
            return [pytest.mark.xfail(strict=True, reason=f"BUG: {self.bug}")]
        return []


CATALOGUE: dict[str, Attack] = {}


def _register(
    expect: Union[Reason, Sequence[Reason], Accept],
    *,
    header_values: bool = False,
    bug: Optional[str] = None,
    bait: bool = False,
    name: Optional[str] = None,
    doc: Optional[str] = None,
) -> Callable[[Callable[[Forge], Any]], Callable[[Forge], Any]]:
    """Add the decorated builder to the catalogue under its function name.

    A builder returns a token (sent as ``Authorization: Bearer <token>``) or,
    with ``header_values=True``, the list of raw ``Authorization`` values.
    """
    if isinstance(expect, Reason):
        expect = frozenset({expect})
    elif not isinstance(expect, Accept):
        expect = frozenset(expect)

    def decorate(fn: Callable[[Forge], Any]) -> Callable[[Forge], Any]:
        def build(forge: Forge) -> list[str]:
            result = fn(forge)
            return list(result) if header_values else [f"Bearer {result}"]

        attack_name = name or fn.__name__
        assert attack_name not in CATALOGUE, attack_name
        text = doc if doc is not None else (fn.__doc__ or "").strip()
        CATALOGUE[attack_name] = Attack(attack_name, build, expect, text, bug, bait)  # type: ignore[arg-type]
        return fn

    return decorate


MALFORMED = Reason.MALFORMED_TOKEN
BAD_ALG = Reason.BAD_ALGORITHM
BAD_SIG = Reason.BAD_SIGNATURE
UNSUPPORTED = Reason.UNSUPPORTED_HEADER
ALICE = Accept("alice")

# ---- alg: none -------------------------------------------------------------


def _alg_none_unsigned(alg: str) -> Callable[[Forge], str]:
    return lambda f: f"{b64_json({'alg': alg, 'typ': 'JWT'})}.{b64_json(f.claims(sub='admin'))}."


def _alg_none_with_valid_hmac(alg: str) -> Callable[[Forge], str]:
    # Even an HMAC made with the real secret must not make `none` acceptable.
    return lambda f: f.real(header={"alg": alg, "typ": "JWT"}, sub="admin")


@_register([MALFORMED, BAD_ALG])
def alg_none_lowercase_unsigned(f: Forge) -> str:
    """alg "none" and an empty signature (RFC 7518 §3.6 unsecured JWS)."""
    return _alg_none_unsigned("none")(f)


@_register([MALFORMED, BAD_ALG])
def alg_none_capitalised_unsigned(f: Forge) -> str:
    """alg "None": case variants slipped past libraries that blocked only "none"."""
    return _alg_none_unsigned("None")(f)


@_register([MALFORMED, BAD_ALG])
def alg_none_uppercase_unsigned(f: Forge) -> str:
    """alg "NONE" with an empty signature."""
    return _alg_none_unsigned("NONE")(f)


@_register(BAD_ALG)
def alg_none_lowercase_with_valid_hmac(f: Forge) -> str:
    """alg "none" but carrying a signature (here even a valid HS256 MAC)."""
    return _alg_none_with_valid_hmac("none")(f)


@_register(BAD_ALG)
def alg_none_capitalised_with_valid_hmac(f: Forge) -> str:
    """alg "None" carrying a valid HS256 MAC."""
    return _alg_none_with_valid_hmac("None")(f)


@_register(BAD_ALG)
def alg_none_uppercase_with_valid_hmac(f: Forge) -> str:
    """alg "NONE" carrying a valid HS256 MAC."""
    return _alg_none_with_valid_hmac("NONE")(f)


@_register(BAD_ALG)
def alg_none_with_junk_signature(f: Forge) -> str:
    """alg "none" with a non-empty junk signature part."""
    return f"{b64_json({'alg': 'none'})}.{b64_json(f.claims(sub='admin'))}.c2lnbmF0dXJl"


@_register([MALFORMED, BAD_ALG])
def alg_none_via_pyjwt(f: Forge) -> str:
    """An unsecured JWT exactly as PyJWT itself produces it."""
    return jwt.encode(f.claims(sub="admin"), None, algorithm="none")


@_register(BAD_ALG)
def alg_missing_with_valid_hmac(f: Forge) -> str:
    """No alg at all: the verifier must not fall back to a default."""
    return f.real(header={"typ": "JWT"})


@_register(BAD_ALG)
def alg_empty_string_with_valid_hmac(f: Forge) -> str:
    """alg "" (falsy) with a valid MAC."""
    return f.real(header={"alg": ""})


@_register(BAD_ALG)
def alg_lowercase_hs256_with_valid_hmac(f: Forge) -> str:
    """alg "hs256": alg values are case-sensitive (RFC 7515 §4.1.1)."""
    return f.real(header={"alg": "hs256"})


@_register(BAD_ALG)
def alg_as_list_with_valid_hmac(f: Forge) -> str:
    """alg ["HS256"]: a non-string alg."""
    return f.real(header={"alg": ["HS256"]})


# ---- key confusion: public key material as the HMAC secret -------------------


@_register([BAD_SIG, BAD_ALG])
def hs256_signed_with_rsa_public_key_pem(f: Forge) -> str:
    """The classic RS256->HS256 confusion: HMAC keyed with the RSA public key PEM text."""
    return hmac_token(HS256_HEADER, f.claims(sub="admin"), ATTACKER.rsa_public_pem)


@_register([BAD_SIG, BAD_ALG])
def hs256_signed_with_rsa_public_key_pem_pkcs1(f: Forge) -> str:
    """Same, with the PKCS#1 "RSA PUBLIC KEY" PEM spelling."""
    return hmac_token(HS256_HEADER, f.claims(sub="admin"), ATTACKER.rsa_public_pem_pkcs1)


@_register([BAD_SIG, BAD_ALG])
def hs256_signed_with_rsa_public_key_jwk_json(f: Forge) -> str:
    """HMAC keyed with the RSA public key's JWK JSON text."""
    return hmac_token(HS256_HEADER, f.claims(sub="admin"), ATTACKER.rsa_public_jwk.encode())


@_register([BAD_SIG, BAD_ALG])
def hs256_signed_with_ec_public_key_pem(f: Forge) -> str:
    """HMAC keyed with an EC (P-256) public key PEM text."""
    return hmac_token(HS256_HEADER, f.claims(sub="admin"), ATTACKER.ec_public_pem)


@_register([BAD_SIG, BAD_ALG])
def hs256_signed_with_ec_public_key_jwk_json(f: Forge) -> str:
    """HMAC keyed with the EC public key's JWK JSON text."""
    return hmac_token(HS256_HEADER, f.claims(sub="admin"), ATTACKER.ec_public_jwk.encode())


@_register([BAD_SIG, BAD_ALG])
def hs256_signed_with_x509_certificate_pem(f: Forge) -> str:
    """HMAC keyed with a certificate's PEM text."""
    return hmac_token(HS256_HEADER, f.claims(sub="admin"), ATTACKER.certificate_pem)


# ---- algorithms that are not configured ------------------------------------


@_register(BAD_ALG)
def hs384_token_signed_with_the_real_secret(f: Forge) -> str:
    """HS384 with the right secret: the header must not choose the algorithm."""
    return hmac_token({"alg": "HS384", "typ": "JWT"}, f.claims(), f.key, hashlib.sha384)


@_register(BAD_ALG)
def hs512_token_signed_with_the_real_secret(f: Forge) -> str:
    """HS512 with the right secret."""
    return hmac_token({"alg": "HS512", "typ": "JWT"}, f.claims(), f.key, hashlib.sha512)


@_register(BAD_ALG)
def rs256_token_signed_by_attacker_key(f: Forge) -> str:
    """RS256 signed with the attacker's RSA key."""
    return jwt.encode(f.claims(sub="admin"), ATTACKER.rsa_private, algorithm="RS256")


@_register(BAD_ALG)
def ps256_token_signed_by_attacker_key(f: Forge) -> str:
    """PS256 (RSASSA-PSS) signed with the attacker's RSA key."""
    return jwt.encode(f.claims(sub="admin"), ATTACKER.rsa_private, algorithm="PS256")


@_register(BAD_ALG)
def es256_token_signed_by_attacker_key(f: Forge) -> str:
    """ES256 signed with the attacker's EC key."""
    return jwt.encode(f.claims(sub="admin"), ATTACKER.ec_private, algorithm="ES256")


# ---- signature tampering ---------------------------------------------------


@_register(MALFORMED)
def signature_stripped_keeping_the_dot(f: Forge) -> str:
    """header.payload. : the signature removed, its separator kept."""
    h, p, _ = f.pyjwt(sub="admin").split(".")
    return f"{h}.{p}."


@_register(MALFORMED)
def signature_stripped_with_the_dot(f: Forge) -> str:
    """header.payload : only two parts."""
    h, p, _ = f.pyjwt(sub="admin").split(".")
    return f"{h}.{p}"


@_register([BAD_SIG, MALFORMED])
def signature_truncated_by_three_chars(f: Forge) -> str:
    """The MAC cut short: a prefix of the right MAC is not the MAC."""
    h, p, s = f.pyjwt().split(".")
    return f"{h}.{p}.{s[:-3]}"


@_register([BAD_SIG, MALFORMED])
def signature_truncated_to_one_char_pair(f: Forge) -> str:
    """The MAC cut to (at most) its first byte: guessable if prefixes were compared."""
    h, p, s = f.pyjwt().split(".")
    return f"{h}.{p}.{s[:2]}"


@_register(BAD_SIG)
def signature_extended_with_extra_bytes(f: Forge) -> str:
    """The right MAC followed by three extra bytes."""
    h, p, s = f.pyjwt().split(".")
    raw = base64.urlsafe_b64decode(s + "=")
    return f"{h}.{p}.{b64(raw + b'xyz')}"


@_register(MALFORMED)
def signature_reencoded_non_canonical_base64url(f: Forge) -> str:
    """The right MAC bytes, spelled with different unused trailing bits."""
    h, p, s = f.pyjwt().split(".")
    altered = non_canonical(s)
    assert altered is not None and altered != s
    return f"{h}.{p}.{altered}"


@_register(MALFORMED)
def signature_with_base64_padding(f: Forge) -> str:
    """The right MAC with a trailing '=' (base64url in JWS has no padding)."""
    return f.pyjwt() + "="


@_register(MALFORMED)
def signature_with_double_base64_padding(f: Forge) -> str:
    """The right MAC with '==' appended."""
    return f.pyjwt() + "=="


@_register(MALFORMED)
def signature_in_standard_base64_alphabet(f: Forge) -> str:
    """The right MAC spelled with '+' and '/' instead of '-' and '_'."""
    for n in range(1000):
        h, p, s = f.pyjwt(jti=f"n{n}").split(".")
        if "-" in s or "_" in s:
            return f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}"
    raise AssertionError("no signature with - or _ found")


@_register(BAD_SIG)
def signature_all_zero_bytes(f: Forge) -> str:
    """32 zero bytes where the MAC goes."""
    h, p, _ = f.pyjwt(sub="admin").split(".")
    return f"{h}.{p}.{b64(bytes(32))}"


@_register(BAD_SIG)
def signature_copied_from_another_valid_token(f: Forge) -> str:
    """A valid MAC, but of a different token."""
    h, p, _ = f.pyjwt(sub="admin").split(".")
    _, _, s = f.pyjwt(sub="alice").split(".")
    return f"{h}.{p}.{s}"


@_register(BAD_SIG)
def payload_swapped_between_two_valid_tokens(f: Forge) -> str:
    """alice's header and MAC around admin's (validly signed elsewhere) payload."""
    h, _, s = f.pyjwt(sub="alice").split(".")
    _, p, _ = f.pyjwt(sub="admin").split(".")
    return f"{h}.{p}.{s}"


@_register(BAD_SIG)
def header_swapped_between_two_valid_tokens(f: Forge) -> str:
    """The header of another valid token (with a kid) in front of alice's payload and MAC."""
    h2, _, _ = f.real(header={"alg": "HS256", "typ": "JWT", "kid": "k2"}).split(".")
    _, p, s = f.real().split(".")
    return f"{h2}.{p}.{s}"


@_register([BAD_SIG, MALFORMED])
def payload_reencoded_non_canonical_base64url(f: Forge) -> str:
    """The payload spelled differently (same bytes), original MAC kept."""
    for n in range(100):
        h, p, s = f.pyjwt(jti=f"n{n}").split(".")
        altered = non_canonical(p)
        if altered:
            return f"{h}.{altered}.{s}"
    raise AssertionError("no payload with unused bits found")


@_register(MALFORMED)
def payload_non_canonical_base64url_signed_with_the_real_secret(f: Forge) -> str:
    """A non-canonical payload spelling MACed as is with the real secret: one token, one spelling."""
    for n in range(100):
        payload = b64_json(f.claims(jti=f"n{n}"))
        altered = non_canonical(payload)
        if altered:
            header = b64_json(HS256_HEADER)
            signing_input = f"{header}.{altered}"
            mac = hmac.new(f.key, signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{b64(mac)}"
    raise AssertionError("no payload with unused bits found")


@_register(BAD_SIG)
def token_signed_with_another_secret(f: Forge) -> str:
    """A well-formed token MACed with a secret that is not ours."""
    return hmac_token(HS256_HEADER, f.claims(sub="admin"), b"not-the-secret-" * 4)


@_register(BAD_SIG)
def token_signed_with_empty_secret(f: Forge) -> str:
    """HMAC with an empty key (what a missing secret would verify against)."""
    return hmac_token(HS256_HEADER, f.claims(sub="admin"), b"")


@_register(MALFORMED)
def token_with_a_fourth_segment(f: Forge) -> str:
    """A valid token with an extra ".part" appended."""
    return f.pyjwt() + ".ZXh0cmE"


@_register(MALFORMED)
def jwe_shaped_five_segments(f: Forge) -> str:
    """A JWE-shaped (five part) token: encrypted tokens are not accepted."""
    return ".".join([b64_json({"alg": "dir", "enc": "A128GCM"}), "", "aXY", "Y2lwaGVy", "dGFn"])


# ---- kid -------------------------------------------------------------------

KID_PATH = "../../../../../../dev/null"
KID_SQL = "x' UNION SELECT 'attacker-key' -- "


@_register(ALICE)
def kid_path_traversal_on_a_valid_token_is_ignored(f: Forge) -> str:
    """kid '../../dev/null' on a token signed with the real secret: kid means nothing here."""
    return f.real(header={"alg": "HS256", "typ": "JWT", "kid": KID_PATH})


@_register(BAD_SIG)
def kid_path_traversal_signed_with_dev_null_contents(f: Forge) -> str:
    """kid '../../dev/null' and a MAC keyed with /dev/null's contents (empty)."""
    return hmac_token({"alg": "HS256", "kid": KID_PATH}, f.claims(sub="admin"), b"")


@_register(ALICE)
def kid_sql_injection_on_a_valid_token_is_ignored(f: Forge) -> str:
    """kid carrying SQL text on a genuine token: never interpreted."""
    return f.real(header={"alg": "HS256", "kid": KID_SQL})


@_register(BAD_SIG)
def kid_sql_injection_signed_with_the_injected_key(f: Forge) -> str:
    """kid "x' UNION SELECT 'attacker-key' --" and a MAC keyed with 'attacker-key'."""
    return hmac_token({"alg": "HS256", "kid": KID_SQL}, f.claims(sub="admin"), b"attacker-key")


@_register(ALICE)
def kid_integer_on_a_valid_token_is_ignored(f: Forge) -> str:
    """A non-string kid (7) on a genuine token."""
    return f.real(header={"alg": "HS256", "kid": 7})


@_register(ALICE)
def kid_object_on_a_valid_token_is_ignored(f: Forge) -> str:
    """A non-string kid (an object) on a genuine token."""
    return f.real(header={"alg": "HS256", "kid": {"path": KID_PATH, "$ne": None}})


@_register(BAD_SIG)
def kid_integer_forged(f: Forge) -> str:
    """kid 0 (an index into a key list?) with an attacker MAC."""
    return hmac_token({"alg": "HS256", "kid": 0}, f.claims(sub="admin"), ATTACKER.oct_secret)


@_register(BAD_SIG)
def kid_object_forged(f: Forge) -> str:
    """kid as an object with an attacker MAC."""
    header = {"alg": "HS256", "kid": {"file": KID_PATH}}
    return hmac_token(header, f.claims(sub="admin"), ATTACKER.oct_secret)


# ---- jku / x5u / jwk / x5c: keys the token tells us to trust ------------------


@_register(BAD_ALG, bait=True)
def jku_attacker_jwks_with_rs256_signed_by_attacker(f: Forge) -> str:
    """jku -> the attacker's JWKS, RS256 signed with the key published there."""
    headers = {"jku": f"{f.attacker_url}/jwks.json", "kid": "attacker"}
    return jwt.encode(f.claims(sub="admin"), ATTACKER.rsa_private, "RS256", headers=headers)


@_register(BAD_SIG, bait=True)
def jku_attacker_jwks_with_hs256_signed_with_attacker_oct_key(f: Forge) -> str:
    """jku -> the attacker's JWKS holding an oct key; HS256 MAC with that key."""
    header = {"alg": "HS256", "jku": f"{f.attacker_url}/jwks.json", "kid": "attacker-oct"}
    return hmac_token(header, f.claims(sub="admin"), ATTACKER.oct_secret)


@_register(BAD_ALG, bait=True)
def x5u_attacker_certificate_with_rs256(f: Forge) -> str:
    """x5u -> the attacker's certificate, RS256 signed with its key."""
    headers = {"x5u": f"{f.attacker_url}/cert.pem"}
    return jwt.encode(f.claims(sub="admin"), ATTACKER.rsa_private, "RS256", headers=headers)


@_register(BAD_SIG, bait=True)
def x5u_attacker_certificate_with_hs256(f: Forge) -> str:
    """x5u -> the attacker's certificate; HS256 MAC keyed with its PEM text."""
    header = {"alg": "HS256", "x5u": f"{f.attacker_url}/cert.pem"}
    return hmac_token(header, f.claims(sub="admin"), ATTACKER.certificate_pem)


@_register(BAD_ALG)
def jwk_header_embedding_attacker_rsa_key(f: Forge) -> str:
    """An embedded jwk (the attacker's RSA public key), RS256 signed with it (CVE-2018-0114 style)."""
    headers = {"jwk": json.loads(ATTACKER.rsa_public_jwk)}
    return jwt.encode(f.claims(sub="admin"), ATTACKER.rsa_private, "RS256", headers=headers)


@_register(BAD_SIG)
def jwk_header_embedding_attacker_oct_key(f: Forge) -> str:
    """An embedded symmetric jwk, HS256 MAC with that key."""
    header = {"alg": "HS256", "jwk": {"kty": "oct", "k": b64(ATTACKER.oct_secret)}}
    return hmac_token(header, f.claims(sub="admin"), ATTACKER.oct_secret)


@_register(BAD_ALG)
def x5c_header_embedding_attacker_certificate(f: Forge) -> str:
    """An embedded self-signed certificate chain, RS256 signed with its key."""
    headers = {"x5c": [ATTACKER.certificate_der_b64]}
    return jwt.encode(f.claims(sub="admin"), ATTACKER.rsa_private, "RS256", headers=headers)


@_register(ALICE, bait=True)
def jku_x5u_jwk_on_a_valid_token_are_ignored(f: Forge) -> str:
    """jku, x5u and jwk on a genuine token: ignored (and never fetched)."""
    header = {
        "alg": "HS256",
        "typ": "JWT",
        "jku": f"{f.attacker_url}/jwks.json",
        "x5u": f"{f.attacker_url}/cert.pem",
        "jwk": {"kty": "oct", "k": b64(ATTACKER.oct_secret)},
    }
    return f.real(header=header)


# ---- crit / b64 / zip ------------------------------------------------------


@_register(UNSUPPORTED)
def crit_unknown_extension(f: Forge) -> str:
    """crit naming an extension we do not understand (RFC 7515 §4.1.11: must reject)."""
    return f.real(header={"alg": "HS256", "crit": ["x-attacker"], "x-attacker": True})


@_register(UNSUPPORTED)
def crit_listing_a_registered_claim(f: Forge) -> str:
    """crit ["exp"]: names a claim, not a header extension."""
    return f.real(header={"alg": "HS256", "crit": ["exp"]})


@_register(UNSUPPORTED)
def crit_empty_list(f: Forge) -> str:
    """crit [] (RFC 7515 forbids an empty list)."""
    return f.real(header={"alg": "HS256", "crit": []})


@_register(UNSUPPORTED)
def b64_false_unencoded_payload_option(f: Forge) -> str:
    """b64: false without crit (RFC 7797)."""
    return f.real(header={"alg": "HS256", "b64": False})


@_register(UNSUPPORTED)
def b64_false_with_crit(f: Forge) -> str:
    """b64: false with crit ["b64"] and a MAC over the base64url payload."""
    return f.real(header={"alg": "HS256", "b64": False, "crit": ["b64"]})


@_register(MALFORMED)
def b64_false_with_detached_payload(f: Forge) -> str:
    """RFC 7797 detached form: empty payload part, MAC over the raw payload."""
    header = b64_json({"alg": "HS256", "b64": False, "crit": ["b64"]})
    raw = json.dumps(f.claims(sub="admin")).encode()
    mac = hmac.new(f.key, header.encode() + b"." + raw, hashlib.sha256).digest()
    return f"{header}..{b64(mac)}"


@_register(MALFORMED)
def zip_deflate_header_with_compressed_payload(f: Forge) -> str:
    """zip DEF and a deflated payload: nothing is ever decompressed (RFC 8725 §3.6)."""
    payload = zlib.compress(json.dumps(f.claims()).encode())
    return f.real(header={"alg": "HS256", "zip": "DEF"}, payload=payload)


# ---- duplicate JSON keys -----------------------------------------------------


@_register(UNSUPPORTED)
def duplicate_alg_in_header_none_then_hs256(f: Forge) -> str:
    """{"alg":"none","alg":"HS256"}: parsers disagree on which one wins."""
    return f.real(header=b'{"alg":"none","alg":"HS256","typ":"JWT"}')


@_register(UNSUPPORTED)
def duplicate_alg_in_header_hs256_then_none(f: Forge) -> str:
    """{"alg":"HS256","alg":"none"}."""
    return f.real(header=b'{"alg":"HS256","alg":"none","typ":"JWT"}')


@_register(MALFORMED)
def duplicate_sub_in_payload_alice_then_admin(f: Forge) -> str:
    """{"sub":"alice",...,"sub":"admin"}: the signer and we might read different users."""
    body = json.dumps(f.claims(sub="alice"))[:-1] + ', "sub": "admin"}'
    return f.real(payload=body.encode())


@_register(MALFORMED)
def duplicate_exp_in_payload(f: Forge) -> str:
    """Two exp values, an expired one and a far-future one."""
    body = json.dumps(f.claims(exp=int(f.now) - 3600))[:-1] + f', "exp": {int(f.now) + 10**6}}}'
    return f.real(payload=body.encode())


@_register(MALFORMED)
def duplicate_key_in_a_nested_payload_object(f: Forge) -> str:
    """A duplicate key inside a nested object."""
    body = json.dumps(f.claims())[:-1] + ', "ctx": {"role": "Gamma", "role": "Admin"}}'
    return f.real(payload=body.encode())


# ---- non-object header / payload (each validly MACed with the real secret) ---------

_NON_OBJECTS = {"array": b'["alg","HS256"]', "string": b'"HS256"', "number": b"256", "null": b"null"}

for _kind, _raw in _NON_OBJECTS.items():
    _register([MALFORMED, UNSUPPORTED], name=f"header_json_{_kind}",
              doc=f"The JOSE header is a JSON {_kind}, not an object.")(
        (lambda raw: lambda f: f.real(header=raw))(_raw)
    )
    _register(MALFORMED, name=f"payload_json_{_kind}",
              doc=f"The claims set is a JSON {_kind}, not an object.")(
        (lambda raw: lambda f: f.real(payload=raw))(_raw)
    )


@_register(MALFORMED)
def payload_json_array_wrapping_the_claims(f: Forge) -> str:
    """[{claims}]: an array whose only element is a valid claims object."""
    return f.real(payload=[f.claims()])


# ---- not UTF-8 -------------------------------------------------------------------


@_register([UNSUPPORTED, MALFORMED])
def header_with_latin1_bytes(f: Forge) -> str:
    """A header that is Latin-1, not UTF-8 (RFC 8725 §3.7)."""
    return f.real(header='{"alg":"HS256","kid":"caf\u00e9"}'.encode("latin-1"))


@_register([UNSUPPORTED, MALFORMED])
def header_with_truncated_utf8_sequence(f: Forge) -> str:
    """A header with a lone UTF-8 lead byte."""
    return f.real(header=b'{"alg":"HS256","kid":"\xe2\x82"}')


@_register(MALFORMED)
def payload_with_latin1_bytes(f: Forge) -> str:
    """A claims set encoded as Latin-1 ("sub":"al\\xe9x")."""
    return f.real(payload=json.dumps(f.claims(sub="al\u00e9x"), ensure_ascii=False).encode("latin-1"))


@_register(MALFORMED)
def payload_with_overlong_utf8_encoding(f: Forge) -> str:
    """An overlong UTF-8 encoding of '/' (0xC0 0xAF) inside sub."""
    body = json.dumps(f.claims(sub="PLACEHOLDER")).encode().replace(b"PLACEHOLDER", b"alice\xc0\xaf")
    return f.real(payload=body)


@_register(MALFORMED)
def payload_encoded_as_utf16(f: Forge) -> str:
    """The claims set encoded as UTF-16 (with BOM)."""
    return f.real(payload=json.dumps(f.claims()).encode("utf-16"))


@_register(MALFORMED)
def payload_with_utf8_byte_order_mark(f: Forge) -> str:
    """A UTF-8 BOM in front of the claims JSON (RFC 8259 §8.1: must not be added)."""
    return f.real(payload=b"\xef\xbb\xbf" + json.dumps(f.claims()).encode())


@_register([Reason.BAD_SUBJECT, MALFORMED, Reason.BAD_CLAIM, Reason.UNKNOWN_USER])
def sub_lone_utf16_surrogate(f: Forge) -> str:
    """sub "\\ud800": valid JSON text, but not a Unicode string that UTF-8 can carry."""
    body = json.dumps(f.claims(sub="PLACEHOLDER")).replace("PLACEHOLDER", "\\ud800")
    return f.real(payload=body.encode())


# ---- size ------------------------------------------------------------------------


def sized_token(f: Forge, length: int) -> str:
    """A genuine token (sub alice) of exactly ``length`` characters."""
    for kid in range(4):
        header = {"alg": "HS256", "typ": "JWT", "kid": "k" * kid}
        base = f.real(header=header, pad="")
        for n in range(max(0, (length - len(base)) * 3 // 4 - 4), length):
            token = f.real(header=header, pad="x" * n)
            if len(token) == length:
                return token
            if len(token) > length:
                break
    raise AssertionError(f"cannot build a token of {length} characters")


@_register(Reason.TOKEN_TOO_LARGE)
def oversized_token_8193_chars(f: Forge) -> str:
    """A genuine token one character over the 8,192 limit: refused before decoding."""
    token = sized_token(f, MAX_TOKEN_CHARS + 1)
    assert len(token) == 8193
    return token


@_register(ALICE)
def token_of_exactly_8192_chars_is_accepted(f: Forge) -> str:
    """The boundary control: a genuine token of exactly 8,192 characters."""
    return sized_token(f, MAX_TOKEN_CHARS)


@_register(Reason.TOKEN_TOO_LARGE)
def oversized_garbage_token_64k(f: Forge) -> str:
    """64 KiB of base64url characters and dots."""
    return ("A" * 21845 + ".") * 3


# ---- time (leeway 30 s) ----------------------------------------------------------


@_register(Reason.EXPIRED)
def expired_exactly_at_the_leeway(f: Forge) -> str:
    """exp + leeway == now: expired (the boundary belongs to "expired")."""
    return f.pyjwt(exp=int(f.now) - LEEWAY)


@_register(Reason.EXPIRED)
def expired_just_beyond_the_leeway(f: Forge) -> str:
    """exp one second further back than the leeway."""
    return f.pyjwt(exp=int(f.now) - LEEWAY - 1)


@_register(ALICE)
def expired_but_within_the_leeway_is_accepted(f: Forge) -> str:
    """exp a little in the past, inside the leeway: clock skew is tolerated."""
    return f.pyjwt(exp=int(f.now) - LEEWAY + 1 + int(f.slack))


@_register(Reason.EXPIRED)
def expired_long_ago(f: Forge) -> str:
    """exp 0 (1970)."""
    return f.pyjwt(exp=0)


@_register(ALICE)
def nbf_exactly_at_the_leeway_is_accepted(f: Forge) -> str:
    """nbf == now + leeway: still accepted."""
    return f.pyjwt(nbf=int(f.now) + LEEWAY)


@_register(Reason.NOT_YET_VALID)
def nbf_just_beyond_the_leeway(f: Forge) -> str:
    """nbf one second beyond the leeway."""
    return f.pyjwt(nbf=int(f.now) + LEEWAY + 1 + int(f.slack))


@_register(ALICE)
def iat_in_future_exactly_at_the_leeway_is_accepted(f: Forge) -> str:
    """iat == now + leeway: accepted."""
    return f.pyjwt(iat=int(f.now) + LEEWAY)


@_register(Reason.ISSUED_IN_FUTURE)
def iat_in_future_just_beyond_the_leeway(f: Forge) -> str:
    """iat one second beyond the leeway."""
    return f.pyjwt(iat=int(f.now) + LEEWAY + 1 + int(f.slack))


@_register(Reason.MISSING_CLAIM)
def exp_missing(f: Forge) -> str:
    """No exp: a token that would never expire."""
    return f.pyjwt(exp=...)


@_register(Reason.BAD_CLAIM)
def exp_as_a_string(f: Forge) -> str:
    """exp "9999999999" (a string, not a NumericDate)."""
    return f.real(exp="9999999999")


@_register(Reason.BAD_CLAIM)
def exp_as_a_boolean(f: Forge) -> str:
    """exp true (a bool is an int in Python)."""
    return f.real(exp=True)


@_register(Reason.BAD_CLAIM)
def exp_beyond_2_pow_53(f: Forge) -> str:
    """exp 2**60: far future and not exactly representable in JSON numbers."""
    return f.real(exp=2**60)


@_register(Reason.BAD_CLAIM)
def nbf_as_a_string(f: Forge) -> str:
    """nbf "0"."""
    return f.real(nbf="0")


# ---- subject and users -----------------------------------------------------------


@_register(Reason.MISSING_CLAIM)
def sub_missing(f: Forge) -> str:
    """No sub."""
    return f.pyjwt(sub=...)


for _name, _value in {
    "empty": "",
    "whitespace_only": "   ",
    "tab_and_newline_only": "\t\n",
    "integer": 1,
    "null": None,
    "list": ["admin"],
    "object": {"username": "admin"},
    "boolean": True,
}.items():
    _register(Reason.BAD_SUBJECT, name=f"sub_{_name}",
              doc=f"sub is {_value!r}: not a non-empty string.")(
        (lambda value: lambda f: f.real(sub=value))(_value)
    )


@_register(Reason.UNKNOWN_USER)
def sub_unknown_user(f: Forge) -> str:
    """A genuine token for a user name that does not exist."""
    return f.pyjwt(sub="nobody")


@_register(Reason.UNKNOWN_USER)
def sub_unknown_email(f: Forge) -> str:
    """A genuine token for an email that matches no user."""
    return f.pyjwt(sub="nobody@example.com")


@_register(Reason.INACTIVE_USER)
def sub_inactive_user(f: Forge) -> str:
    """A genuine token for a deactivated user (carol)."""
    return f.pyjwt(sub="carol")


@_register(Reason.INACTIVE_USER)
def sub_inactive_user_by_email(f: Forge) -> str:
    """A genuine token naming the deactivated user by email."""
    return f.pyjwt(sub="carol@example.com")


@_register(Reason.UNKNOWN_USER)
def sub_sql_injection(f: Forge) -> str:
    """sub "admin' OR '1'='1": looked up as data, never as SQL."""
    return f.pyjwt(sub="admin' OR '1'='1")


@_register(Reason.UNKNOWN_USER)
def sub_sql_like_wildcard(f: Forge) -> str:
    """sub "%": an exact match, not a LIKE pattern."""
    return f.pyjwt(sub="%")


# ---- issuer, audience, type ------------------------------------------------------


@_register(Reason.BAD_ISSUER)
def iss_another_issuer(f: Forge) -> str:
    """A genuine MAC but another issuer (RFC 8725 §3.8)."""
    return f.pyjwt(iss="https://evil.example")


@_register(Reason.BAD_ISSUER)
def iss_case_variant(f: Forge) -> str:
    """iss "Superset-MCP": compared exactly."""
    return f.pyjwt(iss="Superset-MCP")


@_register(Reason.MISSING_CLAIM)
def iss_missing(f: Forge) -> str:
    """No iss."""
    return f.pyjwt(iss=...)


@_register(Reason.BAD_AUDIENCE)
def aud_token_for_another_service_replayed(f: Forge) -> str:
    """A token minted for another audience, replayed here (RFC 8725 §3.9)."""
    return f.pyjwt(aud="some-other-service")


@_register(Reason.BAD_AUDIENCE)
def aud_empty_list(f: Forge) -> str:
    """aud []."""
    return f.pyjwt(aud=[])


@_register(Reason.MISSING_CLAIM)
def aud_missing(f: Forge) -> str:
    """No aud."""
    return f.pyjwt(aud=...)


@_register(ALICE)
def aud_list_containing_ours_is_accepted(f: Forge) -> str:
    """aud ["x", ours]: contains our audience."""
    return f.pyjwt(aud=["some-other-service", AUDIENCE])


@_register(UNSUPPORTED)
def typ_security_event_token(f: Forge) -> str:
    """typ "secevent+jwt": another kind of JWT must not pass as an access token (§3.11)."""
    return f.real(header={"alg": "HS256", "typ": "secevent+jwt"})


@_register(UNSUPPORTED)
def typ_jose_json(f: Forge) -> str:
    """typ "JOSE+JSON" (the JSON serialisation's type)."""
    return f.real(header={"alg": "HS256", "typ": "JOSE+JSON"})


@_register(UNSUPPORTED)
def typ_non_string(f: Forge) -> str:
    """typ 1."""
    return f.real(header={"alg": "HS256", "typ": 1})


# ---- the Authorization header itself -----------------------------------------------


def _headers(expect: Any, **kw: Any) -> Callable[[Callable[[Forge], Any]], Callable[[Forge], Any]]:
    return _register(expect, header_values=True, **kw)


@_headers(Reason.MISSING_TOKEN)
def no_authorization_header(f: Forge) -> list[str]:
    """No Authorization header at all: a bare challenge."""
    return []


@_headers(Reason.MISSING_TOKEN)
def empty_authorization_header(f: Forge) -> list[str]:
    """Authorization: (empty)."""
    return [""]


@_headers(Reason.INVALID_REQUEST)
def two_authorization_headers(f: Forge) -> list[str]:
    """The same genuine token in two Authorization headers."""
    token = f.pyjwt()
    return [f"Bearer {token}", f"Bearer {token}"]


@_headers(Reason.INVALID_REQUEST)
def two_authorization_headers_genuine_then_forged(f: Forge) -> list[str]:
    """A genuine token and a forged one: which would a proxy check, which the app?"""
    forged = hmac_token(HS256_HEADER, f.claims(sub="admin"), ATTACKER.oct_secret)
    return [f"Bearer {f.pyjwt()}", f"Bearer {forged}"]


@_headers(Reason.INVALID_REQUEST)
def bearer_with_two_tokens(f: Forge) -> list[str]:
    """Bearer <genuine> <forged>."""
    forged = hmac_token(HS256_HEADER, f.claims(sub="admin"), ATTACKER.oct_secret)
    return [f"Bearer {f.pyjwt()} {forged}"]


@_headers(Reason.INVALID_REQUEST)
def bearer_with_two_comma_separated_credentials(f: Forge) -> list[str]:
    """Bearer <genuine>, Bearer <genuine> in one header."""
    token = f.pyjwt()
    return [f"Bearer {token}, Bearer {token}"]


@_headers(Reason.INVALID_REQUEST)
def bearer_without_a_token(f: Forge) -> list[str]:
    """Authorization: Bearer."""
    return ["Bearer"]


@_headers(ALICE)
def bearer_with_extra_spaces_is_accepted(f: Forge) -> list[str]:
    """Bearer, three spaces, token: RFC 6750 allows 1*SP."""
    return [f"Bearer   {f.pyjwt()}"]


@_headers(ALICE)
def bearer_lowercase_scheme_is_accepted(f: Forge) -> list[str]:
    """bearer <token>: auth schemes are case-insensitive (RFC 9110 §11.1)."""
    return [f"bearer {f.pyjwt()}"]


@_headers(ALICE)
def bearer_uppercase_scheme_is_accepted(f: Forge) -> list[str]:
    """BEARER <token>."""
    return [f"BEARER {f.pyjwt()}"]


@_headers(Reason.MISSING_TOKEN)
def basic_scheme(f: Forge) -> list[str]:
    """Basic credentials: no bearer token offered, a bare challenge."""
    return ["Basic " + base64.b64encode(b"admin:password").decode()]


@_headers(Reason.MISSING_TOKEN)
def basic_scheme_carrying_the_jwt(f: Forge) -> list[str]:
    """A genuine JWT smuggled as a Basic password: only Bearer carries tokens."""
    return ["Basic " + base64.b64encode(f"alice:{f.pyjwt()}".encode()).decode()]


@_headers(Reason.MISSING_TOKEN)
def token_without_a_scheme(f: Forge) -> list[str]:
    """Authorization: <token> (no scheme)."""
    return [f.pyjwt()]


@_headers(Reason.MISSING_TOKEN)
def bearer_separated_by_a_tab(f: Forge) -> list[str]:
    """Bearer<TAB><token>: not 1*SP, so not a Bearer credential."""
    return [f"Bearer\t{f.pyjwt()}"]


@_headers(Reason.MISSING_TOKEN)
def scheme_lookalike_bearerx(f: Forge) -> list[str]:
    """Bearerx <token>."""
    return [f"Bearerx {f.pyjwt()}"]


@_headers(Reason.MISSING_TOKEN)
def dpop_scheme(f: Forge) -> list[str]:
    """DPoP <token>: another scheme, not accepted as Bearer."""
    return [f"DPoP {f.pyjwt()}"]


@_headers(MALFORMED)
def bearer_token_with_non_ascii_bytes(f: Forge) -> list[str]:
    """Bearer followed by bytes outside ASCII (sent as raw Latin-1 octets)."""
    return ["Bearer \xff\xfe\u00e9"]


@_headers(MALFORMED)
def bearer_token_with_trailing_semicolon(f: Forge) -> list[str]:
    """Bearer <genuine token>; : junk glued to the token."""
    return [f"Bearer {f.pyjwt()};"]


# --------------------------------------------------------------------------- for tests


def attack_params(predicate: Callable[[Attack], bool] = lambda a: True) -> list[Any]:
    """The catalogue as pytest params, ids = attack names, bugs as strict xfails."""
    return [
        pytest.param(attack, id=attack.name, marks=attack.marks())
        for attack in CATALOGUE.values()
        if predicate(attack)
    ]


@dataclass
class User:
    username: str
    email: str
    is_active: bool = True


class DatabaseLikeSecurityManager:
    """FAB's ``find_user`` over an in-memory table, behaving as a real database does:
    user names match case-insensitively (FAB's AUTH_USERNAME_CI default), emails
    exactly, and query text must be encodable as UTF-8 (what every DB driver does)."""

    def __init__(self) -> None:
        self.users = [
            User("admin", "admin@example.com"),
            User("alice", "alice@example.com"),
            User("carol", "carol@example.com", is_active=False),
        ]

    def find_user(self, username: Optional[str] = None, email: Optional[str] = None) -> Any:
        value = username or email
        if not value:
            return None
        value.encode("utf-8")  # raises UnicodeEncodeError like sqlite3/psycopg do
        if username:
            return next((u for u in self.users if u.username.lower() == username.lower()), None)
        return next((u for u in self.users if u.email == email), None)


# --------------------------------------------------------------------------- no I/O


_io_events: Optional[list[str]] = None
_AUDITED = ("open", "socket.", "urllib.", "http.", "subprocess.", "os.system", "os.exec",
            "os.posix_spawn", "os.spawn", "sqlite3.connect", "ctypes.dlopen", "shutil.")


def _audit(event: str, args: tuple) -> None:
    if _io_events is not None and event.startswith(_AUDITED):
        _io_events.append(f"{event} {args!r:.200}")


sys.addaudithook(_audit)


@contextlib.contextmanager
def no_io() -> Iterator[list[str]]:
    """Within the block, nothing may open a file, a socket or a URL.

    Two nets: the obvious functions are replaced by ones that raise, and a
    PEP 578 audit hook records any open/connect/request that gets past them
    (e.g. from C code). Yields the list of recorded events, which the caller
    asserts is empty.
    """
    import builtins
    import io
    import os
    import socket
    import urllib.request

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"I/O attempted during verification: {args!r:.200}")

    global _io_events
    events: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        for target, name in [
            (builtins, "open"), (io, "open"), (os, "open"),
            (urllib.request, "urlopen"), (socket, "create_connection"),
            (socket.socket, "connect"), (socket, "getaddrinfo"),
        ]:
            mp.setattr(target, name, refuse)
        _io_events = events
        try:
            yield events
        finally:
            _io_events = None


# --------------------------------------------------------------------------- key server


@dataclass
class KeyServer:
    """The attacker's key server on loopback: serves a JWKS and a certificate,
    and records every request so that tests can assert nothing was fetched.
    Under /idp/ it also plays the trusted identity provider for the JWKS mode."""

    url: str
    #: Requests for the attacker's material (anything outside /idp/).
    hits: list[str] = field(default_factory=list)
    #: Requests for the trusted provider's JWKS (/idp/jwks.json).
    idp_hits: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def key_server() -> Iterator[KeyServer]:
    server_state: dict[str, KeyServer] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/idp/"):  # the trusted provider's JWKS: not an attack
                server_state["s"].idp_hits.append(self.path)
                body = json.dumps(trusted_idp_jwks()).encode()
            else:
                server_state["s"].hits.append(self.path)
                body = (
                    ATTACKER.certificate_pem
                    if self.path.endswith(".pem")
                    else json.dumps(ATTACKER.jwks()).encode()
                )
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = KeyServer(f"http://127.0.0.1:{httpd.server_address[1]}")
    server_state["s"] = state
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def generic_body(reason: Reason) -> dict[str, str]:
    return TokenError(reason).body()
