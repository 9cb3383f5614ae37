"""A dependency down is a 503, never a 500 or a guess, on both faces; SIGTERM drains the action log.

Real `superset mcp run` and `superset run` processes, a real redis-server that
is stopped and started again on the same port.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from typing import Callable, Iterator

import httpx
import pytest

from demo.sandbox import MCPServer, WebServer, free_port, mint
from tests.superset.test_blueprint import BLUEPRINT
from tests.superset.test_mcp_server import post

GENERIC_503 = {
    "error": "temporarily_unavailable",
    "error_description": "Tokens cannot be verified right now; try again later.",
}


class Redis:
    """A redis-server on a fixed loopback port that can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="module")
def redis() -> Iterator[Redis]:
    server = Redis()
    server.start()
    yield server
    server.stop()


def config(home, redis: Redis, name: str, extra: str = ""):
    store = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": redis.url,
             "CACHE_KEY_PREFIX": f"outage_{name}_"}
    return home.config(name, extra=extra, MCP_JWT_REVOCATION_STORE=store,
                       MCP_JWT_REVOCATION_MEMO_SECONDS=0.2)


def until(predicate: Callable[[], bool], seconds: float = 15) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > seconds:
            raise AssertionError("not within the time allowed")
        time.sleep(0.2)
    return time.monotonic() - start


def assert_honest_503(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json() == GENERIC_503
    for leak in ("111", "127.0.0.1", "onnection", "redis", "Redis"):
        assert leak not in response.text


def assert_one_warning_per_refusal(log: str, refusals: int) -> None:
    lines = [line for line in log.splitlines() if "store_unavailable" in line]
    assert len(lines) == refusals, lines
    assert all("WARNING" in line and "(ConnectionError)" in line for line in lines)
    assert "Traceback" not in log and "Connection refused" not in log


def test_mcp_server_answers_503_while_redis_is_down_and_recovers(home, redis):
    refusals = []
    with MCPServer(home, config(home, redis, "outage_mcp"), "outage-mcp") as server:
        def status() -> int:  # a new token each time: nothing cached can answer
            token = mint(home.secret, "alice", jti=uuid.uuid4().hex)
            code = post(server, {"Authorization": f"Bearer {token}"}).status_code
            refusals.extend([code] if code == 503 else [])
            return code

        assert status() == 200
        redis.stop()
        try:
            time.sleep(0.5)  # past the memo: the next request must read the store
            token = mint(home.secret, "alice", jti=uuid.uuid4().hex)
            assert_honest_503(post(server, {"Authorization": f"Bearer {token}"}))
            time.sleep(1.2)  # past the retry pause: a second attempt on the store, a second 503
            assert_honest_503(post(server, {"Authorization": f"Bearer {token}"}))
        finally:
            redis.start()
        print(f"MCP server recovered {until(lambda: status() == 200):.2f}s after Redis came back")
        assert_one_warning_per_refusal(server.log(), 2 + len(refusals))


def test_web_app_answers_503_while_redis_is_down_and_recovers(home, redis):
    with WebServer(home, config(home, redis, "outage_web", extra=BLUEPRINT), "outage-web") as web:
        url = f"{web.url}/mcp-blueprint/whoami"

        refusals = []

        def get() -> httpx.Response:
            token = mint(home.secret, "alice", jti=uuid.uuid4().hex)
            response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            refusals.extend([response] if response.status_code == 503 else [])
            return response

        until(lambda: get().status_code == 200, 60)  # the web app finishes starting
        redis.stop()
        try:
            time.sleep(0.5)
            assert_honest_503(get())
        finally:
            redis.start()
        until(lambda: get().status_code == 200)
        assert refusals and all(r.status_code == 503 for r in refusals)
        assert_one_warning_per_refusal(web.log(), len(refusals))


def test_sigterm_writes_the_queued_action_log_records(home):
    config = home.config("drain_config", MCP_JWT_AUDIT_ACTION_LOG=True)
    batch = uuid.uuid4().hex[:8]
    server = MCPServer(home, config, "drain-mcp").wait_ready()
    try:
        for n in range(20):
            token = mint(home.secret, "alice", jti=f"drain-{batch}-{n}")
            assert post(server, {"Authorization": f"Bearer {token}"}).status_code == 200
        server.process.send_signal(signal.SIGTERM)  # within the writer's 1 s batching window
        assert server.process.wait(30) is not None
    finally:
        server.stop()
    with sqlite3.connect(home.database) as db:
        rows = db.execute("SELECT json FROM logs WHERE action = 'mcp_jwt_auth'").fetchall()
    jtis = {json.loads(j)["jti"] for (j,) in rows if f"drain-{batch}-" in j}
    assert jtis == {f"drain-{batch}-{n}" for n in range(20)}
