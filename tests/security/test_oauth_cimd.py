"""Client ID Metadata Documents against real HTTPS servers on loopback.

The fetcher is the production one; the tests only hand it an SSL context that
trusts a throw-away certificate (for ``localhost`` and ``cimd.test``) and, for
the good paths, ``allow_private=True`` since the servers live on loopback.
SSRF: private, loopback, link-local, CGNAT, mapped and other non-public
addresses are refused before any connection; redirects are not followed; a
huge or slow document is cut off within its byte and time bounds.
"""

from __future__ import annotations

import datetime
import errno
import http.client
import http.server
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from superset_mcp_jwt.oauth import clients
from superset_mcp_jwt.oauth.clients import (
    MAX_CIMD_URL_CHARS,
    MAX_CONCURRENT_FETCHES,
    CIMDFetcher,
    ClientRegistry,
    RegistrationError,
    is_public_address,
)

from tests.oauth_fakes import Clock, MemoryClientStore, StandInOAuthSettings

HUGE_BYTES = 64 * 1024 * 1024


class Server:
    """An HTTPS server on 127.0.0.1 with one behaviour per path; records what it did."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.hits: list[str] = []
        self.sent_huge = 0
        self.huge_done = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.hits.append(self.path)
                route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                    return
                try:
                    route(self)
                except (OSError, ssl.SSLError):
                    pass  # the client hung up: that is what the bounds are for

        self.routes: dict[str, Callable[[http.server.BaseHTTPRequestHandler], None]] = {}
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.DNSName("cimd.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting only the test certificate)."""
    cert_path, key_path = _certificate(tmp_path_factory.mktemp("cimd-tls"))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    return server_context, ssl.create_default_context(cafile=str(cert_path))


@pytest.fixture
def server(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[Server]:
    running = Server(tls[0])
    yield running
    running.close()


def fetcher(tls: tuple[ssl.SSLContext, ssl.SSLContext], timeout: float = 2.0, max_bytes: int = 65536,
            allow_private: bool = True) -> CIMDFetcher:
    return CIMDFetcher(timeout=timeout, max_bytes=max_bytes, allow_private=allow_private, ssl_context=tls[1])


def document(url: str, **changes: Any) -> dict[str, Any]:
    body = {
        "client_id": url,
        "client_name": "Loopback Test Client",
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    }
    body.update(changes)
    return body


def serve_json(server: Server, path: str, body: Any, content_type: str = "application/json", status: int = 200,
               seen: Optional[Callable[[http.server.BaseHTTPRequestHandler], None]] = None) -> str:
    """Answer ``path`` with ``body``; ``seen`` sees each request first."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        if seen is not None:
            seen(handler)
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    server.routes[path] = route
    return server.url(path)


def refusal(fetch: CIMDFetcher, url: str) -> tuple[RegistrationError, float]:
    started = time.monotonic()
    with pytest.raises(RegistrationError) as caught:
        fetch(url)
    return caught.value, time.monotonic() - started


# --------------------------------------------------------------------------- the good path


def test_good_document_is_fetched(server: Server, tls: Any) -> None:
    url = server.url("/client.json")
    serve_json(server, "/client.json", document(url), content_type="application/json; charset=utf-8")
    assert fetcher(tls)(url) == document(url)
    assert server.hits == ["/client.json"]


def test_registry_caches_the_document_and_refetches_after_expiry(server: Server, tls: Any) -> None:
    url = server.url("/client.json")
    serve_json(server, "/client.json", document(url))
    store, clock = MemoryClientStore(), Clock()
    settings = StandInOAuthSettings(cimd_allow_private_addresses=True, cimd_cache_seconds=60)
    registry = ClientRegistry(store, settings, fetch=fetcher(tls), clock=clock)

    client = registry.get(url)
    assert (client.client_id, client.kind, client.client_name) == (url, "cimd", "Loopback Test Client")
    assert client.redirect_uris == ("http://127.0.0.1:33418/callback",)
    assert registry.get(url) == client
    clock.advance(59)
    assert registry.get(url) == client
    assert server.hits == ["/client.json"]  # cache hits: no refetch

    clock.advance(1)
    assert registry.get(url).expires_at == clock.now + datetime.timedelta(seconds=60)
    assert server.hits == ["/client.json", "/client.json"]


def test_the_connection_goes_to_the_one_vetted_address(server: Server, tls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host is resolved exactly once; TLS SNI, certificate and Host use the name."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def resolver(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return real("127.0.0.1" if host == "cimd.test" else host, port, *args, **kwargs)

    monkeypatch.setattr(clients.socket, "getaddrinfo", resolver)
    url = f"https://cimd.test:{server.port}/client.json"
    seen_host: list[str] = []
    serve_json(server, "/client.json", document(url), seen=lambda handler: seen_host.append(handler.headers["Host"]))
    assert fetcher(tls)(url)["client_id"] == url
    assert lookups == ["cimd.test"]
    assert seen_host == [f"cimd.test:{server.port}"]


def test_the_request_on_the_default_port(server: Server, tls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No port: port 443 is looked up (TCP only); the request is a plain GET of path and query asking for JSON."""
    lookups: list[tuple[Any, ...]] = []

    def resolver(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        worker = threading.current_thread()
        lookups.append((host, port, args, kwargs, worker.name, worker.daemon))
        return _answer("127.0.0.1", port=server.port)

    monkeypatch.setattr(clients.socket, "getaddrinfo", resolver)
    url = "https://cimd.test/oauth/client.json?v=2&x=%2F"
    seen: list[Any] = []
    serve_json(server, "/oauth/client.json", document(url),
               seen=lambda handler: seen.append((handler.command, handler.path, sorted(handler.headers.items()))))
    assert fetcher(tls)(url) == document(url)
    # in a named daemon thread: a hung lookup never keeps the process from exiting
    assert lookups == [("cimd.test", 443, (), {"type": socket.SOCK_STREAM}, "cimd-resolve", True)]
    assert seen == [
        (
            "GET",
            "/oauth/client.json?v=2&x=%2F",
            sorted(
                [
                    ("Host", "cimd.test"),
                    ("Accept", "application/json"),
                    ("User-Agent", "superset-mcp-jwt (OAuth client metadata)"),
                ]
            ),
        )
    ]


def test_any_private_address_in_the_answer_refuses(tls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name answering with one public and one private address is refused (rebinding)."""
    answer = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 443)),
    ]
    monkeypatch.setattr(clients.socket, "getaddrinfo", lambda *args, **kwargs: answer)
    error, elapsed = refusal(fetcher(tls, allow_private=False), "https://rebind.test/client.json")
    assert error.description == NON_PUBLIC
    assert elapsed < 1


# --------------------------------------------------------------------------- SSRF


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.0.0.1", "[::1]"],
)
def test_loopback_refused_without_allow_private(server: Server, tls: Any, host: str) -> None:
    url = server.url("/client.json", host=host)
    serve_json(server, "/client.json", document(url))
    error, _ = refusal(fetcher(tls, allow_private=False), url)
    assert error.error == "invalid_client_metadata"
    assert error.description == NON_PUBLIC
    assert server.hits == []


@pytest.mark.parametrize(
    "host",
    [
        "10.1.2.3",  # RFC 1918
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # link-local: cloud metadata
        "100.64.0.1",  # CGNAT (shared address space)
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "198.18.0.1",  # benchmarking
        "[fd00::1]",  # unique local
        "[fe80::1]",  # link-local
        "[::ffff:127.0.0.1]",  # IPv4-mapped loopback
        "[::ffff:10.0.0.1]",  # IPv4-mapped private
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[2002:a00:1::]",  # 6to4 of 10.0.0.1
        "[::]",
        "[ff02::1]",
    ],
)
def test_non_public_literals_are_refused_before_connecting(tls: Any, host: str) -> None:
    error, elapsed = refusal(fetcher(tls, timeout=5, allow_private=False), f"https://{host}/client.json")
    unusable = host in ("0.0.0.0", "224.0.0.1", "[::]", "[ff02::1]")
    assert (error.error, error.description) == (
        "invalid_client_metadata",
        UNUSABLE if unusable else NON_PUBLIC,
    )
    assert elapsed < 1  # no connection attempt waited for a timeout


NON_PUBLIC = "The client metadata host resolves to a non-public address."
UNUSABLE = "The client metadata host has an unusable address."
NO_ADDRESS = "The client metadata host does not resolve."


def _answer(*addresses: str, port: int = 443) -> list[Any]:
    return [
        (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "",
         (address, port, 0, 0) if ":" in address else (address, port))
        for address in addresses
    ]


def _raise(error: BaseException) -> Callable[..., Any]:
    def resolver(*args: Any, **kwargs: Any) -> Any:
        raise error
    return resolver


@pytest.mark.parametrize(
    "resolver, allow_private, description",
    [
        (_raise(socket.gaierror(-2, "Name or service not known")), False, NO_ADDRESS),
        (_raise(UnicodeError("label too long")), False, NO_ADDRESS),
        (lambda *args, **kwargs: [], False, NO_ADDRESS),
        # unusable even where private addresses are allowed
        (lambda *args, **kwargs: _answer("0.0.0.0"), True, UNUSABLE),
        (lambda *args, **kwargs: _answer("::"), True, UNUSABLE),
        (lambda *args, **kwargs: _answer("127.0.0.1", "224.0.0.1"), True, UNUSABLE),
        (lambda *args, **kwargs: _answer("ff02::1"), True, UNUSABLE),
        (lambda *args, **kwargs: _answer("93.184.215.14", "10.0.0.1"), False, NON_PUBLIC),
        (lambda *args, **kwargs: _answer("fe80::1%lo"), False, NON_PUBLIC),  # scoped link-local
        (lambda *args, **kwargs: _answer("::ffff:169.254.169.254"), False, NON_PUBLIC),
    ],
)
def test_resolved_addresses_are_vetted(
    tls: Any, monkeypatch: pytest.MonkeyPatch, resolver: Callable[..., Any], allow_private: bool, description: str
) -> None:
    monkeypatch.setattr(clients.socket, "getaddrinfo", resolver)
    error, _ = refusal(fetcher(tls, allow_private=allow_private), "https://cimd.test/client.json")
    assert (error.error, error.description) == ("invalid_client_metadata", description)


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("100.100.100.100", False),
        ("169.254.0.1", False),
        ("192.0.0.1", False),
        ("fec0::1", False),
        ("64:ff9b::808:808", True),
        ("64:ff9b::7f00:1", False),
        ("224.0.1.1", False),  # multicast, though "global"
        ("ff0e::1", False),  # global-scope multicast
        ("4000::1", False),  # reserved, though "global"
        ("240.0.0.1", False),
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url, problem",
    [
        ("http://localhost/client.json", "is not https"),
        ("HTTPS://localhost/client.json", "is not https"),
        ("https:localhost/client.json", "is not https"),
        ("https://localhost/", "has no path or a dot segment"),
        ("https://localhost", "has no path or a dot segment"),
        ("https://localhost/a/../client.json", "has no path or a dot segment"),
        ("https://localhost/./client.json", "has no path or a dot segment"),
        ("https://localhost/client.json/..", "has no path or a dot segment"),
        ("https://localhost/client.json#frag", "contains a forbidden character"),
        ("https://user:pass@localhost/client.json", "has user info or an encoded host"),
        ("https://localhost\\@evil.com/client.json", "contains a forbidden character"),
        ("https://local%68ost/client.json", "has user info or an encoded host"),
        ("https://LOCALHOST/client.json", "has an invalid host"),
        ("https://a_b.example/client.json", "has an invalid host"),
        ("https://-a.example/client.json", "has an invalid host"),
        ("https://[/client.json", "has an invalid host"),  # urlsplit raises: no crash
        ("https://a]/client.json", "has an invalid host"),
        ("https://[::1x]/client.json", "has an invalid host"),
        ("https://localhost:0/client.json", "has an invalid port"),
        ("https://localhost:99999/client.json", "has an invalid port"),
        ("https://localhost:abc/client.json", "has an invalid port"),
        ("https://loc alhost/client.json", "contains a forbidden character"),
        ("https://lоcalhost/client.json", "contains a forbidden character"),  # Cyrillic о
        ("https://localhost/client.json\n", "contains a forbidden character"),
        ("https://x.example/" + "a" * (MAX_CIMD_URL_CHARS - 17), "is too long"),
    ],
)
def test_client_id_url_shape_is_checked(tls: Any, url: str, problem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients.socket, "getaddrinfo", refuse_lookup)  # refused before any lookup
    assert clients.cimd_url_problem(url) == problem
    error, _ = refusal(fetcher(tls), url)
    assert (error.error, error.description) == ("invalid_client_metadata", f"The client_id URL {problem}.")


def refuse_lookup(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("unexpected name lookup")


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/client.json",
        "https://localhost:443/client.json",
        "https://[::1]/client.json",
        "https://127.0.0.1/client.json",
        "https://client.example/oauth/client.json?v=2",
        "https://x.example/" + "a" * (MAX_CIMD_URL_CHARS - 18),
    ],
)
def test_client_id_url_shapes_allowed(url: str) -> None:
    assert len(url) <= MAX_CIMD_URL_CHARS
    assert clients.cimd_url_problem(url) is None


def test_malformed_client_id_url_is_no_client(tls: Any) -> None:
    """Through the registry (as /authorize looks a client up): None, not an exception."""
    settings = StandInOAuthSettings()
    registry = ClientRegistry(MemoryClientStore(), settings, fetch=fetcher(tls, allow_private=False), clock=Clock())
    for url in ("https://[/client.json", "https://a]/client.json", "https://[::1x]/client.json"):
        assert registry.get(url) is None


def test_certificate_is_verified(server: Server, tls: Any) -> None:
    url = server.url("/client.json")
    serve_json(server, "/client.json", document(url))
    error, _ = refusal(CIMDFetcher(timeout=2, max_bytes=65536, allow_private=True), url)  # system trust store
    assert error.description == "The client metadata fetch failed."
    ip_url = server.url("/client.json", host="127.0.0.1")  # the certificate names no IP address
    refusal(fetcher(tls), ip_url)
    assert server.hits == []


# --------------------------------------------------------------------------- redirects, types, content


def test_redirect_is_not_followed(server: Server, tls: Any) -> None:
    target = server.url("/client.json")
    serve_json(server, "/client.json", document(target))

    def redirect(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", target)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server.routes["/moved.json"] = redirect
    error, _ = refusal(fetcher(tls), server.url("/moved.json"))
    assert error.description == "The client metadata document answered HTTP 302 (redirects are not followed)."
    assert server.hits == ["/moved.json"]


NOT_JSON = "The client metadata document is not JSON."
TOO_LARGE = "The client metadata document is too large."


@pytest.mark.parametrize(
    "body, content_type, description",
    [
        (b"<html>not json</html>", "text/html", NOT_JSON),
        (b'{"client_id": "x"}', "text/plain", NOT_JSON),
        (b'{"client_id": "x"}', "application/jsonx", NOT_JSON),
        (b'{"client_id": "x"}', "", NOT_JSON),
        (b"not json at all", "application/json", NOT_JSON),
        (b"\xff\xfe{}", "application/json", NOT_JSON),
        (b"[]", "application/json", "The client metadata document is not a JSON object."),
        (b'"a string"', "application/json", "The client metadata document is not a JSON object."),
    ],
)
def test_non_json_is_refused(server: Server, tls: Any, body: bytes, content_type: str, description: str) -> None:
    url = serve_json(server, "/client.json", body, content_type=content_type)
    error, _ = refusal(fetcher(tls), url)
    assert (error.error, error.description) == ("invalid_client_metadata", description)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=utf-8", " application/json ;q=1", "application/vnd.example+json"],
)
def test_json_media_types_are_accepted(server: Server, tls: Any, content_type: str) -> None:
    url = server.url("/client.json")
    serve_json(server, "/client.json", document(url), content_type=content_type)
    assert fetcher(tls)(url) == document(url)


@pytest.mark.parametrize("status", [201, 204, 301, 302, 404, 500])
def test_error_status_is_refused(server: Server, tls: Any, status: int) -> None:
    url = server.url("/client.json")
    serve_json(server, "/client.json", document(url), status=status)
    error, _ = refusal(fetcher(tls), url)
    assert (error.error, error.description) == (
        "invalid_client_metadata",
        f"The client metadata document answered HTTP {status} (redirects are not followed).",
    )


def test_failed_fetch_is_logged(server: Server, tls: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="superset_mcp_jwt.oauth.clients")
    url = server.url("/client.json")

    def garbage(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")

    server.routes["/client.json"] = garbage
    error, _ = refusal(fetcher(tls), url)
    assert (error.error, error.description) == ("invalid_client_metadata", "The client metadata fetch failed.")
    assert [record.getMessage() for record in caplog.records] == [
        f"superset-mcp-jwt: client metadata fetch failed: {url!r}: "
        + str(http.client.BadStatusLine("NOT HTTP AT ALL\r\n"))
    ]


def test_wrong_client_id_in_document_is_refused(server: Server, tls: Any) -> None:
    url = server.url("/client.json")
    serve_json(server, "/client.json", document("https://claude.ai/oauth/mcp-oauth-client-metadata"))
    registry = ClientRegistry(
        MemoryClientStore(), StandInOAuthSettings(cimd_allow_private_addresses=True), fetch=fetcher(tls), clock=Clock()
    )
    assert registry.get(url) is None
    assert server.hits == ["/client.json"]


def test_disallowed_redirect_uri_in_document_is_refused(server: Server, tls: Any) -> None:
    url = server.url("/client.json")
    serve_json(server, "/client.json", document(url, redirect_uris=["https://evil.example/steal"]))
    store = MemoryClientStore()
    registry = ClientRegistry(store, StandInOAuthSettings(cimd_allow_private_addresses=True), fetch=fetcher(tls), clock=Clock())
    assert registry.get(url) is None
    assert store.clients == {}


# --------------------------------------------------------------------------- size and time bounds


def _sized(url: str, size: int) -> bytes:
    raw = json.dumps(document(url)).encode()
    return raw + b" " * (size - len(raw))


@pytest.mark.parametrize(
    "size, content_length, accepted",
    [
        (1024, "1024", True),  # exactly max_bytes
        (1024, None, True),
        (1025, "1025", False),
        (1025, None, False),
        (100, "+100", False),  # only digits
        (100, "-1", False),
        (100, "100 ", False),
    ],
)
def test_body_size_bound_is_exact(
    server: Server, tls: Any, size: int, content_length: Any, accepted: bool
) -> None:
    url = server.url("/client.json")
    raw = _sized(url, size)

    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if content_length is None:
            handler.send_header("Connection", "close")
        else:
            handler.send_header("Content-Length", content_length)
        handler.end_headers()
        handler.wfile.write(raw)

    server.routes["/client.json"] = route
    fetch = fetcher(tls, max_bytes=1024)
    if accepted:
        assert fetch(url) == document(url)
    else:
        error, _ = refusal(fetch, url)
        assert (error.error, error.description) == ("invalid_client_metadata", TOO_LARGE)


def test_huge_declared_body_is_refused_unread(server: Server, tls: Any) -> None:
    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(HUGE_BYTES))
        handler.end_headers()
        chunk = b" " * 65536
        for _ in range(HUGE_BYTES // len(chunk)):
            handler.wfile.write(chunk)
            server.sent_huge += len(chunk)

    server.routes["/huge.json"] = route
    error, elapsed = refusal(fetcher(tls, max_bytes=4096), server.url("/huge.json"))
    assert error.description == TOO_LARGE
    assert elapsed < 2


def test_huge_streamed_body_stops_past_the_bound(server: Server, tls: Any) -> None:
    """No Content-Length: the reader stops after max_bytes + 1 and hangs up."""

    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Connection", "close")
        handler.end_headers()
        chunk = b"[" * 65536
        try:
            for _ in range(HUGE_BYTES // len(chunk)):
                handler.wfile.write(chunk)
                server.sent_huge += len(chunk)
        finally:
            server.huge_done.set()

    server.routes["/huge.json"] = route
    error, elapsed = refusal(fetcher(tls, max_bytes=4096), server.url("/huge.json"))
    assert error.description == TOO_LARGE
    assert server.huge_done.wait(10)
    assert server.sent_huge < HUGE_BYTES // 4  # the rest was never read (socket buffers hold a little)
    assert elapsed < 2


def test_huge_chunked_body_stops_past_the_bound(server: Server, tls: Any) -> None:
    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b"[" * 65536
        try:
            for _ in range(HUGE_BYTES // len(chunk)):
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                server.sent_huge += len(chunk)
        finally:
            server.huge_done.set()

    server.routes["/chunked.json"] = route
    error, _ = refusal(fetcher(tls, max_bytes=4096), server.url("/chunked.json"))
    assert error.description == TOO_LARGE
    assert server.huge_done.wait(10)
    assert server.sent_huge < HUGE_BYTES // 4


def _drip(handler: http.server.BaseHTTPRequestHandler, data: bytes, interval: float = 0.05, limit: float = 10) -> None:
    stop = time.monotonic() + limit
    for byte in data:
        if time.monotonic() > stop:
            return
        handler.wfile.write(bytes([byte]))
        time.sleep(interval)


TIMEOUT = 1.0
SLACK = 1.0  # a loaded CI machine
TIMED_OUT = "The client metadata fetch timed out."


def test_slow_body_is_cut_at_the_deadline(server: Server, tls: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="superset_mcp_jwt.oauth.clients")
    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        _drip(handler, b" " * 1000)  # one byte every 50 ms: never idle long enough for a per-read timeout

    server.routes["/slow.json"] = route
    error, elapsed = refusal(fetcher(tls, timeout=TIMEOUT), server.url("/slow.json"))
    assert error.description == TIMED_OUT
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + SLACK
    [message] = [record.getMessage() for record in caplog.records]
    # the last read either found the deadline passed or hit the socket timeout set to it
    assert message.startswith(f"superset-mcp-jwt: client metadata fetch timed out: {server.url('/slow.json')!r}: ")


def test_slow_headers_are_cut_at_the_deadline(server: Server, tls: Any) -> None:
    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        _drip(handler, b"X-Slow: " + b"a" * 1000 + b"\r\n")

    server.routes["/slow-headers.json"] = route
    error, elapsed = refusal(fetcher(tls, timeout=TIMEOUT), server.url("/slow-headers.json"))
    assert error.description == TIMED_OUT
    assert elapsed < TIMEOUT + SLACK


def test_silent_server_is_cut_at_the_deadline(server: Server, tls: Any) -> None:
    server.routes["/silent.json"] = lambda handler: time.sleep(5)
    error, elapsed = refusal(fetcher(tls, timeout=TIMEOUT), server.url("/silent.json"))
    assert error.description == TIMED_OUT
    assert elapsed < TIMEOUT + SLACK


def test_stalled_tls_handshake_is_cut_at_the_deadline(tls: Any) -> None:
    """A listener that accepts TCP but never speaks TLS."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        url = f"https://localhost:{listener.getsockname()[1]}/client.json"
        error, elapsed = refusal(fetcher(tls, timeout=TIMEOUT), url)
        assert error.description == TIMED_OUT
        assert elapsed < TIMEOUT + SLACK
    finally:
        listener.close()


def test_concurrent_fetches_are_bounded(server: Server, tls: Any) -> None:
    server.routes["/silent.json"] = lambda handler: time.sleep(3)
    fetch = fetcher(tls, timeout=2)
    errors: list[str] = []

    def slow() -> None:
        try:
            fetch(server.url("/silent.json"))
        except RegistrationError as error:
            errors.append(error.description)

    threads = [threading.Thread(target=slow) for _ in range(MAX_CONCURRENT_FETCHES)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(server.hits) < MAX_CONCURRENT_FETCHES and time.monotonic() < deadline:
        time.sleep(0.02)
    error, elapsed = refusal(fetch, server.url("/silent.json"))
    assert (error.error, error.description) == ("invalid_client_metadata", "Too many client metadata fetches at once.")
    assert elapsed < 0.5
    for thread in threads:
        thread.join()
    assert len(errors) == MAX_CONCURRENT_FETCHES


def test_fetch_slots_are_given_back(tls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fetches that end, well or not, free their slot: many in a row are never "too many"."""
    monkeypatch.setattr(clients.socket, "getaddrinfo", _raise(socket.gaierror(-2, "Name or service not known")))
    fetch = fetcher(tls)
    for _ in range(MAX_CONCURRENT_FETCHES + 2):
        error, _ = refusal(fetch, "https://cimd.test/client.json")
        assert error.description == NO_ADDRESS


def test_next_vetted_address_is_tried(
    server: Server, tls: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An address that refuses the connection is skipped for the next one of the same answer."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    url = "https://cimd.test/client.json"
    serve_json(server, "/client.json", document(url))
    answer = _answer("127.0.0.1", port=closed_port) + _answer("127.0.0.1", port=server.port)
    monkeypatch.setattr(clients.socket, "getaddrinfo", lambda *args, **kwargs: answer)
    assert fetcher(tls)(url) == document(url)
    assert server.hits == ["/client.json"]

    monkeypatch.setattr(clients.socket, "getaddrinfo", lambda *args, **kwargs: answer[:1] * 2)
    caplog.set_level(logging.INFO, logger="superset_mcp_jwt.oauth.clients")
    error, _ = refusal(fetcher(tls), url)
    assert error.description == "The client metadata fetch failed."
    [message] = [record.getMessage() for record in caplog.records]
    assert message.startswith(f"superset-mcp-jwt: client metadata fetch failed: {url!r}: [Errno {errno.ECONNREFUSED}] ")


def test_short_deadline_is_enough_for_a_quick_server(server: Server, tls: Any) -> None:
    url = server.url("/client.json")
    serve_json(server, "/client.json", document(url))
    assert fetcher(tls, timeout=0.5)(url) == document(url)


def test_slow_resolution_is_cut_at_the_deadline(tls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup runs in its own thread and is waited for only until the deadline."""
    release = threading.Event()

    def resolver(*args: Any, **kwargs: Any) -> Any:
        release.wait(0.8)  # answers late (a non-public address, so nothing is ever connected to)
        return _answer("10.0.0.1")

    monkeypatch.setattr(clients.socket, "getaddrinfo", resolver)
    try:
        error, _ = refusal(fetcher(tls, timeout=0.2, allow_private=False), "https://cimd.test/client.json")
        assert error.description == NO_ADDRESS
    finally:
        release.set()


def test_unanswered_connection_is_cut_at_the_deadline(tls: Any) -> None:
    """A listener whose accept queue is full: the TCP connect itself hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port))
    try:
        error, elapsed = refusal(fetcher(tls, timeout=0.3), f"https://localhost:{port}/client.json")
        assert error.description == TIMED_OUT
        assert elapsed < 0.3 + SLACK
    finally:
        queued.close()
        listener.close()


def test_reads_and_writes_stop_at_the_deadline(tls: Any) -> None:
    mine, theirs = socket.socketpair()
    try:
        theirs.sendall(b"x")
        reader = clients._DeadlineReader(mine, time.monotonic() + 5)
        buffer = bytearray(4)
        assert reader.readinto(buffer) == 1 and buffer[:1] == b"x"
        assert 0 < mine.gettimeout() <= 5  # the socket waits no longer than the deadline
        with pytest.raises(TimeoutError, match="^deadline passed$"):
            clients._DeadlineReader(mine, time.monotonic() - 0.001).readinto(buffer)
    finally:
        mine.close()
        theirs.close()
    connection = clients._PinnedHTTPSConnection("cimd.test", 443, [], time.monotonic() + 5, tls[1])
    assert 0 < connection._remaining() <= 5
    late = clients._PinnedHTTPSConnection("cimd.test", 443, [], time.monotonic() - 0.001, tls[1])
    with pytest.raises(TimeoutError, match="^deadline passed$"):
        late._remaining()
