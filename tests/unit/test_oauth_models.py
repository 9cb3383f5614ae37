"""Client.check_redirect_uri: exact match, and RFC 8252 §7.3's any-port loopback."""

from __future__ import annotations

import datetime

import pytest

from superset_mcp_jwt.oauth.models import Client


def client(*uris: str) -> Client:
    return Client("c1", "Test", tuple(uris), "dcr", datetime.datetime.now(datetime.timezone.utc))


@pytest.mark.parametrize(
    "registered, requested",
    [
        ("https://claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback"),
        ("http://127.0.0.1:33418/callback", "http://127.0.0.1:33418/callback"),
        ("http://127.0.0.1:33418/callback", "http://127.0.0.1:50123/callback"),  # RFC 8252 §7.3
        ("http://127.0.0.1/callback", "http://127.0.0.1:50123/callback"),
        ("http://[::1]:8000/cb", "http://[::1]:9000/cb"),
        ("http://localhost:8000/cb", "http://localhost:8000/cb"),
        ("http://localhost:8000/cb", "http://localhost:9000/cb"),  # localhost too (MCP: localhost:*)
    ],
)
def test_accepted(registered, requested):
    assert client(registered).check_redirect_uri(requested)


@pytest.mark.parametrize(
    "registered, requested",
    [
        ("https://claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback/"),
        ("https://claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback?x=1"),
        ("https://claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callbackx"),
        ("https://claude.ai/api/mcp/auth_callback", "https://CLAUDE.ai/api/mcp/auth_callback"),
        ("https://claude.ai/api/mcp/auth_callback", "https://claude.ai@evil.example/api/mcp/auth_callback"),
        ("https://claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/%61uth_callback"),
        ("http://127.0.0.1:8000/callback", "http://127.0.0.1:8000/callback/../evil"),
        ("http://127.0.0.1:8000/callback", "http://127.0.0.1:9000/other"),
        ("http://127.0.0.1:8000/callback", "http://127.0.0.1.evil.example:8000/callback"),
        ("http://127.0.0.1:8000/callback", "http://evil.example@127.0.0.1:8000/callback"),
        ("http://127.0.0.1:8000/callback", "https://127.0.0.1:8000/callback"),
        ("http://127.0.0.1:8000/callback", "http://127.0.0.1:8000/callback#frag"),
        ("http://[::1]:8000/cb", "http://127.0.0.1:8000/cb"),  # another host


    ],
)
def test_refused(registered, requested):
    assert not client(registered).check_redirect_uri(requested)
