"""Nothing secret leaks through rejections: not to the client, not to the log.

A set of rejected tokens, each carrying distinctive CANARY claim values, goes
through the Flask guard (``tests/flask_app`` app) with the ``superset_mcp_jwt``
logger at DEBUG:

* default settings: no response (body or headers) and no log record at INFO or
  above contains the secret (or any 12-character piece of it), a token, a
  signature part, or a claim value; no record at any level contains the secret,
  a token or a signature;
* ``MCP_JWT_DEBUG_ERRORS = True``: claim values may now appear in the log (that
  is the point of the mode, and is checked), but never the secret, a full token
  or a signature part.

The same property for the real ``superset mcp run`` log is checked at the end
of ``test_attacks_http.py``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable

import jwt
import pytest
from flask import Flask

from superset_mcp_jwt.errors import Reason
from tests.flask_app.conftest import make_app

from .conftest import AUDIENCE, ISSUER, hmac_token

CANARY_CLAIMS = {"jti": "jti-CANARY", "department": "claim-CANARY", "email": "email-CANARY@example.com"}
CANARIES = [
    "CANARY",  # every distinctive value below contains it
    "issuer-CANARY", "user-CANARY", "audience-CANARY", "jti-CANARY", "claim-CANARY",
    "email-CANARY", "kid-CANARY", "alg-CANARY", "scope-CANARY",
]


def rejected_tokens(secret: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (token, claim values of that token that must not leak by default)."""
    now = int(time.time())

    def mint(key: str = secret, headers: Any = None, **claims: Any) -> str:
        payload = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 3600, **CANARY_CLAIMS, **claims}
        return jwt.encode(payload, key, algorithm="HS256", headers=headers)

    expired_at = now - 7211
    return {
        "bad_signature": (mint(key="another-secret-" * 4, sub="user-CANARY", iss="issuer-CANARY"), []),
        "wrong_issuer": (mint(iss="issuer-CANARY"), []),
        "unknown_user": (mint(sub="user-CANARY"), []),
        "unknown_user_by_email": (mint(sub="user-CANARY@example.com"), []),
        "expired": (mint(exp=expired_at), [str(expired_at)]),
        "wrong_audience": (mint(aud="audience-CANARY"), []),
        "inactive_user": (mint(sub="carol"), ["carol"]),
        "bad_algorithm": (
            hmac_token({"alg": "alg-CANARY", "kid": "kid-CANARY"},
                       {"sub": "user-CANARY", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 3600},
                       secret.encode()),
            [],
        ),
        "unsupported_typ": (mint(headers={"typ": "kid-CANARY"}), []),
        "bad_subject_type": (
            hmac_token({"alg": "HS256"},
                       {"sub": ["user-CANARY"], "iss": ISSUER, "aud": AUDIENCE, "exp": now + 3600},
                       secret.encode()),
            [],
        ),
        "future_iat": (mint(iat=now + 86_400 + 17), [str(now + 86_400 + 17)]),
        "malformed": ("CANARY-" + mint()[7:] + ".extra", []),
    }


def secret_pieces(secret: str, width: int = 12) -> list[str]:
    return [secret[i : i + width] for i in range(len(secret) - width + 1)]


def token_pieces(token: str) -> list[str]:
    """The token, its signature part, and the signature's first 16 characters."""
    pieces = [token]
    if token.count(".") == 2:
        signature = token.rsplit(".", 1)[1]
        pieces += [signature, signature[:16]]
    return pieces


def record_text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        text += record.exc_text
    if record.stack_info:
        text += record.stack_info
    return text


def assert_absent(where: str, text: str, needles: Iterable[str]) -> None:
    found = sorted({n for n in needles if n and n in text})
    assert not found, f"{where} contains {found!r:.300}: {text[:300]!r}"


def drive(app: Flask, tokens: dict[str, tuple[str, list[str]]], caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    responses = {}
    caplog.set_level(logging.DEBUG, logger="superset_mcp_jwt")
    client = app.test_client()
    for name, (token, _) in tokens.items():
        response = client.get("/mcp/whoami", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (name, response.status_code)
        responses[name] = response
    return responses


@pytest.fixture
def default_app(tmp_path: Any) -> Flask:
    return make_app(tmp_path, PROPAGATE_EXCEPTIONS=False)


@pytest.fixture
def debug_app(tmp_path: Any) -> Flask:
    return make_app(tmp_path, PROPAGATE_EXCEPTIONS=False, MCP_JWT_DEBUG_ERRORS=True)


def test_default_mode_leaks_nothing_to_clients_or_logs(default_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    secret = default_app.config["MCP_JWT_SECRET"]
    tokens = rejected_tokens(secret)
    responses = drive(default_app, tokens, caplog)

    every_token = [piece for token, _ in tokens.values() for piece in token_pieces(token)]
    claim_values = CANARIES + [v for _, values in tokens.values() for v in values]
    never = secret_pieces(secret) + every_token

    for name, response in responses.items():
        shown = response.get_data(as_text=True) + "".join(f"{k}: {v}\n" for k, v in response.headers.items())
        assert_absent(f"response to {name}", shown, never + claim_values)

    records = caplog.records
    assert any("rejected: bad_signature" in r.getMessage() for r in records)  # the log did run
    for record in records:
        text = record_text(record)
        assert_absent(f"log record {record.levelname} {record.name}", text, never)
        if record.levelno >= logging.INFO:
            assert_absent(f"log record {record.levelname} {record.name}", text, claim_values)
    # One line per rejection, naming its reason code.
    codes = {reason.code for reason in Reason}
    ours = [r for r in records if r.name == "superset_mcp_jwt" and r.levelno >= logging.INFO]
    assert len(ours) == len(tokens)
    for record in ours:
        message = record.getMessage()
        assert message.startswith("MCP bearer token rejected: ")
        assert message.removeprefix("MCP bearer token rejected: ").split()[0] in codes


def test_debug_mode_explains_claims_but_never_the_secret_token_or_signature(
    debug_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    secret = debug_app.config["MCP_JWT_SECRET"]
    tokens = rejected_tokens(secret)
    responses = drive(debug_app, tokens, caplog)

    never = secret_pieces(secret) + [p for token, _ in tokens.values() for p in token_pieces(token)]
    text = "\n".join(record_text(r) for r in caplog.records)
    assert_absent("debug log", text, never)
    # Debug mode does say what to fix, quoting claim values: that is allowed here.
    assert "issuer-CANARY" in text and "user-CANARY" in text
    # ... and still tells the client nothing more.
    for name, response in responses.items():
        shown = response.get_data(as_text=True) + "".join(f"{k}: {v}\n" for k, v in response.headers.items())
        assert_absent(f"response to {name}", shown, never + CANARIES)


def _raising_resolver(message: str) -> Callable[[Any, Any], Any]:
    def resolver(claims: Any, security_manager: Any) -> Any:
        raise RuntimeError(message)

    return resolver


@pytest.mark.parametrize("debug", [False, True], ids=["default", "debug"])
def test_resolver_exception_text_is_not_logged_by_default(
    tmp_path: Any, caplog: pytest.LogCaptureFixture, debug: bool
) -> None:
    """An exception in MCP_JWT_USER_RESOLVER (whose text could hold anything, here a
    canary and a token) is logged by class name only, unless debug errors are on."""
    app = make_app(
        tmp_path,
        PROPAGATE_EXCEPTIONS=False,
        MCP_JWT_DEBUG_ERRORS=debug,
        MCP_JWT_USER_RESOLVER=_raising_resolver("resolver-CANARY"),
    )
    secret = app.config["MCP_JWT_SECRET"]
    token = jwt.encode({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600},
                       secret, algorithm="HS256")
    caplog.set_level(logging.DEBUG, logger="superset_mcp_jwt")
    response = app.test_client().get("/mcp/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "resolver-CANARY" not in response.get_data(as_text=True)
    text = "\n".join(record_text(r) for r in caplog.records)
    assert "RuntimeError" in text and "resolver_failed" in text
    assert_absent("log", text, secret_pieces(secret) + token_pieces(token))
    if not debug:
        assert "resolver-CANARY" not in text


def test_accepted_token_is_not_logged_at_any_level(default_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    """The audit line of an accepted request names the user (and jti, which exists to
    be logged), never the secret, the token, its signature or other claim values."""
    secret = default_app.config["MCP_JWT_SECRET"]
    token = jwt.encode({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600,
                        **CANARY_CLAIMS}, secret, algorithm="HS256")
    caplog.set_level(logging.DEBUG, logger="superset_mcp_jwt")
    response = default_app.test_client().get("/mcp/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    text = "\n".join(record_text(r) for r in caplog.records)
    other_claims = [v for k, v in CANARY_CLAIMS.items() if k != "jti"]
    assert_absent("log", text, secret_pieces(secret) + token_pieces(token) + other_claims)


#: A forged audit line behind every line break Python knows (str.splitlines), and
#: an ANSI escape that would move a terminal's cursor up over the previous line.
FAKE_LINE = "MCP bearer token accepted: user=admin jti=forged client=x"
INJECTED = f"\n{FAKE_LINE}\r\n{FAKE_LINE}\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x1b[1A{FAKE_LINE}"
#: HTTP header values cannot carry CR or LF at all; everything else above they can.
INJECTED_IN_HEADER = INJECTED.replace("\r", "").replace("\n", "")


@pytest.mark.parametrize("debug", [False, True], ids=["default", "debug"])
def test_log_lines_cannot_be_forged_through_the_request(tmp_path: Any, caplog: pytest.LogCaptureFixture, debug: bool) -> None:
    """Anyone who reads the log must be able to trust it: a User-Agent, a scheme or a
    claim value carrying CR/LF cannot start a log line of its own."""
    app = make_app(tmp_path, PROPAGATE_EXCEPTIONS=False, MCP_JWT_DEBUG_ERRORS=debug)
    secret = app.config["MCP_JWT_SECRET"]
    now = int(time.time())
    signed = {
        claim: jwt.encode({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, claim: INJECTED},
                          secret, algorithm="HS256")
        for claim in ("sub", "iss", "aud")
    }
    requests = [  # (headers, the status of that rejection)
        ({"Authorization": f"Bearer {signed['sub']}", "User-Agent": "agent" + INJECTED_IN_HEADER}, 401),
        ({"Authorization": f"Bearer {signed['iss']}"}, 401),
        ({"Authorization": f"Bearer {signed['aud']}"}, 401),
        ({"Authorization": f"Bearer{INJECTED_IN_HEADER}x"}, 401),  # scheme is not Bearer
        ({"Authorization": f"Basic{INJECTED_IN_HEADER}"}, 401),
        ({"Authorization": f"Bearer x.y.z{INJECTED_IN_HEADER}"}, 400),  # more than one token
        ({"Authorization": f"Bearer {jwt.encode({'sub': 'alice'}, 'k' * 40, algorithm='HS256', headers={'typ': INJECTED})}"}, 401),
    ]
    caplog.set_level(logging.DEBUG, logger="superset_mcp_jwt")
    client = app.test_client()
    for headers, status in requests:
        assert client.get("/mcp/whoami", headers=headers).status_code == status, headers
    for record in caplog.records:
        message = record.getMessage()
        assert len(message.splitlines()) <= 1, repr(message)
        assert "\x1b" not in message, repr(message)
    assert not any(r.getMessage().startswith("MCP bearer token accepted") for r in caplog.records)


def test_jti_of_an_accepted_token_cannot_forge_log_lines(default_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    """Only a signer can choose a jti, but the audit trail must hold even against a
    careless one (e.g. a signing service that copies a request id into jti)."""
    secret = default_app.config["MCP_JWT_SECRET"]
    token = jwt.encode({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600,
                        "jti": "j1" + INJECTED}, secret, algorithm="HS256")
    caplog.set_level(logging.DEBUG, logger="superset_mcp_jwt")
    response = default_app.test_client().get("/mcp/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json["user"] == "alice"
    for record in caplog.records:
        message = record.getMessage()
        assert len(message.splitlines()) <= 1, repr(message)
        assert "\x1b" not in message, repr(message)
