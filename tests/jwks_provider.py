"""A JWKS endpoint on 127.0.0.1 for the tests: real HTTP, keys and health under test control."""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any, Optional

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


class Provider:
    """A JWKS endpoint on 127.0.0.1 whose keys and health the test controls."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.down = False
        self.hits = 0
        #: Seconds to wait before answering (a slow provider).
        self.delay = 0.0
        #: When set, served as the response body instead of the JWKS of ``keys``.
        self.body: Optional[bytes] = None
        #: Seconds to keep the connection open after the body (no Content-Length:
        #: the client cannot know the body is complete).
        self.stall = 0.0
        #: The headers of the last request.
        self.last_headers: dict[str, str] = {}
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                provider.hits += 1
                provider.last_headers = dict(self.headers.items())
                if provider.delay:
                    time.sleep(provider.delay)
                if provider.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                jwks = []
                for kid, key in provider.keys.items():
                    algo = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
                    jwk = json.loads(algo.to_jwk(key.public_key()))
                    jwk.update(kid=kid, use="sig")
                    jwks.append(jwk)
                body = json.dumps({"keys": jwks}).encode() if provider.body is None else provider.body
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)
                if provider.stall:
                    self.wfile.flush()
                    time.sleep(provider.stall)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_port}/jwks.json"
        # A short poll interval: stop() returns in 50 ms instead of 500.
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
