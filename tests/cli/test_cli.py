"""The CLI through Click's runner, on a real Flask-AppBuilder app (`flask mcp-jwt ...`)."""

from __future__ import annotations

import time

import jwt
import click
import pytest
from click.testing import CliRunner

from superset_mcp_jwt.cli import mcp_jwt, parse_ttl, standalone
from superset_mcp_jwt.settings import PUBLISHED_EXAMPLE_SECRET
from tests.flask_app.conftest import AUDIENCE, ISSUER, make_app


@pytest.fixture
def fab_app(tmp_path):
    return make_app(tmp_path)


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(mcp_jwt, list(args), input=input)


def decode(app, token):
    return jwt.decode(token, app.config["MCP_JWT_SECRET"], algorithms=["HS256"], audience=AUDIENCE)


def test_token_is_the_last_line_and_verifies_as_the_server_does(fab_app):
    result = run(fab_app, "token", "--sub", "alice", "--ttl", "2h", "--scope", "mcp:read",
                 "--claim", "client=cursor", "--claim", "n=3")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    claims = decode(fab_app, token)
    assert claims["sub"] == "alice" and claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 7200
    assert claims["scope"] == "mcp:read" and claims["client"] == "cursor" and claims["n"] == 3
    assert len(claims["jti"]) == 32
    assert "token for user 'alice'" in result.stderr


@pytest.mark.parametrize("sub, reason", [("nobody", "unknown_user"), ("carol", "inactive_user")])
def test_token_refuses_unknown_and_inactive_users(fab_app, sub, reason):
    result = run(fab_app, "token", "--sub", sub)
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert reason in result.stderr and "--no-user-check" in result.stderr
    assert result.stdout == ""


def test_no_user_check_signs_anyway(fab_app):
    result = run(fab_app, "token", "--sub", "nobody", "--no-user-check")
    assert result.exit_code == 0
    assert decode(fab_app, result.stdout.splitlines()[-1])["sub"] == "nobody"


def test_token_refuses_to_override_registered_claims(fab_app):
    result = run(fab_app, "token", "--sub", "alice", "--claim", "exp=1")
    assert result.exit_code == 2 and "exp" in result.stderr  # a usage error


def test_check_explains_a_valid_token(fab_app):
    token = run(fab_app, "token", "--sub", "admin").stdout.splitlines()[-1]
    result = run(fab_app, "check", token)
    assert result.exit_code == 0
    assert "user:     admin (active)" in result.stdout
    assert "roles:    Admin" in result.stdout
    assert "expires:" in result.stdout and "(in 24.0h)" in result.stdout


def test_check_reads_stdin(fab_app):
    token = run(fab_app, "token", "--sub", "alice").stdout.splitlines()[-1]
    result = run(fab_app, "check", input=f"Bearer {token}\n")
    assert result.exit_code == 0 and "alice" in result.stdout


def _sign(app, **claims):
    payload = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600}
    payload.update(claims)
    return jwt.encode(payload, claims.pop("key", None) or app.config["MCP_JWT_SECRET"], algorithm="HS256")


@pytest.mark.parametrize(
    "claims, expected",
    [
        ({"exp": -7200}, "rejected: expired: token expired 2.0h ago"),  # exp: seconds from now
        ({"iss": "acme"}, "rejected: bad_issuer: iss is 'acme', MCP_JWT_ISSUER is 'superset-mcp'"),
        ({"aud": "x"}, "rejected: bad_audience: aud is 'x', MCP_JWT_AUDIENCE is ['superset-mcp-clients']"),
        ({"sub": "bob"}, "rejected: unknown_user: no Superset user for claim 'sub' = 'bob'"),
        ({"sub": "carol"}, "rejected: inactive_user: user 'carol' is inactive"),
    ],
)
def test_check_says_what_is_wrong(fab_app, claims, expected):
    if "exp" in claims:  # relative to when the test runs, not to when it was collected
        claims = {**claims, "exp": int(time.time()) + claims["exp"]}
    result = run(fab_app, "check", _sign(fab_app, **claims))
    assert result.exit_code == 1
    assert expected in result.stdout


def test_check_shows_unverified_claims_for_a_foreign_signature(fab_app):
    forged = jwt.encode({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": 2**31},
                        "z" * 40, algorithm="HS256")
    result = run(fab_app, "check", forged)
    assert result.exit_code == 1
    assert "rejected: bad_signature" in result.stdout and "UNVERIFIED" in result.stdout


def test_secret_last_line_is_only_a_strong_secret(fab_app):
    result = run(fab_app, "secret")
    lines = result.stdout.splitlines()
    assert lines[0] == "MCP_AUTH_ENABLED = True"
    assert lines[1] == f'MCP_JWT_SECRET = "{lines[-1]}"'
    assert len(lines[-1]) >= 86  # 64 random bytes, base64url
    assert run(fab_app, "secret").stdout.splitlines()[-1] != lines[-1]


def test_commands_need_the_extension_enabled(tmp_path):
    app = make_app(tmp_path, MCP_AUTH_ENABLED=False)
    result = run(app, "token", "--sub", "alice")
    assert result.exit_code == 1 and "MCP_AUTH_ENABLED is False" in result.stderr


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800)])
def test_parse_ttl(text, seconds):
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["0", "-5", "1w", "h", ""])
def test_parse_ttl_refuses(text):
    with pytest.raises(click.BadParameter) as info:
        parse_ttl(text)
    assert "positive duration" in info.value.message


def test_standalone_token_uses_the_secret_from_the_environment():
    secret = "s" * 48
    result = CliRunner().invoke(
        standalone, ["token", "--sub", "alice", "--ttl", "10m"], env={"MCP_JWT_SECRET": secret}
    )
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.stdout.splitlines()[-1], secret, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 600


@pytest.mark.parametrize("secret", ["short", PUBLISHED_EXAMPLE_SECRET, ""])
def test_standalone_token_refuses_weak_secrets(secret):
    result = CliRunner().invoke(
        standalone, ["token", "--sub", "alice"], env={"MCP_JWT_SECRET": secret}
    )
    assert result.exit_code == 1 and "MCP_JWT_SECRET" in result.stderr
    if secret:
        assert secret not in result.stderr


def test_standalone_token_takes_no_secret_on_the_command_line():
    # docs/reference/cli.md: never type the secret on the command line (shell history, ps).
    secret = "s" * 48
    result = CliRunner().invoke(standalone, ["token", "--sub", "alice", "--secret", secret], env={})
    assert result.exit_code == 2 and "No such option" in result.stderr and secret not in result.stderr
    assert "--secret TEXT" not in CliRunner().invoke(standalone, ["token", "--help"]).stdout


def test_standalone_token_without_a_secret_says_where_to_put_it():
    result = CliRunner().invoke(standalone, ["token", "--sub", "alice"], env={"MCP_JWT_SECRET": None})
    assert result.exit_code == 1
    assert "set MCP_JWT_SECRET in the environment or pass --secret-file" in result.stderr


def test_standalone_secret_file(tmp_path):
    path = tmp_path / "secret"
    path.write_text("f" * 64 + "\n")
    result = CliRunner().invoke(
        standalone, ["token", "--sub", "alice", "--secret-file", str(path), "--alg", "HS512"]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.splitlines()[-1]
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    jwt.decode(token, "f" * 64, algorithms=["HS512"], audience=AUDIENCE)


def _rsa_files(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "signing.pem"
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return path, public


def test_asymmetric_token_with_a_private_key_file(tmp_path):
    key_file, public = _rsa_files(tmp_path)
    app = make_app(tmp_path, MCP_JWT_ALGORITHM="RS256", MCP_JWT_SECRET=None, MCP_JWT_PUBLIC_KEY=public)
    result = run(app, "token", "--sub", "alice", "--private-key-file", str(key_file), "--kid", "k1")
    assert result.exit_code == 0, result.stderr
    token = result.stdout.splitlines()[-1]
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": "k1", "typ": "JWT"}
    assert run(app, "check", token).exit_code == 0
    no_key = run(app, "token", "--sub", "alice")
    assert no_key.exit_code == 2 and "--private-key-file" in no_key.stderr
    other_file, _ = _rsa_files(tmp_path / "..")
    wrong = run(app, "token", "--sub", "alice", "--private-key-file", str(other_file))
    assert wrong.exit_code == 1 and "bad_signature" in wrong.stderr


def test_standalone_asymmetric_token(tmp_path):
    key_file, public = _rsa_files(tmp_path)
    result = CliRunner().invoke(standalone, ["token", "--sub", "alice", "--alg", "RS256",
                                             "--private-key-file", str(key_file)])
    assert result.exit_code == 0, result.output
    jwt.decode(result.stdout.splitlines()[-1], public, algorithms=["RS256"], audience=AUDIENCE)


def test_hs_tokens_carry_the_kid_of_the_newest_secret(tmp_path):
    from superset_mcp_jwt.keys import key_id

    app = make_app(tmp_path, MCP_JWT_SECRET=["n" * 40, "o" * 40])
    token = run(app, "token", "--sub", "alice").stdout.splitlines()[-1]
    assert jwt.get_unverified_header(token)["kid"] == key_id(b"n" * 40)
