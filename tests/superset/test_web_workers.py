"""The web app under gunicorn with two worker processes shares nothing but the database.

Every request goes on a fresh connection, so the kernel hands it to either
worker; the access log names the worker (its pid) that served each one. A form
fetched from one worker must be accepted when posted to the other: the login
form and the MCP access page's CSRF-protected token form (the consent form:
test_oauth_production.py).
"""

from __future__ import annotations

import re
import uuid
from typing import Iterator

import httpx
import jwt
import pytest

from demo.sandbox import AUDIENCE, ISSUER, PASSWORD, GunicornWebServer

pytestmark = pytest.mark.postgresql

#: Rounds until a form's GET and POST have landed on different workers (each round ~50 %).
MAX_ROUNDS = 12


@pytest.fixture(scope="module")
def web(home) -> Iterator[GunicornWebServer]:
    with GunicornWebServer(home, home.config("gunicorn_config"), "gunicorn-workers") as server:
        yield server


def fresh_connections(web: GunicornWebServer, probe: str) -> httpx.Client:
    """A client with cookies but no keep-alive: each request may reach another worker."""
    return httpx.Client(base_url=web.url, headers={"X-Probe": probe}, timeout=60,
                        limits=httpx.Limits(max_keepalive_connections=0))


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def test_two_workers_are_running(web):
    assert len(web.worker_pids()) == 2
    assert web.process.poll() is None


def test_a_form_from_one_worker_is_accepted_by_the_other(web, home):
    crossed = 0
    for rounds in range(1, MAX_ROUNDS + 1):
        probe = uuid.uuid4().hex
        with fresh_connections(web, probe) as client:
            login = client.get("/login/")
            signed_in = client.post("/login/", data={
                "csrf_token": csrf_token(login.text), "username": "admin", "password": PASSWORD,
            })
            assert signed_in.status_code == 302 and "/login" not in signed_in.headers["location"]
            form = client.get("/mcp-access/")
            assert form.status_code == 200
            minted = client.post("/mcp-token/", data={"csrf_token": csrf_token(form.text), "ttl": "3600"})
        assert minted.status_code == 200, minted.text[:500]
        token = re.search(r'<textarea[^>]*id="token"[^>]*>([^<]+)</textarea>', minted.text).group(1).strip()
        claims = jwt.decode(token, home.secret, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
        assert claims["sub"] == "admin"
        workers = web.served_by(probe, 4)
        assert len(workers) == 4 and set(workers) <= web.worker_pids()
        login_get, login_post, form_get, form_post = workers
        crossed += (login_get != login_post) + (form_get != form_post)
        if crossed >= 2:
            break
    assert crossed >= 2, f"the forms crossed workers only {crossed} times in {MAX_ROUNDS} rounds"
    print(f"forms posted to the other worker: {crossed} times in {rounds} rounds")
