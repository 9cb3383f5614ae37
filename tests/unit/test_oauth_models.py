"""Client.check_redirect_uri: exact match, and RFC 8252 §7.3's any-port loopback."""

from __future__ import annotations

import datetime

import pytest

from superset_mcp_jwt.oauth.models import Client, allow_list_problem, loopback_parts


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
        # An empty query ("?") is part of the exact string: only the port may differ.
        ("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb?"),
        ("http://127.0.0.1/cb?", "http://127.0.0.1:5000/cb"),
        ("http://127.0.0.1/cb?a=1", "http://127.0.0.1:5000/cb?a=2"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:0/cb"),  # no such port
        ("http://127.0.0.1/cb", "http://127.0.0.1:65536/cb"),
    ],
)
def test_refused(registered, requested):
    assert not client(registered).check_redirect_uri(requested)


@pytest.mark.parametrize(
    "uri, parts",
    [
        ("http://127.0.0.1", ("127.0.0.1", None, "")),
        ("http://127.0.0.1:1/cb", ("127.0.0.1", 1, "/cb")),
        ("http://localhost:65535/cb?a=1&b=2", ("localhost", 65535, "/cb?a=1&b=2")),
        ("http://[::1]:8000/cb?", ("[::1]", 8000, "/cb?")),
        ("http://localhost/", ("localhost", None, "/")),
        ("http://127.0.0.1:0/cb", None),
        ("http://127.0.0.1:65536/cb", None),
        ("http://127.0.0.1:8000/cb#f", None),
        ("https://127.0.0.1:8000/cb", None),
        ("http://127.0.0.2:8000/cb", None),
    ],
)
def test_loopback_parts_are_host_port_and_path_with_query(uri, parts):
    assert loopback_parts(uri) == parts


@pytest.mark.parametrize("port", [1, 65535])
def test_any_real_loopback_port_is_a_redirect_target(port):
    assert client("http://127.0.0.1/cb").check_redirect_uri(f"http://127.0.0.1:{port}/cb")


NOT_PLAIN = "contains whitespace, a backslash, a control or a non-ASCII character"
NOT_HTTPS_HOST = "is not an https URL with a lower-case host name"
NOT_SCHEME = "has no lower-case scheme"
USER_INFO = "has user info or an encoded host"


@pytest.mark.parametrize(
    "entry, problem",
    [
        ("https://a.example/cb", None),
        ("https://a.example:8443/cb", None),  # a port: the scheme is what comes before the first ":"
        ("https://a.example/~u/cb!x", None),  # "!" and "~" are the ends of printable ASCII
        ("cursor://anysphere.cursor-mcp/oauth/callback", None),
        ("com.example.app:/oauth2redirect/example-provider", None),  # RFC 8252 §7.1: no "//" needed
        ("https://a.example/" + "x" * (2000 - 18), None),
        ("https://a.example/" + "x" * (2001 - 18), "longer than 2000 characters"),
        (None, "must be a non-empty string"),
        ("", "must be a non-empty string"),
        (5, "must be a non-empty string"),
        ("https://a.example/a b", NOT_PLAIN),
        ("https://a.example/a\\b", NOT_PLAIN),
        ("https://a.example/\u00e9", NOT_PLAIN),
        ("https://a.example/cb\x7f", NOT_PLAIN),
        ("https://a.example/cb#", "has a fragment"),
        ("/cb", NOT_SCHEME),
        ("HTTPS://a.example/cb", NOT_SCHEME),
        ("Cursor://x/cb", NOT_SCHEME),
        ("http://a.example/cb", "uses the 'http' scheme (loopback http is always allowed; others must be https)"),
        ("javascript:alert(1)",
         "uses the 'javascript' scheme (loopback http is always allowed; others must be https)"),
        ("https://u@a.example/cb", USER_INFO),
        ("com.example.app://user@host/cb", USER_INFO),
        ("com.example.app://host%41/cb", USER_INFO),
        ("https:a.example/cb", NOT_HTTPS_HOST),
        ("https://A.example/cb", NOT_HTTPS_HOST),
        ("https://a_b.example/cb", NOT_HTTPS_HOST),
        ("https:///cb", NOT_HTTPS_HOST),
        ("https://a.example:65535/cb", None),
        ("https://a.example:65536/cb", "has a port that is not a number from 0 to 65535"),
        ("https://a.example:99999/cb", "has a port that is not a number from 0 to 65535"),
        ("https://a.example:80x/cb", "has a port that is not a number from 0 to 65535"),
        ("cursor://host:99999/cb", "has a port that is not a number from 0 to 65535"),
    ],
)
def test_allow_list_problem_says_what_is_wrong(entry, problem):
    assert allow_list_problem(entry) == problem
