"""Client registration: the redirect-URI policy, RFC 7591 validation and bounds,
impersonation, the client count bound, and the CIMD cache (with a stub fetch;
the real fetcher is in tests/security/test_oauth_cimd.py)."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import ssl
from typing import Any, Mapping

import pytest

from superset_mcp_jwt.oauth.clients import (
    MAX_CIMD_URL_CHARS,
    MAX_CLIENT_NAME_CHARS,
    MAX_REDIRECT_URIS,
    CIMDFetcher,
    ClientRegistry,
    RedirectPolicy,
    RegistrationError,
    _now,
)
from superset_mcp_jwt.oauth.config import KNOWN_CLIENT_REDIRECT_URIS
from superset_mcp_jwt.oauth.models import MAX_URI_CHARS, allow_list_problem, redirect_uri_matches
from superset_mcp_jwt.oauth.models import Client, secret_hash

from tests.oauth_fakes import Clock, MemoryClientStore, StandInOAuthSettings

POLICY = RedirectPolicy(KNOWN_CLIENT_REDIRECT_URIS)

ALLOWED = [
    "http://127.0.0.1:33418/",
    "http://127.0.0.1/",
    "http://127.0.0.1:8787/callback",
    "http://localhost:3334/oauth/callback",
    "http://localhost/",
    "http://[::1]:49152/oauth/callback",
    "http://127.0.0.1:65535/cb?client=1",
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
    "https://chatgpt.com/connector_platform_oauth_redirect",
    "https://vscode.dev/redirect",
    "cursor://anysphere.cursor-mcp/oauth/callback",
]

REFUSED = {
    # not loopback, not listed
    "https_unlisted": "https://evil.example/callback",
    "http_non_loopback": "http://claude.ai/api/mcp/auth_callback",
    "http_private_ip": "http://10.0.0.1:8080/callback",
    "loopback_other_127": "http://127.0.0.2/callback",
    "loopback_decimal": "http://2130706433/callback",
    "loopback_hex": "http://0x7f000001/callback",
    "loopback_short": "http://127.1/callback",
    "loopback_zero": "http://0.0.0.0:8080/callback",
    "ipv4_mapped_loopback": "http://[::ffff:127.0.0.1]:8080/",
    "https_loopback": "https://127.0.0.1:8443/callback",
    # lookalike hosts
    "suffix_127": "http://127.0.0.1.evil.com/callback",
    "suffix_localhost": "http://localhost.evil.com/callback",
    "prefix_localhost": "http://evillocalhost/callback",
    "encoded_dot_host": "http://127.0.0.1%2eevil.com/callback",
    "encoded_host": "http://%6c%6fcalhost/callback",
    "upper_localhost": "http://LOCALHOST/callback",
    "upper_scheme": "HTTP://127.0.0.1/callback",
    "idn_host": "http://lоcalhost/callback",  # Cyrillic о
    "fullwidth_dot": "http://127\uff0e0\uff0e0\uff0e1/callback",
    # userinfo
    "userinfo_allowed_host": "https://claude.ai@evil.com/api/mcp/auth_callback",
    "userinfo_loopback": "http://127.0.0.1:80@evil.com/callback",
    "userinfo_before_loopback": "http://evil.com@127.0.0.1/callback",
    "backslash_userinfo": "http://127.0.0.1\\@evil.com/callback",
    "backslash_path": "https://claude.ai\\api/mcp/auth_callback",
    # exact-match only
    "allowed_plus_path": "https://claude.ai/api/mcp/auth_callback/../../evil",
    "allowed_trailing_slash": "https://claude.ai/api/mcp/auth_callback/",
    "allowed_plus_query": "https://claude.ai/api/mcp/auth_callback?next=https://evil.com",
    "allowed_upper_host": "https://CLAUDE.ai/api/mcp/auth_callback",
    "allowed_explicit_port": "https://claude.ai:443/api/mcp/auth_callback",
    "allowed_encoded_path": "https://claude.ai/api/mcp/auth%5Fcallback",
    "allowed_prefix": "https://claude.ai/api/mcp/auth_callbackx",
    "allowed_host_prefix": "https://claude.ai.evil.com/api/mcp/auth_callback",
    "allowed_http": "http://vscode.dev/redirect",
    # fragments
    "fragment": "http://127.0.0.1:8080/callback#frag",
    "empty_fragment": "https://claude.ai/api/mcp/auth_callback#",
    # other schemes
    "javascript": "javascript:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "file": "file:///etc/passwd",
    "custom_unlisted": "myapp://callback",
    "cursor_lookalike": "cursor://anysphere.cursor-mcp.evil/oauth/callback",
    "no_scheme": "//127.0.0.1/callback",
    "relative": "/callback",
    "scheme_only_slash": "http:/127.0.0.1/callback",
    "triple_slash": "http:///127.0.0.1/callback",
    # whitespace and control characters (urlsplit would silently drop tab/newline)
    "tab": "http://127.0.0.1/call\tback",
    "newline": "http://127.0.0.1/callback\n",
    "leading_space": " http://127.0.0.1/callback",
    "crlf_in_host": "http://127.0.0.1\r\n.evil.com/callback",
    "nul": "http://127.0.0.1/callback\x00",
    "non_ascii_path": "http://127.0.0.1/callbäck",
    # ports
    "port_zero": "http://127.0.0.1:0/callback",
    "port_too_big": "http://127.0.0.1:65536/callback",
    "port_empty": "http://127.0.0.1:/callback",
    "port_signed": "http://127.0.0.1:+80/callback",
    # bounds and types
    "empty": "",
    "over_long": "http://127.0.0.1/" + "a" * MAX_URI_CHARS,
}


@pytest.mark.parametrize("uri", ALLOWED)
def test_policy_allows_loopback_and_listed(uri: str) -> None:
    assert POLICY.allows(uri)


@pytest.mark.parametrize("uri", list(REFUSED.values()), ids=list(REFUSED))
def test_policy_refuses_tricks(uri: str) -> None:
    assert not POLICY.allows(uri)


@pytest.mark.parametrize("value", [None, 42, b"http://127.0.0.1/", ["http://127.0.0.1/"]])
def test_policy_refuses_non_strings(value: Any) -> None:
    assert not POLICY.allows(value)


def test_policy_with_empty_allow_list_still_allows_loopback_only() -> None:
    policy = RedirectPolicy(())
    assert policy.allows("http://127.0.0.1:1234/cb")
    assert not policy.allows("https://claude.ai/api/mcp/auth_callback")
    assert not policy.allows("cursor://anysphere.cursor-mcp/oauth/callback")


def test_known_client_list_is_a_valid_allow_list() -> None:
    assert [allow_list_problem(uri) for uri in KNOWN_CLIENT_REDIRECT_URIS] == [None] * len(KNOWN_CLIENT_REDIRECT_URIS)
    assert "https://claude.ai/api/mcp/auth_callback" in KNOWN_CLIENT_REDIRECT_URIS
    assert "https://chatgpt.com/connector_platform_oauth_redirect" in KNOWN_CLIENT_REDIRECT_URIS


@pytest.mark.parametrize(
    "entry",
    [
        "http://example.com/callback",
        "http://127.0.0.1/callback",
        "javascript:alert(1)",
        "data:text/html,x",
        "file:///tmp/x",
        "https://user@example.com/cb",
        "https://example.com/cb#x",
        "https://Example.com/cb",
        "https:example.com/cb",
        "https:///cb",
        "https://exa%6dple.com/cb",
        "https://example.com/c b",
        "https://exämple.com/cb",
        "",
        "https://example.com/" + "a" * MAX_URI_CHARS,
    ],
)
def test_allow_list_entries_are_checked(entry: str) -> None:
    assert allow_list_problem(entry) is not None
    with pytest.raises(ValueError):
        RedirectPolicy([entry])


def test_redirect_uri_match_is_exact_except_the_loopback_port() -> None:
    registered = ["http://127.0.0.1/", "http://127.0.0.1:33418/", "https://vscode.dev/redirect", "http://localhost:3334/cb"]
    # RFC 8252 §7.3: a native app may pick another port at request time.
    assert redirect_uri_matches(registered, "http://127.0.0.1:59656/")
    assert redirect_uri_matches(registered, "http://localhost:49999/cb")
    assert redirect_uri_matches(registered, "https://vscode.dev/redirect")
    # ...but nothing else may differ.
    assert not redirect_uri_matches(registered, "http://127.0.0.1:59656/other")
    assert not redirect_uri_matches(registered, "http://localhost:59656/")  # host differs
    assert not redirect_uri_matches(registered, "http://[::1]:59656/")
    assert not redirect_uri_matches(registered, "http://127.0.0.1:59656/?x=1")
    assert not redirect_uri_matches(registered, "https://vscode.dev:8443/redirect")
    assert not redirect_uri_matches(registered, "https://vscode.dev/redirect/")
    assert not redirect_uri_matches(registered, "http://127.0.0.1.evil.com:59656/")
    assert not redirect_uri_matches(["https://vscode.dev/redirect"], "http://127.0.0.1/")


# --------------------------------------------------------------------------- registration


def registry(store: MemoryClientStore = None, fetch=None, clock=None, **settings: Any) -> ClientRegistry:
    return ClientRegistry(
        store if store is not None else MemoryClientStore(),
        StandInOAuthSettings(**settings),
        fetch=fetch or refuse_fetch,
        clock=clock or Clock(),
    )


def refuse_fetch(url: str) -> Mapping[str, Any]:
    raise AssertionError(f"unexpected fetch of {url}")


def refused(reg: ClientRegistry, metadata: Any) -> RegistrationError:
    with pytest.raises(RegistrationError) as caught:
        reg.register(metadata)
    return caught.value


def test_register_minimal_public_client() -> None:
    store, clock = MemoryClientStore(), Clock()
    reg = registry(store, clock=clock)
    body = reg.register({"redirect_uris": ["http://127.0.0.1:33418/callback"]})

    assert body == {
        "client_id": body["client_id"],
        "client_id_issued_at": int(clock.now.timestamp()),
        "client_name": "127.0.0.1",  # the host of the first redirect URI
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "token_endpoint_auth_method": "none",  # omitted: a public client (PKCE)
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "registration_client_uri": f"https://superset.example.com/oauth/mcp/register/{body['client_id']}",
        "registration_access_token": body["registration_access_token"],
    }
    # 24 random bytes, URL-safe base64: 32 characters, never an https URL.
    assert len(body["client_id"]) == 32 and not body["client_id"].startswith("https")
    assert len(body["registration_access_token"]) == 43  # 256 random bits
    stored = store.clients[body["client_id"]]
    assert stored == Client(body["client_id"], "127.0.0.1", ("http://127.0.0.1:33418/callback",), "dcr", clock.now,
                            registration_token_hash=secret_hash(body["registration_access_token"]))
    assert stored.client_secret_hash is None and not stored.confidential
    assert reg.get(body["client_id"]) == stored
    assert reg.by_registration_token(body["registration_access_token"]) == stored


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_register_confidential_client_gets_a_secret_once(method: str) -> None:
    """Claude.ai's connectors register with client_secret_post (anthropics/claude-ai-mcp #1043)."""
    store, clock = MemoryClientStore(), Clock()
    reg = registry(store, clock=clock)
    body = reg.register({
        "client_name": "Claude", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
        "token_endpoint_auth_method": method, "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    })
    secret = body.pop("client_secret")
    assert body == {
        "client_id": body["client_id"],
        "client_id_issued_at": int(clock.now.timestamp()),
        "client_name": "Claude",
        "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
        "token_endpoint_auth_method": method,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_secret_expires_at": 0,  # RFC 7591 §3.2.1: required with a secret; 0 = never
        "registration_client_uri": f"https://superset.example.com/oauth/mcp/register/{body['client_id']}",
        "registration_access_token": body["registration_access_token"],
    }
    assert len(secret) == 43 and secret != body["registration_access_token"]  # 32 random bytes each
    stored = store.clients[body["client_id"]]
    assert stored.token_endpoint_auth_method == method and stored.confidential
    assert stored.client_secret_hash == secret_hash(secret) and secret not in repr(stored)
    assert stored.check_secret(secret)
    assert not stored.check_secret(secret[:-1]) and not stored.check_secret("") and not stored.check_secret(None)
    # Read back later: the same answer, without the secret and the token (RFC 7592 shows neither again).
    information = reg.information(stored)
    assert "client_secret" not in information and "registration_access_token" not in information
    assert information == {k: v for k, v in body.items() if k != "registration_access_token"}


def test_secrets_and_tokens_are_distinct_per_registration() -> None:
    reg = registry()
    bodies = [reg.register({**CB, "token_endpoint_auth_method": "client_secret_post"}) for _ in range(20)]
    values = [b[k] for b in bodies for k in ("client_id", "client_secret", "registration_access_token")]
    assert len(set(values)) == 60


def test_registration_sweeps_before_it_counts() -> None:
    """MCP_OAUTH_MAX_CLIENTS counts only what the sweep left: a full store with removable rows still registers."""
    store = MemoryClientStore()
    reg = registry(store, max_clients=1)
    first = reg.register(CB)["client_id"]
    assert refused(reg, CB).status == 503
    store.due.add(first)  # its time has come (the rules: tests/unit/test_oauth_store.py)
    second = reg.register(CB)["client_id"]
    assert set(store.clients) == {second}
    assert store.sweeps == [(7200, 30 * 86400)] * 3


def test_sweep_is_logged_when_it_removes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="superset_mcp_jwt.oauth.clients")
    store = MemoryClientStore()
    reg = registry(store, unused_client_ttl=600, idle_client_ttl=7200)
    assert reg.sweep() == 0
    store.due.add(reg.register(CB)["client_id"])
    caplog.clear()
    assert reg.sweep() == 1
    assert [r.getMessage() for r in caplog.records] == ["superset-mcp-jwt: removed 1 unused or idle OAuth client(s)"]
    assert store.sweeps[-1] == (600, 7200)


@pytest.mark.parametrize("token", [None, "", 42, "x" * 513, "not-a-token"])
def test_unknown_registration_token_is_no_client(token: Any) -> None:
    reg = registry()
    reg.register(CB)
    assert reg.by_registration_token(token) is None


def test_register_full_metadata_as_claude_sends_it() -> None:
    reg = registry()
    body = reg.register(
        {
            "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "Claude",
            "scope": "mcp:read mcp:sql",
            "client_uri": "https://claude.ai",
            "contacts": ["someone@example.com"],
            "software_id": "claude",
            "x-unknown-extension": {"ignored": True},
        }
    )
    assert body["client_name"] == "Claude"
    assert body["redirect_uris"] == ["https://claude.ai/api/mcp/auth_callback"]
    assert reg.get(body["client_id"]).client_name == "Claude"


def test_client_ids_are_random_and_distinct() -> None:
    reg = registry()
    ids = {reg.register({"redirect_uris": ["http://localhost:9/cb"]})["client_id"] for _ in range(50)}
    assert len(ids) == 50


def test_a_client_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin pastes it into `superset mcp-jwt clients revoke ID`, where `-...` reads as an option."""
    drawn = iter(["-dash", "-again", "Ab-c_d"])
    monkeypatch.setattr("superset_mcp_jwt.oauth.clients.secrets.token_urlsafe",
                        lambda n: next(drawn) if n == 24 else "x" * 43)
    body = registry().register({"redirect_uris": ["http://localhost:9/cb"]})
    assert body["client_id"] == "Ab-c_d"


def test_duplicate_redirect_uris_are_stored_once() -> None:
    store = MemoryClientStore()
    body = registry(store).register({"redirect_uris": ["http://localhost:9/cb", "http://localhost:9/cb"]})
    assert store.clients[body["client_id"]].redirect_uris == ("http://localhost:9/cb",)


CB = {"redirect_uris": ["http://127.0.0.1/cb"]}
REDIRECT_REFUSED = (
    "Redirect URIs must be loopback http (127.0.0.1, localhost or [::1]) or one of the server's allowed redirect URIs."
)
STRINGS_BOUND = f"must hold strings of at most {MAX_URI_CHARS} characters."
AUTH_METHOD = "token_endpoint_auth_method must be none or client_secret_post or client_secret_basic."
CIMD_AUTH_METHOD = "token_endpoint_auth_method must be none."
NO_SECRET = "client_secret is issued by the server and cannot be chosen."
NAME_CHARS = "client_name contains control or formatting characters."
NAME_LENGTH = f"client_name must be 1 to {MAX_CLIENT_NAME_CHARS} characters."


@pytest.mark.parametrize(
    "metadata, error, description",
    [
        ({}, "invalid_redirect_uri", "redirect_uris is required."),
        ({"redirect_uris": []}, "invalid_redirect_uri", "redirect_uris is required."),
        ({"redirect_uris": "http://127.0.0.1/cb"}, "invalid_client_metadata", "redirect_uris must be a JSON array."),
        ({"redirect_uris": [42]}, "invalid_client_metadata", "redirect_uris " + STRINGS_BOUND),
        ({"redirect_uris": [None]}, "invalid_client_metadata", "redirect_uris " + STRINGS_BOUND),
        ({"redirect_uris": [["http://127.0.0.1/cb"]]}, "invalid_client_metadata", "redirect_uris " + STRINGS_BOUND),
        ({"redirect_uris": ["https://evil.example/cb"]}, "invalid_redirect_uri", REDIRECT_REFUSED),
        ({"redirect_uris": ["http://127.0.0.1/cb", "https://claude.ai@evil.com/api/mcp/auth_callback"]}, "invalid_redirect_uri", REDIRECT_REFUSED),
        ({"redirect_uris": [f"http://127.0.0.1:{1000 + i}/cb" for i in range(MAX_REDIRECT_URIS + 1)]}, "invalid_redirect_uri", f"At most {MAX_REDIRECT_URIS} redirect_uris."),
        ({"redirect_uris": ["http://127.0.0.1/" + "a" * (MAX_URI_CHARS - 16)]}, "invalid_client_metadata", "redirect_uris " + STRINGS_BOUND),
        ({"redirect_uris": ["http://127.0.0.1/" + "a" * MAX_URI_CHARS]}, "invalid_client_metadata", "redirect_uris " + STRINGS_BOUND),
        ({**CB, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata", AUTH_METHOD),
        ({**CB, "token_endpoint_auth_method": "client_secret_jwt"}, "invalid_client_metadata", AUTH_METHOD),
        ({**CB, "token_endpoint_auth_method": "tls_client_auth"}, "invalid_client_metadata", AUTH_METHOD),
        ({**CB, "token_endpoint_auth_method": "Client_Secret_Post"}, "invalid_client_metadata", AUTH_METHOD),
        ({**CB, "token_endpoint_auth_method": ""}, "invalid_client_metadata", AUTH_METHOD),
        ({**CB, "token_endpoint_auth_method": ["none"]}, "invalid_client_metadata", "token_endpoint_auth_method must be a JSON string."),
        ({**CB, "grant_types": ["client_credentials"]}, "invalid_client_metadata", "Unsupported or invalid value for grant_types."),
        ({**CB, "grant_types": ["authorization_code", "implicit"]}, "invalid_client_metadata", "Unsupported or invalid value for grant_types."),
        ({**CB, "grant_types": "authorization_code"}, "invalid_client_metadata", "grant_types must be a JSON array."),
        ({**CB, "grant_types": []}, "invalid_client_metadata", "grant_types must not be empty."),
        ({**CB, "response_types": ["token"]}, "invalid_client_metadata", "Unsupported or invalid value for response_types."),
        ({**CB, "response_types": ["code id_token"]}, "invalid_client_metadata", "Unsupported or invalid value for response_types."),
        ({**CB, "response_types": "code"}, "invalid_client_metadata", "response_types must be a JSON array."),
        ({**CB, "response_types": []}, "invalid_client_metadata", "response_types must not be empty."),
        ({**CB, "scope": "mcp:read admin"}, "invalid_client_metadata", "Unsupported or invalid value for scope."),
        ({**CB, "scope": ["mcp:read"]}, "invalid_client_metadata", "scope must be a JSON string."),
        ({**CB, "client_name": 7}, "invalid_client_metadata", "client_name must be a JSON string."),
        ({**CB, "client_name": ["Claude"]}, "invalid_client_metadata", "client_name must be a JSON string."),
        ({**CB, "client_name": ""}, "invalid_client_metadata", NAME_LENGTH),
        ({**CB, "client_name": "   "}, "invalid_client_metadata", NAME_LENGTH),
        ({**CB, "client_name": "x" * (MAX_CLIENT_NAME_CHARS + 1)}, "invalid_client_metadata", NAME_LENGTH),
        ({**CB, "client_name": " " + "x" * (MAX_CLIENT_NAME_CHARS + 1) + " "}, "invalid_client_metadata", NAME_LENGTH),
        ({**CB, "client_name": "x" * (MAX_URI_CHARS + 1)}, "invalid_client_metadata", f"client_name is longer than {MAX_URI_CHARS} characters."),
        ({**CB, "client_name": "Claude\u202egnp.exe"}, "invalid_client_metadata", NAME_CHARS),  # bidi override (Cf)
        ({**CB, "client_name": "Claude\nAllow"}, "invalid_client_metadata", NAME_CHARS),  # Cc
        ({**CB, "client_name": "Cla\u200bude"}, "invalid_client_metadata", NAME_CHARS),  # zero-width space (Cf)
        ({**CB, "client_name": "Claude\u2028Allow"}, "invalid_client_metadata", NAME_CHARS),  # line separator (Zl)
        ({**CB, "client_name": "Claude\u2029Allow"}, "invalid_client_metadata", NAME_CHARS),  # paragraph separator (Zp)
        ({**CB, "client_name": "Claude\ue000"}, "invalid_client_metadata", NAME_CHARS),  # private use (Co)
        ({**CB, "client_uri": 5}, "invalid_client_metadata", "client_uri must be a JSON string."),
        ({**CB, "client_uri": "https://claude.ai@evil.com/"}, "invalid_client_metadata", "Unsupported or invalid value for client_uri."),
        ({**CB, "logo_uri": "not a url"}, "invalid_client_metadata", "Unsupported or invalid value for logo_uri."),
        ({**CB, "contacts": "me@example.com"}, "invalid_client_metadata", "contacts must be a JSON array."),
        ({**CB, "contacts": [{"email": "me@example.com"}]}, "invalid_client_metadata", "contacts " + STRINGS_BOUND),
        ({**CB, "contacts": ["a" * (MAX_URI_CHARS + 1)]}, "invalid_client_metadata", "contacts " + STRINGS_BOUND),
        ({**CB, "jwks": "keys"}, "invalid_client_metadata", "jwks must be a JSON object."),
        ({**CB, "software_version": 2}, "invalid_client_metadata", "software_version must be a JSON string."),
        ({**CB, "software_id": "s" * (MAX_URI_CHARS + 1)}, "invalid_client_metadata", f"software_id is longer than {MAX_URI_CHARS} characters."),
        ({**CB, "software_statement": "e" * (MAX_URI_CHARS + 1)}, "invalid_client_metadata", f"software_statement is longer than {MAX_URI_CHARS} characters."),
        ({**CB, "client_secret": "s3cret"}, "invalid_client_metadata", NO_SECRET),
        ({**CB, "client_secret_expires_at": 0}, "invalid_client_metadata", NO_SECRET),
        (["http://127.0.0.1/cb"], "invalid_client_metadata", "The client metadata must be a JSON object."),
        ("{}", "invalid_client_metadata", "The client metadata must be a JSON object."),
        (None, "invalid_client_metadata", "The client metadata must be a JSON object."),
    ],
)
def test_register_refuses_invalid_metadata(metadata: Any, error: str, description: str) -> None:
    store = MemoryClientStore()
    failure = refused(registry(store), metadata)
    assert (failure.error, failure.description, failure.status) == (error, description, 400)
    assert failure.body() == {"error": error, "error_description": description}
    assert str(failure) == f"{error}: {description}"
    assert store.clients == {}


LONGEST_LOOPBACK = "http://127.0.0.1/" + "a" * (MAX_URI_CHARS - 17)
MOST_REDIRECTS = [f"http://127.0.0.1:{1000 + i}/cb" for i in range(MAX_REDIRECT_URIS)]


@pytest.mark.parametrize(
    "metadata, redirect_uris, client_name",
    [
        # every bound is inclusive
        ({"redirect_uris": MOST_REDIRECTS}, MOST_REDIRECTS, "127.0.0.1"),
        ({"redirect_uris": [LONGEST_LOOPBACK]}, [LONGEST_LOOPBACK], "127.0.0.1"),
        ({**CB, "client_name": "n" * MAX_CLIENT_NAME_CHARS}, CB["redirect_uris"], "n" * MAX_CLIENT_NAME_CHARS),
        ({**CB, "client_name": "  Claude Code  "}, CB["redirect_uris"], "Claude Code"),
        ({**CB, "client_name": "é"}, CB["redirect_uris"], "é"),
        ({**CB, "software_id": "s" * MAX_URI_CHARS, "contacts": ["c" * MAX_URI_CHARS]}, CB["redirect_uris"], "127.0.0.1"),
        # keys mean nothing for a public client: not checked, not stored
        ({**CB, "jwks": {"keys": [{"kty": "none-such"}]}}, CB["redirect_uris"], "127.0.0.1"),
        ({**CB, "jwks": {"keys": []}, "jwks_uri": "https://client.example/jwks.json"}, CB["redirect_uris"], "127.0.0.1"),
        # without a client_name: the host of the first redirect URI
        ({"redirect_uris": ["http://localhost:9/cb", "http://[::1]:9/cb"]}, ["http://localhost:9/cb", "http://[::1]:9/cb"], "localhost"),
        ({"redirect_uris": ["http://[::1]:9/cb"]}, ["http://[::1]:9/cb"], "::1"),
        ({"redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback"]}, ["cursor://anysphere.cursor-mcp/oauth/callback"], "anysphere.cursor-mcp"),
    ],
)
def test_register_accepts(metadata: dict, redirect_uris: list, client_name: str) -> None:
    store = MemoryClientStore()
    body = registry(store).register(metadata)
    assert (body["redirect_uris"], body["client_name"]) == (redirect_uris, client_name)
    stored = store.clients[body["client_id"]]
    assert (stored.redirect_uris, stored.client_name) == (tuple(redirect_uris), client_name)


def test_refusal_descriptions_do_not_echo_the_input() -> None:
    marker = "<script>marker</script>"
    for metadata in (
        {"redirect_uris": [f"https://evil.example/{marker}"]},
        {"redirect_uris": ["http://127.0.0.1/cb"], "scope": marker},
        {"redirect_uris": ["http://127.0.0.1/cb"], "client_name": marker + "\n"},
    ):
        assert marker not in refused(registry(), metadata).description


@pytest.mark.parametrize(
    "client_id",
    [
        "https://claude.ai/oauth/mcp-oauth-client-metadata",
        "https://evil.example/client.json",
        "chosen-by-me",
        "",
    ],
)
def test_client_cannot_choose_its_client_id(client_id: str) -> None:
    store = MemoryClientStore()
    failure = refused(registry(store), {"redirect_uris": ["http://127.0.0.1/cb"], "client_id": client_id})
    assert (failure.error, failure.description) == (
        "invalid_client_metadata", "client_id is assigned by the server and cannot be chosen."
    )
    assert store.clients == {}


def test_registration_cannot_overwrite_or_shadow_a_cimd_client() -> None:
    """A registered client never gets an https client_id, so it cannot pose as a
    metadata-document client; and a DCR row under such an id is never served."""
    url = "https://claude.ai/oauth/mcp-oauth-client-metadata"
    store = MemoryClientStore()
    store.save_client(Client(url, "Claude", ("https://evil.example/cb",), "dcr", Clock().now))
    reg = registry(store, fetch=lambda u: {"client_id": "https://other.example/x", "redirect_uris": ["http://127.0.0.1/cb"]})
    assert reg.get(url) is None  # the DCR row is ignored; the fetched document does not match
    body = reg.register({"redirect_uris": ["http://127.0.0.1/cb"], "client_name": "Claude"})
    assert not body["client_id"].startswith("https://")


def test_unknown_client_is_none() -> None:
    reg = registry()
    assert reg.get("no-such-client") is None
    assert reg.get("") is None
    assert reg.get("x" * 5000) is None


def test_registration_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="superset_mcp_jwt.oauth.clients")
    body = registry().register({**CB, "client_name": "Claude"})
    assert [record.getMessage() for record in caplog.records] == [
        f"superset-mcp-jwt: registered OAuth client {body['client_id']} ('Claude', none)"
    ]


def test_default_clock_is_aware_utc() -> None:
    store = MemoryClientStore()
    reg = ClientRegistry(store, StandInOAuthSettings(), fetch=refuse_fetch)
    body = reg.register(CB)
    assert store.clients[body["client_id"]].created_at.tzinfo is datetime.timezone.utc


def test_client_count_is_bounded() -> None:
    store = MemoryClientStore()
    store.save_client(Client("https://a.example/c", "A", ("http://127.0.0.1/cb",), "cimd", Clock().now))
    reg = registry(store, max_clients=2)
    reg.register({"redirect_uris": ["http://127.0.0.1/cb"]})
    reg.register({"redirect_uris": ["http://127.0.0.1/cb"]})  # the cimd row does not count
    failure = refused(reg, {"redirect_uris": ["http://127.0.0.1/cb"]})
    assert (failure.error, failure.description, failure.status) == (
        "temporarily_unavailable", "The server accepts no more client registrations.", 503
    )
    assert store.count_clients("dcr") == 2


def test_count_bound_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    reg = registry(max_clients=0)
    refused(reg, {"redirect_uris": ["http://127.0.0.1/cb"]})
    assert [record.getMessage() for record in caplog.records] == [
        "superset-mcp-jwt: client registration refused: MCP_OAUTH_MAX_CLIENTS (0) reached"
    ]


def test_registration_can_be_disabled() -> None:
    store = MemoryClientStore()
    failure = refused(registry(store, dynamic_registration=False), {"redirect_uris": ["http://127.0.0.1/cb"]})
    assert (failure.error, failure.description, failure.status) == (
        "invalid_request", "Dynamic client registration is disabled.", 403
    )
    assert store.clients == {}


def test_custom_allow_list_replaces_the_default() -> None:
    reg = registry(allowed_redirect_uris=("https://app.example.com/oauth/callback",))
    assert reg.register({"redirect_uris": ["https://app.example.com/oauth/callback"]})["client_name"] == "app.example.com"
    assert refused(reg, {"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]}).error == "invalid_redirect_uri"


def test_bad_allow_list_fails_at_construction() -> None:
    with pytest.raises(ValueError) as caught:
        registry(allowed_redirect_uris=("https://claude.ai/api/mcp/auth_callback", "http://example.com/cb"))
    assert str(caught.value) == (
        "redirect URI 'http://example.com/cb' uses the 'http' scheme "
        "(loopback http is always allowed; others must be https)"
    )


def test_default_fetcher_follows_the_settings() -> None:
    settings = StandInOAuthSettings(cimd_timeout=2.5, cimd_max_bytes=1234, cimd_allow_private_addresses=True)
    reg = ClientRegistry(MemoryClientStore(), settings)
    assert isinstance(reg.fetch, CIMDFetcher)
    assert (reg.fetch.timeout, reg.fetch.max_bytes, reg.fetch.allow_private) == (2.5, 1234, True)
    assert reg.policy.allowed == frozenset(KNOWN_CLIENT_REDIRECT_URIS)
    assert reg.clock is _now
    default = CIMDFetcher(timeout=1, max_bytes=10)
    assert default.allow_private is False
    assert default.ssl_context.verify_mode == ssl.CERT_REQUIRED and default.ssl_context.check_hostname


# --------------------------------------------------------------------------- CIMD through the registry

URL = "https://client.example/oauth/metadata.json"


class StubFetch:
    """Answers with a document (or raises); counts calls."""

    def __init__(self, document: Any = None, error: bool = False) -> None:
        self.document = document if document is not None else {
            "client_id": URL,
            "client_name": "Example Client",
            "redirect_uris": ["https://claude.ai/api/mcp/auth_callback", "http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }
        self.error = error
        self.calls = 0

    def __call__(self, url: str) -> Mapping[str, Any]:
        self.calls += 1
        if self.error:
            raise RegistrationError("invalid_client_metadata", "The client metadata fetch failed.")
        return self.document


def test_cimd_client_is_fetched_and_cached_in_the_store() -> None:
    store, fetch, clock = MemoryClientStore(), StubFetch(), Clock()
    reg = registry(store, fetch=fetch, clock=clock)
    client = reg.get(URL)
    assert client == Client(
        URL,
        "Example Client",
        ("https://claude.ai/api/mcp/auth_callback", "http://127.0.0.1/cb"),
        "cimd",
        clock.now,
        expires_at=clock.now + datetime.timedelta(seconds=3600),
    )
    assert store.clients[URL] == client
    clock.advance(3599)
    assert reg.get(URL) == client
    # Another replica (another registry on the same store) uses the stored copy too.
    assert registry(store, fetch=StubFetch(error=True), clock=clock).get(URL) == client
    assert fetch.calls == 1


def test_cimd_is_fetched_again_after_the_cache_time() -> None:
    store, fetch, clock = MemoryClientStore(), StubFetch(), Clock()
    reg = registry(store, fetch=fetch, clock=clock, cimd_cache_seconds=60)
    first = reg.get(URL)
    clock.advance(60)
    fetch.document = dict(fetch.document, client_name="Renamed")
    second = reg.get(URL)
    assert fetch.calls == 2
    assert second.client_name == "Renamed"
    assert second.created_at == first.created_at
    assert second.expires_at == clock.now + datetime.timedelta(seconds=60)


def test_cimd_fails_closed_when_the_refetch_fails() -> None:
    store, clock = MemoryClientStore(), Clock()
    registry(store, fetch=StubFetch(), clock=clock).get(URL)
    clock.advance(3600)
    assert registry(store, fetch=StubFetch(error=True), clock=clock).get(URL) is None


def test_cimd_expiry_in_another_zone_is_compared_as_an_instant() -> None:
    store, fetch, clock = MemoryClientStore(), StubFetch(), Clock()
    reg = registry(store, fetch=fetch, clock=clock)
    client = reg.get(URL)
    zone = datetime.timezone(datetime.timedelta(hours=-5))
    store.clients[URL] = dataclasses.replace(client, expires_at=client.expires_at.astimezone(zone))
    clock.advance(3599)
    assert reg.get(URL) is not None
    assert fetch.calls == 1


def test_cimd_expiry_read_back_as_naive_utc() -> None:
    store, fetch, clock = MemoryClientStore(), StubFetch(), Clock()
    reg = registry(store, fetch=fetch, clock=clock)
    client = reg.get(URL)
    store.clients[URL] = dataclasses.replace(client, expires_at=client.expires_at.replace(tzinfo=None))
    assert reg.get(URL) is not None
    assert fetch.calls == 1


@pytest.mark.parametrize(
    "change, description",
    [
        ({"client_id": "https://client.example/oauth/other.json"}, "The document's client_id is not the URL it was fetched from."),
        ({"client_id": URL + "/"}, "The document's client_id is not the URL it was fetched from."),
        ({"client_id": None}, "The document's client_id is not the URL it was fetched from."),
        ({"redirect_uris": ["https://evil.example/cb"]}, REDIRECT_REFUSED),
        ({"redirect_uris": []}, "redirect_uris is required."),
        ({"token_endpoint_auth_method": "client_secret_post"}, CIMD_AUTH_METHOD),
        ({"token_endpoint_auth_method": "client_secret_basic"}, CIMD_AUTH_METHOD),
        ({"client_secret": "x"}, NO_SECRET),
        ({"client_name": "n" * (MAX_CLIENT_NAME_CHARS + 1)}, NAME_LENGTH),
        ({"grant_types": ["client_credentials"]}, "Unsupported or invalid value for grant_types."),
    ],
)
def test_cimd_document_is_validated(change: dict, description: str, caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryClientStore()
    document = {key: value for key, value in {**StubFetch().document, **change}.items() if value is not None}
    assert registry(store, fetch=StubFetch(document)).get(URL) is None
    assert store.clients == {}
    assert [record.getMessage() for record in caplog.records] == [
        f"superset-mcp-jwt: client metadata document {URL!r} refused: {description}"
    ]


def test_cimd_name_defaults_to_the_client_id_host() -> None:
    document = {"client_id": URL, "redirect_uris": ["http://127.0.0.1/cb"]}
    assert registry(fetch=StubFetch(document)).get(URL).client_name == "client.example"


def test_cimd_without_a_name_or_a_host_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    """Only a fetch other than CIMDFetcher could hand over such a client_id; there is no name to show."""
    url = "https://:8443/oauth/metadata.json"
    document = {"client_id": url, "redirect_uris": ["http://127.0.0.1/cb"]}
    assert registry(fetch=StubFetch(document)).get(url) is None
    assert [record.getMessage() for record in caplog.records] == [
        f"superset-mcp-jwt: client metadata document {url!r} refused: {NAME_LENGTH}"
    ]


def test_cimd_client_id_length_bound_is_inclusive() -> None:
    longest = "https://client.example/" + "m" * (MAX_CIMD_URL_CHARS - 23)
    assert len(longest) == MAX_CIMD_URL_CHARS
    document = {"client_id": longest, "redirect_uris": ["http://127.0.0.1/cb"]}
    assert registry(fetch=StubFetch(document)).get(longest).client_id == longest
    assert registry(fetch=refuse_fetch).get(longest + "m") is None


@pytest.mark.parametrize("client_id", [None, 42, b"https://client.example/oauth/metadata.json", ""])
def test_client_id_must_be_a_non_empty_string(client_id: Any) -> None:
    assert registry(fetch=refuse_fetch).get(client_id) is None


def test_rows_of_the_other_kind_are_not_served() -> None:
    store, fetch, clock = MemoryClientStore(), StubFetch(), Clock()
    store.save_client(Client("plain-id", "Odd", ("http://127.0.0.1/cb",), "cimd", clock.now, clock.now + datetime.timedelta(days=1)))
    store.save_client(Client(URL, "Odd", ("http://127.0.0.1/cb",), "dcr", clock.now, clock.now + datetime.timedelta(days=1)))
    reg = registry(store, fetch=fetch, clock=clock)
    assert reg.get("plain-id") is None
    assert reg.get("http://client.example/oauth/metadata.json") is None  # not https: a (missing) registered id
    assert reg.get(URL).kind == "cimd"  # fetched: the dcr row is not a cache
    assert fetch.calls == 1


def test_cimd_row_without_expiry_is_fetched_again() -> None:
    store, fetch, clock = MemoryClientStore(), StubFetch(), Clock()
    store.save_client(Client(URL, "Stale", ("http://127.0.0.1/cb",), "cimd", clock.now - datetime.timedelta(days=1)))
    client = registry(store, fetch=fetch, clock=clock).get(URL)
    assert (client.client_name, client.created_at, fetch.calls) == ("Example Client", clock.now - datetime.timedelta(days=1), 1)


def test_cimd_disabled_means_no_fetch() -> None:
    assert registry(fetch=refuse_fetch, client_metadata_documents=False).get(URL) is None


def test_cimd_clients_are_bounded_too(caplog: pytest.LogCaptureFixture) -> None:
    store, clock = MemoryClientStore(), Clock()
    reg = registry(store, fetch=StubFetch(), clock=clock, max_clients=1)
    assert reg.get(URL) is not None
    other = "https://other.example/meta.json"
    assert registry(store, fetch=StubFetch(dict(StubFetch().document, client_id=other)), max_clients=1).get(other) is None
    assert [record.getMessage() for record in caplog.records] == [
        f"superset-mcp-jwt: client metadata document {other!r} refused: MCP_OAUTH_MAX_CLIENTS (1) reached"
    ]
    clock.advance(4000)
    assert reg.get(URL) is not None  # a known document may still be refreshed
