"""Secrets and signatures are never compared with ``==``; the MAC check is PyJWT's
constant-time HMAC verification.

1. Static: every ``.py`` file under ``superset_mcp_jwt/`` is parsed with ``ast``;
   no ``==`` / ``!=`` comparison may have an operand that mentions a name or
   attribute containing ``secret``, ``signature``, ``key`` or ``sig``
   (case-insensitive). One comparison is allowed, by exact source text, with the
   reason written next to it -- and the allowance fails if it goes stale.
2. Dynamic: during ``TokenVerifier.verify`` the signature is checked by PyJWT's
   ``HMACAlgorithm.verify``, which calls ``hmac.compare_digest`` with the
   token's signature bytes; spies on both prove it, and prove that a wrong or
   truncated signature goes through the same constant-time path.
"""

from __future__ import annotations

import ast
import base64
import hmac
import time
from pathlib import Path
from typing import Any

import jwt
import jwt.algorithms
import pytest

import superset_mcp_jwt
from superset_mcp_jwt.errors import Reason, TokenError
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.tokens import TokenVerifier
from tests.documented import documented_config

from .conftest import AUDIENCE, ISSUER, Forge

PACKAGE = Path(superset_mcp_jwt.__file__).resolve().parent
SENSITIVE = ("secret", "signature", "key", "sig")

#: (file, exact source of the comparison) -> why it is not a timing leak.
ALLOWED = {
    ("superset_compat/action_log.py", "previous != signal.SIG_IGN"): (
        "which SIGTERM handler was installed before ours (the word 'sig' is a signal's "
        "here, not a signature's)."
    ),
    ("settings.py", "raw.strip() == PUBLISHED_EXAMPLE_SECRET.encode()"): (
        "start-up configuration check: the operator's own secret against the publicly "
        "documented example secret. It runs once, before the server accepts any request, "
        "so no attacker can time it, and the other operand is public."
    ),
}


def sensitive_names(node: ast.AST) -> list[str]:
    """Name ids and attribute names inside ``node`` that mention a sensitive word.

    What sits inside ``len(...)`` is skipped: comparing how many keys there are
    reveals nothing about any key.
    """
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len":
        return []
    found = []
    identifier = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    if identifier and any(word in identifier.lower() for word in SENSITIVE):
        found.append(identifier)
    for child in ast.iter_child_nodes(node):
        found.extend(sensitive_names(child))
    return found


def is_sql_clause(node: ast.Compare) -> bool:
    """``table.c.column == value``: SQLAlchemy builds a WHERE clause, Python compares nothing.

    The OAuth store looks codes and refresh tokens up by the SHA-256 of a 256-bit
    random secret, in the database's index: there is no byte-by-byte comparison
    in this process to time.
    """
    left = node.left
    return isinstance(left, ast.Attribute) and isinstance(left.value, ast.Attribute) and left.value.attr == "c"


def equality_comparisons() -> list[tuple[str, int, str, list[str]]]:
    """(file, line, source, sensitive names) of every ==/!= on a sensitive operand."""
    results = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops) or is_sql_clause(node):
                continue
            names = [n for operand in [node.left, *node.comparators] for n in sensitive_names(operand)]
            if names:
                rel = str(path.relative_to(PACKAGE))
                results.append((rel, node.lineno, ast.unparse(node), names))
    return results


def test_package_sources_are_found() -> None:
    files = {p.name for p in PACKAGE.rglob("*.py")}
    assert {"tokens.py", "settings.py", "flask_guard.py", "mcp_server.py"} <= files


def test_the_scan_catches_what_it_is_meant_to_catch() -> None:
    """The detector itself: flags secret/signature comparisons, not unrelated ones."""
    samples = {
        "signature == expected": True,
        "self._key != other": True,
        "settings.secret == b''": True,
        "sig_bytes == mac": True,
        "hmac.compare_digest(signature, expected)": False,  # not a Compare node
        "alg != self.settings.algorithm": False,
        "claims['iss'] != s.issuer": False,
        "len(keys) == 1": False,
        "len(secret) == 32": False,
        "secret[:len(prefix)] == prefix": True,
        "codes_table.c.code_hash == secret_hash(code)": False,  # a SQL clause, see is_sql_clause
        "record.code_hash == secret_hash(code)": True,  # a Python comparison of the same
    }
    for source, flagged in samples.items():
        node = ast.parse(source, mode="eval").body
        is_compare = isinstance(node, ast.Compare) and not is_sql_clause(node)
        hit = is_compare and bool(
            [n for operand in [node.left, *node.comparators] for n in sensitive_names(operand)]
        )
        assert hit == flagged, source


def test_no_secret_or_signature_is_compared_with_equality() -> None:
    offending = [
        f"{file}:{line}: {source}  (mentions {', '.join(names)})"
        for file, line, source, names in equality_comparisons()
        if (file, source) not in ALLOWED
    ]
    assert offending == [], "\n".join(offending)


def test_the_allowed_comparisons_still_exist_and_stay_out_of_request_handling() -> None:
    """The allowance is for exact source text; it must not outlive the code it names,
    and nothing allowed may sit in the per-request verification module."""
    present = {(file, source) for file, _, source, _ in equality_comparisons()}
    stale = [entry for entry in ALLOWED if entry not in present]
    assert stale == [], f"stale allowances: {stale}"
    assert all(file != "tokens.py" for file, _ in ALLOWED)


# --------------------------------------------------------------------------- dynamic

SECRET = "constant-Time-secret_7f3e9b1d5a2c4e6f8a0b1c2d3e4f5a6b7"
CONFIG = documented_config(SECRET)


def fresh_verifier() -> TokenVerifier:
    """A new verifier for each check, so that no earlier verification is remembered."""
    return TokenVerifier(Settings.from_config(CONFIG))


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    calls: dict[str, list[Any]] = {"compare_digest": [], "algorithm_verify": []}
    real_compare = hmac.compare_digest
    real_verify = jwt.algorithms.HMACAlgorithm.verify

    def compare_digest(a: Any, b: Any) -> bool:
        calls["compare_digest"].append((bytes(a), bytes(b)))
        return real_compare(a, b)

    def algorithm_verify(self: Any, msg: bytes, key: Any, sig: bytes) -> bool:
        calls["algorithm_verify"].append((msg, sig))
        return real_verify(self, msg, key, sig)

    monkeypatch.setattr(hmac, "compare_digest", compare_digest)
    monkeypatch.setattr(jwt.algorithms.HMACAlgorithm, "verify", algorithm_verify)
    return calls


def raw_signature(token: str) -> bytes:
    part = token.rsplit(".", 1)[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_genuine_token_is_checked_by_pyjwt_compare_digest(spies: dict[str, list[Any]]) -> None:
    token = Forge(SECRET, time.time()).pyjwt()
    assert fresh_verifier().verify(token)["sub"] == "alice"
    signing_input = token.rsplit(".", 1)[0].encode()
    assert spies["algorithm_verify"] == [(signing_input, raw_signature(token))]
    assert len(spies["compare_digest"]) == 1
    given, expected = spies["compare_digest"][0]
    assert raw_signature(token) in (given, expected)
    assert given == expected


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t.rsplit(".", 1)[0] + "." + base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode(), id="zero_signature"),
        pytest.param(lambda t: t[: t.rindex(".") + 1 + 40], id="truncated_signature"),
        pytest.param(lambda t: jwt.encode({"sub": "admin", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60},
                                          "a-different-secret-of-sufficient-length-0123", algorithm="HS256"), id="other_secret"),
    ],
)
def test_wrong_signatures_go_through_the_same_constant_time_compare(spies: dict[str, list[Any]], tamper: Any) -> None:
    token = tamper(Forge(SECRET, time.time()).pyjwt())
    with pytest.raises(TokenError) as info:
        fresh_verifier().verify(token)
    assert info.value.reason is Reason.BAD_SIGNATURE
    assert len(spies["algorithm_verify"]) == 1
    assert len(spies["compare_digest"]) == 1
    given, expected = spies["compare_digest"][0]
    assert raw_signature(token) in (given, expected) and given != expected


def test_no_signature_check_runs_for_a_token_refused_on_its_header(spies: dict[str, list[Any]]) -> None:
    """alg none is refused on the header: no MAC is computed for it at all."""
    token = jwt.encode({"sub": "admin", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}, None, algorithm="none")
    with pytest.raises(TokenError):
        fresh_verifier().verify(token)
    assert spies["algorithm_verify"] == [] and spies["compare_digest"] == []
