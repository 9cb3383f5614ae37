"""Key modes on the real `superset mcp run`: an identity provider's JWKS, and HS secret rotation."""

from __future__ import annotations

import secrets
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from demo.sandbox import AUDIENCE, ISSUER, MCPServer, mint
from tests.jwks_provider import Provider
from tests.superset.test_mcp_server import post, whoami


def rs256(key, sub: str, kid: str) -> str:
    # A fresh jti: no two calls give the same token, so none is answered from the cache.
    claims = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600,
              "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_jwks_mode_serves_the_providers_tokens_and_follows_its_rotation(home):
    provider = Provider()
    first = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider.keys["k1"] = first
    # No stale grace: a failed refresh empties the key set at once (the outage below).
    config = home.config("jwks_config", MCP_JWT_ALGORITHM="RS256", MCP_JWT_SECRET=...,
                         MCP_JWKS_URI=provider.uri, MCP_JWKS_REFETCH_COOLDOWN=1,
                         MCP_JWKS_STALE_SECONDS=0)
    try:
        with MCPServer(home, config, "mcp-jwks") as server:
            assert whoami(server, rs256(first, "alice", "k1")) == "alice"
            stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            assert post(server, {"Authorization": f"Bearer {rs256(stranger, 'admin', 'k1')}"}).status_code == 401
            # The provider rotates to a new key: picked up at the first token that names it.
            second = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            provider.keys["k2"] = second
            time.sleep(1.1)
            assert whoami(server, rs256(second, "admin", "k2")) == "admin"
            assert post(server, {"Authorization": f"Bearer {rs256(first, 'x', 'k9')}"}).status_code == 401

            # The provider goes down; a token naming a new kid makes the server refetch,
            # which fails: 503 temporarily_unavailable over HTTP, for every token.
            provider.down = True
            time.sleep(1.1)
            for kid in ("k3", "k1"):
                response = post(server, {"Authorization": f"Bearer {rs256(first, 'alice', kid)}"})
                assert response.status_code == 503, (kid, response.status_code)
                assert response.json()["error"] == "temporarily_unavailable"
                assert response.headers["www-authenticate"] == 'Bearer realm="superset-mcp"'
            # Back up: the next refetch (after the cooldown) restores service.
            provider.down = False
            time.sleep(1.1)
            assert whoami(server, rs256(first, "alice", "k1")) == "alice"
            assert "JWKS from " in server.log() and "unavailable" in server.log()
    finally:
        provider.stop()


def test_hs_secret_rotation_accepts_old_and_new_tokens(home):
    new = secrets.token_urlsafe(48)
    config = home.config("rotation_config", MCP_JWT_SECRET=[new, home.secret])
    with MCPServer(home, config, "mcp-rotation") as server:
        assert whoami(server, mint(home.secret, "alice")) == "alice"  # signed with the old one
        assert whoami(server, mint(new, "admin")) == "admin"
        minted = home.superset("mcp-jwt", "token", "--sub", "alice", config=config)
        token = minted.stdout.strip().splitlines()[-1]
        jwt.decode(token, new, algorithms=["HS256"], audience=AUDIENCE)  # signed with the newest
        assert whoami(server, token) == "alice"


def test_public_key_mode_with_required_scopes(home):
    from cryptography.hazmat.primitives import serialization

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    config = home.config("pem_config", MCP_JWT_ALGORITHM="RS256", MCP_JWT_SECRET=...,
                         MCP_JWT_PUBLIC_KEY=public, MCP_REQUIRED_SCOPES=["mcp"])

    def token(**claims) -> str:
        body = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600, **claims}
        return jwt.encode(body, key, algorithm="RS256")

    with MCPServer(home, config, "mcp-pem") as server:
        assert whoami(server, token(scope="mcp mcp:read")) == "alice"
        lacking = post(server, {"Authorization": f"Bearer {token(scope='mcp:read')}"})
        assert lacking.status_code == 403
        assert 'error="insufficient_scope"' in lacking.headers["WWW-Authenticate"]
