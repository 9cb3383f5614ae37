"""Revocation reaches every replica: two real `superset mcp run` processes sharing one store.

Once with Superset's metadata DB (the default store) and once with a real Redis
server on loopback (Debian's redis-server, installed by `make test`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from typing import Iterator

import pytest

from demo.sandbox import MCPServer, free_port, mint
from tests.superset.test_mcp_server import post

MAX_DELAY = 5.0


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def status(server: MCPServer, token: str) -> int:
    return post(server, {"Authorization": f"Bearer {token}"}).status_code


def refused_everywhere_within(servers: list[MCPServer], token: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < 3 * MAX_DELAY:
        if all(status(server, token) == 401 for server in servers):
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError("the revocation did not reach every server")


@pytest.mark.postgresql
@pytest.mark.parametrize("store", ["metadata-db", "redis"])
def test_revocation_reaches_two_servers_within_the_documented_delay(home, store, request):
    keys = {}
    if store == "redis":
        keys["MCP_JWT_REVOCATION_STORE"] = {
            "CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": request.getfixturevalue("redis_url"),
            "CACHE_KEY_PREFIX": "superset_mcp_jwt_test_",
        }
    subject = f"rev{uuid.uuid4().hex[:6]}"
    home.ensure_user(subject)
    config = home.config(f"revocation_{store.replace('-', '_')}", **keys)
    with MCPServer(home, config, f"rev-{store}-a") as a, MCPServer(home, config, f"rev-{store}-b") as b:
        servers = [a, b]
        jti = uuid.uuid4().hex
        by_jti = mint(home.secret, subject, jti=jti, iat=int(time.time()))
        other = mint(home.secret, subject, jti=uuid.uuid4().hex, iat=int(time.time()) - 5)
        assert [status(s, by_jti) for s in servers] == [200, 200]
        assert [status(s, other) for s in servers] == [200, 200]

        home.superset("mcp-jwt", "revoke", "--jti", jti, config=config)
        jti_delay = refused_everywhere_within(servers, by_jti)
        assert jti_delay <= MAX_DELAY
        assert [status(s, other) for s in servers] == [200, 200]  # only that jti

        home.superset("mcp-jwt", "revoke", "--sub", subject, config=config)
        sub_delay = refused_everywhere_within(servers, other)
        assert sub_delay <= MAX_DELAY
        print(f"revocation delay across two servers ({store}): jti {jti_delay:.2f}s, sub {sub_delay:.2f}s")
        time.sleep(1.1)
        fresh = mint(home.secret, subject, jti=uuid.uuid4().hex, iat=int(time.time()) + 1)
        assert [status(s, fresh) for s in servers] == [200, 200]  # issued after: fine
        assert "MCP bearer token rejected: revoked" in a.log() + b.log()
