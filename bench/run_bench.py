"""Benchmark: what authentication costs, side by side, in one run.

(a) per-token verification, µs p50/p99: our core (first-seen and repeated),
    PyJWT's decode, FastMCP's JWTVerifier and a hand-written HMAC floor;
(b) identity resolution on a real Flask-AppBuilder security manager (SQLite),
    with and without our caches, and the whole repeated-token path;
(c) end to end on a real `superset mcp run`: `initialize` req/s and
    `get_instance_info` latency with auth off, Superset's built-in JWT check,
    and superset-mcp-jwt, as ratios to auth off (medians of several runs).

Timings on a shared 2-core machine are noisy: read the ratios. Run: make bench.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from demo.sandbox import AUDIENCE, INITIALIZE, ISSUER, MCP_ACCEPT, MCPServer, SupersetHome, mint
from superset_mcp_jwt.identity import IdentityCache, resolve_identity
from superset_mcp_jwt.settings import Settings
from superset_mcp_jwt.tokens import TokenVerifier

SECRET = "b" * 48
RUNS = 3


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    samples = sorted(samples_ns)
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def timed(fn: Callable[[], Any], n: int = 20000) -> tuple[float, float]:
    for _ in range(min(n // 10, 2000)):
        fn()
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        fn()
        out.append(clock() - start)
    return percentiles(out)


def row(name: str, figures: tuple[float, float], note: str = "") -> None:
    print(f"  {name:<46} {figures[0]:>8.1f}  {figures[1]:>8.1f}  {note}")


def settings(**keys: Any) -> Settings:
    config = {"MCP_AUTH_ENABLED": True, "MCP_JWT_SECRET": SECRET, "MCP_JWT_ISSUER": ISSUER,
              "MCP_JWT_AUDIENCE": AUDIENCE}
    config.update(keys)
    return Settings.from_config(config)


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600,
            "jti": "0123456789abcdef0123456789abcdef"}


def floor(token: str, key: bytes) -> dict[str, Any]:
    head, body, sig = token.split(".")
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(mac, base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))):
        raise ValueError("bad signature")
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def fastmcp_timed(verifier: Any, token: str, n: int = 20000) -> tuple[float, float]:
    async def run() -> list[int]:
        assert await verifier.verify_token(token) is not None
        out = []
        for _ in range(n):
            start = time.perf_counter_ns()
            await verifier.verify_token(token)
            out.append(time.perf_counter_ns() - start)
        return out

    return percentiles(asyncio.run(run()))


def verification() -> None:
    from fastmcp.server.auth.providers.jwt import JWTVerifier

    print("(a) token verification, µs              p50       p99")
    hs256 = jwt.encode(claims(), SECRET, algorithm="HS256")
    fresh = TokenVerifier(settings(MCP_JWT_TOKEN_CACHE_SIZE=0))
    cached = TokenVerifier(settings())
    pyjwt_opts = {"algorithms": ["HS256"], "audience": AUDIENCE, "issuer": ISSUER}
    ours_first = timed(lambda: fresh.verify(hs256))
    pyjwt_hs = timed(lambda: jwt.decode(hs256, SECRET, **pyjwt_opts))
    row("HS256 superset-mcp-jwt, first-seen token", ours_first,
        f"{ours_first[0] / pyjwt_hs[0]:.2f}x PyJWT")
    row("HS256 superset-mcp-jwt, repeated token (cache)", timed(lambda: cached.verify(hs256)))
    row("HS256 PyJWT jwt.decode", pyjwt_hs)
    fmcp = JWTVerifier(public_key=SECRET, algorithm="HS256", issuer=ISSUER, audience=AUDIENCE)
    row("HS256 FastMCP JWTVerifier.verify_token", fastmcp_timed(fmcp, hs256))
    row("HS256 hand-written HMAC+base64+JSON floor", timed(lambda: floor(hs256, SECRET.encode())))

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    rs256 = jwt.encode(claims(), private, algorithm="RS256")
    rs_keys = {"MCP_JWT_ALGORITHM": "RS256", "MCP_JWT_SECRET": None, "MCP_JWT_PUBLIC_KEY": public_pem}
    rs_fresh = TokenVerifier(settings(MCP_JWT_TOKEN_CACHE_SIZE=0, **rs_keys))
    rs_cached = TokenVerifier(settings(**rs_keys))
    row("RS256 superset-mcp-jwt, first-seen token", timed(lambda: rs_fresh.verify(rs256), n=5000))
    row("RS256 superset-mcp-jwt, repeated token (cache)", timed(lambda: rs_cached.verify(rs256)))
    row("RS256 PyJWT jwt.decode", timed(
        lambda: jwt.decode(rs256, public_pem, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER),
        n=5000))
    fmcp_rs = JWTVerifier(public_key=public_pem, algorithm="RS256", issuer=ISSUER, audience=AUDIENCE)
    row("RS256 FastMCP JWTVerifier.verify_token", fastmcp_timed(fmcp_rs, rs256, n=5000))

    tracemalloc.start()
    big = TokenVerifier(settings())
    before = tracemalloc.take_snapshot()
    for n in range(big.settings.token_cache_size):
        big.verify(jwt.encode({**claims(), "jti": f"{n:032d}"}, SECRET, algorithm="HS256"))
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    print(f"  token cache full ({big.settings.token_cache_size} typical tokens): "
          f"{grown / 2**20:.1f} MiB (bound: 4096 tokens of <= 2048 chars)")


def identity() -> None:
    from tests.flask_app.conftest import make_app

    logging.getLogger("flask_appbuilder").setLevel(logging.ERROR)
    print("\n(b) identity on a real FAB security manager (SQLite), µs   p50       p99")
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp), MCP_JWT_SECRET=SECRET)
        from superset_mcp_jwt import get_manager

        manager = get_manager(app)
        s = manager.settings
        token = jwt.encode(claims(), SECRET, algorithm="HS256")
        verified = manager.verifier.verify(token)
        with app.app_context():
            sm = app.appbuilder.sm
            row("resolve_identity (DB lookup every time)",
                timed(lambda: resolve_identity(verified, s, sm), n=3000))
            cache = IdentityCache(s)
            cache.put(resolve_identity(verified, s, sm))
            row("IdentityCache hit", timed(lambda: cache.get(verified)))
            logging.getLogger("superset_mcp_jwt").setLevel(logging.WARNING)
            header = [f"Bearer {token}"]
            whole = timed(lambda: manager.authenticate(header, sm, need_user=False))
            row("repeated token: verify + identity (MCP face path)", whole,
                "target <= 5 µs p50 (includes the audit line's logger call)")


async def initialize_rate(url: str, token: str | None, seconds: float = 4.0, workers: int = 4) -> float:
    body = INITIALIZE
    headers = {"Accept": MCP_ACCEPT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            response = await client.post(url, json=body, headers=headers)
            assert response.status_code == 200, response.status_code
            done += 1

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(workers)))
    return done / seconds


async def tool_latency_ms(url: str, token: str, calls: int = 25) -> float:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    logging.getLogger("client").setLevel(logging.ERROR)
    async with streamablehttp_client(url, headers={"Authorization": f"Bearer {token}"}) as (r, w, _):
        async with ClientSession(r, w) as session:
            await session.initialize()
            await session.call_tool("get_instance_info", {})
            out = []
            for _ in range(calls):
                start = time.perf_counter()
                await session.call_tool("get_instance_info", {})
                out.append((time.perf_counter() - start) * 1000)
    return statistics.median(out)


def end_to_end() -> None:
    print("\n(c) end to end on a real `superset mcp run` (medians of runs; ratios to auth off)")
    home = SupersetHome(Path(__file__).resolve().parents[1] / ".demo")
    home.bootstrap(log=lambda message: print(f"  {message}", flush=True))
    modes = {
        "auth off (MCP_DEV_USERNAME)": (home.config("bench_off", enable=False, MCP_AUTH_ENABLED=False,
                                                    MCP_DEV_USERNAME="admin"), None),
        "Superset built-in JWT (+ dev user)": (home.config("bench_builtin", enable=False,
                                                           MCP_DEV_USERNAME="admin"), "token"),
        "superset-mcp-jwt": (home.config("bench_ours"), "token"),
    }
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in modes}
    for name, (config, needs_token) in modes.items():
        token = mint(home.secret, "admin") if needs_token else "unused"
        with MCPServer(home, config, "bench-mcp") as server:
            for _ in range(RUNS):
                results[name][0].append(asyncio.run(initialize_rate(server.url, token if needs_token else None)))
                results[name][1].append(asyncio.run(tool_latency_ms(server.url, token)))
    base_rate = statistics.median(results["auth off (MCP_DEV_USERNAME)"][0])
    base_ms = statistics.median(results["auth off (MCP_DEV_USERNAME)"][1])
    print(f"  {'mode':<38} {'init req/s':>10} {'ratio':>6} {'tool ms':>8} {'ratio':>6}")
    for name, (rates, latencies) in results.items():
        rate, ms = statistics.median(rates), statistics.median(latencies)
        print(f"  {name:<38} {rate:>10.1f} {rate / base_rate:>6.3f} {ms:>8.1f} {ms / base_ms:>6.3f}")
    print("  (initialize: 4 concurrent clients, 4 s per run; tool: get_instance_info on one session)")


def main() -> int:
    print(f"superset-mcp-jwt benchmark — Python {sys.version.split()[0]}\n")
    verification()
    identity()
    if "--no-server" not in sys.argv:
        end_to_end()
    return 0


if __name__ == "__main__":
    sys.exit(main())
