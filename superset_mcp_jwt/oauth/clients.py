"""Who may be a client: RFC 7591 registration, Client ID Metadata Documents, redirect URIs.

Three parts, no Flask:

* :class:`RedirectPolicy` decides which redirect URIs a client may register:
  loopback ``http`` on any port (RFC 8252 §7.3) and the exact strings of an
  allow-list, nothing else.
* :class:`ClientRegistry` registers clients (RFC 7591: public ones, and
  confidential ones that get a secret), answers for a registration (RFC 7592),
  removes registrations nobody uses (a storm of them locks nobody out for
  long) and finds a client by ``client_id``: a registered one, or, when the
  ``client_id`` is an https URL, the Client ID Metadata Document it names
  (fetched, checked, cached in the store so every replica shares it).
* :class:`CIMDFetcher` fetches such a document without becoming an SSRF tool:
  the host is resolved once, every address must be public, the connection goes
  to the vetted address (no second lookup, so no DNS rebinding), no redirects,
  one deadline for the whole fetch and a byte bound on the body.
"""

from __future__ import annotations

import datetime
import http.client
import io
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import threading
import time
import unicodedata
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from authlib.oauth2.rfc7591 import ClientMetadataClaims
from joserfc.errors import JoseError

from ..recorder import NULL_RECORDER, Recorder
from ..tokens import SCOPE_METHODS
from .metadata import REGISTER_PATH
from .models import (
    AUTH_METHODS, HOST_LABELS, MAX_URI_CHARS, Client, ClientStore, allow_list_problem, loopback_parts,
    plain_ascii, secret_hash,
)

if TYPE_CHECKING:
    from .config import OAuthSettings

logger = logging.getLogger(__name__)

#: Bounds on what a client may register (the view bounds the body to 16 KiB).
MAX_REDIRECT_URIS = 10
MAX_CLIENT_NAME_CHARS = 200
MAX_CIMD_URL_CHARS = 2000
#: CIMD fetches running at once in one process; more are refused at once.
MAX_CONCURRENT_FETCHES = 4

SUPPORTED_GRANT_TYPES = ("authorization_code", "refresh_token")
SUPPORTED_RESPONSE_TYPES = ("code",)


#: Metadata fields RFC 7591 §2 defines, and the JSON type each must have.
_FIELD_TYPES: dict[str, type] = {
    "redirect_uris": list,
    "token_endpoint_auth_method": str,
    "grant_types": list,
    "response_types": list,
    "client_name": str,
    "client_uri": str,
    "logo_uri": str,
    "scope": str,
    "contacts": list,
    "tos_uri": str,
    "policy_uri": str,
    "jwks_uri": str,
    "jwks": dict,
    "software_id": str,
    "software_version": str,
    "software_statement": str,
}
_JSON_TYPE_NAMES = {list: "array", dict: "object", str: "string"}
#: String-list fields: every element must be a bounded string.
_LIST_FIELDS = ("redirect_uris", "grant_types", "response_types", "contacts")


def new_client_id() -> str:
    """192 random bits, base64url; never starting with ``-``, which a command line would take for an option."""
    while (client_id := secrets.token_urlsafe(24)).startswith("-"):
        pass
    return client_id


class RegistrationError(Exception):
    """A client's metadata (registered or fetched) was refused.

    ``error`` is the RFC 7591 §3.2.2 code (``invalid_redirect_uri``,
    ``invalid_client_metadata``, ...); ``description`` is safe to send to the
    client; ``status`` is the HTTP status the registration endpoint answers.
    """

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        """The RFC 7591 error response body."""
        return {"error": self.error, "error_description": self.description}


class RedirectPolicy:
    """Which redirect URIs a client may register.

    Loopback ``http`` (``127.0.0.1``, ``localhost``, ``[::1]``; any port) is
    always allowed (RFC 8252 §7.3); anything else only when it equals an entry
    of ``allowed`` character for character. Anything ambiguous is refused.
    """

    def __init__(self, allowed: Sequence[str]) -> None:
        for uri in allowed:
            problem = allow_list_problem(uri)
            if problem:
                raise ValueError(f"redirect URI {uri!r} {problem}")
        self.allowed = frozenset(allowed)

    def allows(self, uri: Any) -> bool:
        """True if ``uri`` may be registered as a redirect URI."""
        if not isinstance(uri, str) or not 0 < len(uri) <= MAX_URI_CHARS:
            return False
        return uri in self.allowed or loopback_parts(uri) is not None


def supported_scopes() -> tuple[str, ...]:
    """The scopes the authorization server issues."""
    return tuple(SCOPE_METHODS)


def _bad(description: str) -> RegistrationError:
    return RegistrationError("invalid_client_metadata", description)


def _check_client_name(name: str) -> str:
    # No control, format (bidi overrides, zero-width) or line separator characters:
    # the consent page shows this name, and it must read as what it is.
    if any(unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp") for char in name):
        raise _bad("client_name contains control or formatting characters.")
    name = name.strip()
    if not name or len(name) > MAX_CLIENT_NAME_CHARS:
        raise _bad(f"client_name must be 1 to {MAX_CLIENT_NAME_CHARS} characters.")
    return name


def check_client_metadata(
    metadata: Mapping[str, Any], policy: RedirectPolicy, client_id_url: Optional[str] = None
) -> tuple[tuple[str, ...], str, str]:
    """Validate client metadata; returns (redirect_uris, client_name, token_endpoint_auth_method).

    Used for a registration request (``client_id_url`` None: the client may not
    name its ``client_id``; it may ask for ``client_secret_post`` or
    ``client_secret_basic`` and get a secret) and for a Client ID Metadata
    Document (its ``client_id`` must equal the URL it was fetched from; such a
    client has no secret, so its method is ``none``). An omitted method is
    ``none``: the server may settle a value (RFC 7591 §3.2.1), and MCP clients
    are public unless they ask. Structure and bounds are checked here; the
    RFC 7591 value rules (grant and response types, auth method, scope, URL
    fields, contacts) by Authlib's ``ClientMetadataClaims``.
    Raises :class:`RegistrationError`.
    """
    if not isinstance(metadata, Mapping):
        raise _bad("The client metadata must be a JSON object.")
    if client_id_url is None:
        if "client_id" in metadata:
            raise _bad("client_id is assigned by the server and cannot be chosen.")
        methods = AUTH_METHODS
    elif metadata.get("client_id") != client_id_url:
        raise _bad("The document's client_id is not the URL it was fetched from.")
    else:
        methods = ("none",)
    if "client_secret" in metadata or "client_secret_expires_at" in metadata:
        raise _bad("client_secret is issued by the server and cannot be chosen.")
    for field, kind in _FIELD_TYPES.items():
        if field in metadata and not isinstance(metadata[field], kind):
            raise _bad(f"{field} must be a JSON {_JSON_TYPE_NAMES[kind]}.")
    for field in _LIST_FIELDS:
        for item in metadata.get(field, ()):
            if not isinstance(item, str) or len(item) > MAX_URI_CHARS:
                raise _bad(f"{field} must hold strings of at most {MAX_URI_CHARS} characters.")
    for field, kind in _FIELD_TYPES.items():
        if kind is str and len(metadata.get(field, "")) > MAX_URI_CHARS:
            raise _bad(f"{field} is longer than {MAX_URI_CHARS} characters.")

    redirect_uris = metadata.get("redirect_uris")
    if not redirect_uris:
        raise RegistrationError("invalid_redirect_uri", "redirect_uris is required.")
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        raise RegistrationError("invalid_redirect_uri", f"At most {MAX_REDIRECT_URIS} redirect_uris.")
    for uri in redirect_uris:
        if not policy.allows(uri):
            raise RegistrationError(
                "invalid_redirect_uri",
                "Redirect URIs must be loopback http (127.0.0.1, localhost or [::1]) "
                "or one of the server's allowed redirect URIs.",
            )
    method = metadata.get("token_endpoint_auth_method", "none")
    if method not in methods:
        raise _bad(f"token_endpoint_auth_method must be {' or '.join(methods)}.")
    for field in ("grant_types", "response_types"):
        if field in metadata and not metadata[field]:
            raise _bad(f"{field} must not be empty.")

    claims = dict(metadata)
    claims["token_endpoint_auth_method"] = method
    claims.pop("jwks", None)  # keys mean nothing without private_key_jwt; not stored
    server_metadata = {
        "scopes_supported": list(supported_scopes()),
        "response_types_supported": list(SUPPORTED_RESPONSE_TYPES),
        "grant_types_supported": list(SUPPORTED_GRANT_TYPES),
        "token_endpoint_auth_methods_supported": list(methods),
    }
    options = ClientMetadataClaims.get_claims_options(server_metadata)
    try:
        ClientMetadataClaims(claims, {}, options, server_metadata).validate()
    except JoseError as error:
        field = getattr(error, "claim", "metadata")
        raise _bad(f"Unsupported or invalid value for {field}.") from None

    name = metadata.get("client_name")
    if name is None:
        # Redirect URIs have a host (Authlib checks), and so does a client_id URL the fetcher accepts.
        name = urlsplit(client_id_url or redirect_uris[0]).hostname or ""
    return tuple(dict.fromkeys(redirect_uris)), _check_client_name(name), method


def _utc(moment: datetime.datetime) -> datetime.datetime:
    """An aware UTC datetime (stores may hand back naive UTC ones)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def is_cimd_client_id(client_id: str) -> bool:
    """Whether a ``client_id`` names a Client ID Metadata Document (an https URL)."""
    return client_id.startswith("https://")


class ClientRegistry:
    """Registers clients (RFC 7591), reads and removes registrations (RFC 7592), finds clients.

    ``fetch`` (a :class:`CIMDFetcher` by default) fetches Client ID Metadata
    Documents; ``clock`` returns the current aware UTC time.
    """

    def __init__(
        self,
        store: ClientStore,
        settings: "OAuthSettings",
        fetch: Optional[Callable[[str], Mapping[str, Any]]] = None,
        clock: Callable[[], datetime.datetime] = _now,
        recorder: Recorder = NULL_RECORDER,
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.settings = settings
        self.policy = RedirectPolicy(settings.allowed_redirect_uris)
        self.fetch = fetch or CIMDFetcher(
            timeout=settings.cimd_timeout,
            max_bytes=settings.cimd_max_bytes,
            allow_private=settings.cimd_allow_private_addresses,
        )
        self.clock = clock

    def register(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Register a client; returns the RFC 7591 §3.2.1 response body.

        The server picks the ``client_id``; the response states what the
        server honours (both grant types, response type ``code``, the
        client's authentication method). A client asking for
        ``client_secret_post`` or ``client_secret_basic`` gets a
        ``client_secret`` that never expires, in this response only (only
        its hash is stored). Every client gets its RFC 7592
        ``registration_client_uri`` and ``registration_access_token``.
        Registrations past their time are swept first, so the
        ``MCP_OAUTH_MAX_CLIENTS`` bound counts only what is left.
        Raises :class:`RegistrationError`.
        """
        if not self.settings.dynamic_registration:
            raise RegistrationError("invalid_request", "Dynamic client registration is disabled.", 403)
        redirect_uris, client_name, method = check_client_metadata(metadata, self.policy)
        self.sweep()
        if self.store.count_clients("dcr") >= self.settings.max_clients:
            logger.warning(
                "superset-mcp-jwt: client registration refused: MCP_OAUTH_MAX_CLIENTS (%d) reached",
                self.settings.max_clients,
            )
            raise RegistrationError(
                "temporarily_unavailable", "The server accepts no more client registrations.", 503
            )
        now = self.clock()
        client_secret = secrets.token_urlsafe(32) if method != "none" else None
        registration_token = secrets.token_urlsafe(32)
        client = Client(
            client_id=new_client_id(),
            client_name=client_name,
            redirect_uris=redirect_uris,
            kind="dcr",
            created_at=now,
            token_endpoint_auth_method=method,
            client_secret_hash=secret_hash(client_secret) if client_secret else None,
            registration_token_hash=secret_hash(registration_token),
        )
        self.store.save_client(client)
        self.recorder.registration("dcr")
        logger.info(
            "superset-mcp-jwt: registered OAuth client %s (%r, %s)", client.client_id, client_name, method
        )
        body = self.information(client)
        if client_secret is not None:
            body["client_secret"] = client_secret
        body["registration_access_token"] = registration_token
        return body

    def information(self, client: Client) -> dict[str, Any]:
        """What the server says of a registered client (RFC 7591 §3.2.1, RFC 7592 §3), no secret in it."""
        body: dict[str, Any] = {
            "client_id": client.client_id,
            "client_id_issued_at": int(client.created_at.timestamp()),
            "client_name": client.client_name,
            "redirect_uris": list(client.redirect_uris),
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "grant_types": list(SUPPORTED_GRANT_TYPES),
            "response_types": list(SUPPORTED_RESPONSE_TYPES),
        }
        if client.confidential:
            body["client_secret_expires_at"] = 0
        body["registration_client_uri"] = self.registration_client_uri(client.client_id)
        return body

    def registration_client_uri(self, client_id: str) -> str:
        """The RFC 7592 client configuration endpoint of one registered client."""
        return f"{self.settings.issuer}{REGISTER_PATH}/{client_id}"

    def by_registration_token(self, token: str) -> Optional[Client]:
        """The registered client this RFC 7592 registration access token belongs to, or None."""
        if not isinstance(token, str) or not 0 < len(token) <= 512:
            return None
        return self.store.client_by_registration_token(token)

    def sweep(self) -> int:
        """Remove unused and idle registrations (``MCP_OAUTH_UNUSED_CLIENT_TTL``, ``..._IDLE_...``)."""
        removed = self.store.sweep_clients(self.settings.unused_client_ttl, self.settings.idle_client_ttl)
        if removed:
            logger.info("superset-mcp-jwt: removed %d unused or idle OAuth client(s)", removed)
        return removed

    def get(self, client_id: str) -> Optional[Client]:
        """The client with this ``client_id``, or None if unknown or invalid.

        An https ``client_id`` is a Client ID Metadata Document: served from the
        store while its cache time lasts, fetched again after. A failed fetch
        fails closed (None), even when an expired copy is stored.
        """
        if not isinstance(client_id, str) or not client_id or len(client_id) > MAX_CIMD_URL_CHARS:
            return None
        if not is_cimd_client_id(client_id):
            client = self.store.get_client(client_id)
            return client if client is not None and client.kind == "dcr" else None
        if not self.settings.client_metadata_documents:
            return None
        stored = self.store.get_client(client_id)
        now = self.clock()
        if stored is not None and stored.kind == "cimd" and stored.expires_at and _utc(stored.expires_at) > now:
            return stored
        if stored is None:
            self.sweep()  # a first document counts against the bound: what is left, after the sweep
            if self.store.count_clients("cimd") >= self.settings.max_clients:
                logger.warning(
                    "superset-mcp-jwt: client metadata document %r refused: MCP_OAUTH_MAX_CLIENTS (%d) reached",
                    client_id,
                    self.settings.max_clients,
                )
                return None
        try:
            redirect_uris, client_name, _ = check_client_metadata(self.fetch(client_id), self.policy, client_id)
        except RegistrationError as error:
            logger.warning(
                "superset-mcp-jwt: client metadata document %r refused: %s", client_id, error.description
            )
            return None
        client = Client(
            client_id=client_id,
            client_name=client_name,
            redirect_uris=redirect_uris,
            kind="cimd",
            created_at=stored.created_at if stored is not None else now,
            expires_at=now + datetime.timedelta(seconds=self.settings.cimd_cache_seconds),
        )
        self.store.save_client(client)
        if stored is None:
            self.recorder.registration("cimd")
        return client


# --------------------------------------------------------------------------- CIMD fetch


def cimd_url_problem(url: str) -> Optional[str]:
    """Why ``url`` cannot be a client identifier URL; None if it can.

    draft-ietf-oauth-client-id-metadata-document: https, a path (not just
    ``/``), no dot segments, no fragment, no user info; a port is allowed.
    """
    if len(url) > MAX_CIMD_URL_CHARS:
        return "is too long"
    if not plain_ascii(url) or "#" in url:
        return "contains a forbidden character"
    try:
        parts = urlsplit(url)
    except ValueError:  # unbalanced or invalid brackets ("https://[/x", "https://[::1x]/x")
        return "has an invalid host"
    if parts.scheme != "https" or not url.startswith("https://"):
        return "is not https"
    if "@" in parts.netloc or "%" in parts.netloc:
        return "has user info or an encoded host"
    try:
        port = parts.port
    except ValueError:
        return "has an invalid port"
    host = parts.hostname or ""
    if not (HOST_LABELS.fullmatch(host) or _ip_literal(host)) or parts.netloc.lower() != parts.netloc:
        return "has an invalid host"
    if port == 0:
        return "has an invalid port"
    segments = parts.path.split("/")
    if parts.path in ("", "/") or "." in segments or ".." in segments:
        return "has no path or a dot segment"
    return None


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: ipaddress._BaseAddress) -> bool:
    """True unless the address is private, loopback, link-local, multicast,
    reserved, unspecified, shared (CGNAT) or embeds such an IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_loopback or address.is_link_local
    )


def _vetted_addresses(host: str, port: int, allow_private: bool, deadline: float) -> list[tuple[Any, Any]]:
    """Resolve ``host`` once (within the deadline); every address must pass.

    Returns (family, socket address) pairs to connect to as they are.
    """
    found: dict[str, Any] = {}

    def resolve() -> None:
        try:
            found["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            found["error"] = error

    worker = threading.Thread(target=resolve, name="cimd-resolve", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    targets = list(dict.fromkeys((info[0], info[4]) for info in found.get("infos", ())))
    if not targets:
        raise RegistrationError("invalid_client_metadata", "The client metadata host does not resolve.")
    for _, sockaddr in targets:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address.is_unspecified or address.is_multicast:
            raise RegistrationError("invalid_client_metadata", "The client metadata host has an unusable address.")
        if not allow_private and not is_public_address(address):
            raise RegistrationError(
                "invalid_client_metadata", "The client metadata host resolves to a non-public address."
            )
    return targets


class _DeadlineReader(io.RawIOBase):
    """Socket reads that all end by one deadline (a drip-fed reply cannot stretch it)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address vetted beforehand; SNI, certificate and Host name the host."""

    def __init__(
        self, host: str, port: int, targets: Sequence[tuple[Any, Any]], deadline: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, context=context)
        self._targets = targets
        self._deadline = deadline

    def _remaining(self) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        return remaining

    def connect(self) -> None:
        error: Optional[OSError] = None
        for family, sockaddr in self._targets:  # no name lookup here: the vetted addresses only
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self._remaining())
                sock.connect(sockaddr)
                break
            except OSError as failure:
                sock.close()
                error = failure
        else:
            raise error or OSError("no address")
        try:
            sock.settimeout(self._remaining())  # the TLS handshake has one deadline in CPython
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise

    def send(self, data: Any) -> None:
        if self.sock is None:
            self.connect()
        self.sock.settimeout(self._remaining())  # sendall has one deadline too
        super().send(data)

    def response_from(self) -> http.client.HTTPResponse:
        """Read the response through a reader bounded by the deadline."""
        self.sock.settimeout(self._remaining())
        response = http.client.HTTPResponse(self.sock, method="GET")
        response.fp.close()
        response.fp = io.BufferedReader(_DeadlineReader(self.sock, self._deadline))
        response.begin()
        return response


class CIMDFetcher:
    """Fetches a Client ID Metadata Document, SSRF-safe and bounded.

    ``timeout`` bounds the whole fetch (resolution, connection, TLS, request,
    headers, body); ``max_bytes`` the body (reading stops past it);
    ``allow_private`` lets development setups fetch from private, loopback and
    link-local addresses. ``ssl_context`` defaults to the system trust store.
    Calling it returns the parsed JSON object or raises :class:`RegistrationError`.
    """

    def __init__(
        self,
        timeout: float,
        max_bytes: int,
        allow_private: bool = False,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.allow_private = allow_private
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_FETCHES)

    def __call__(self, url: str) -> Mapping[str, Any]:
        problem = cimd_url_problem(url)
        if problem:
            raise RegistrationError("invalid_client_metadata", f"The client_id URL {problem}.")
        if not self._slots.acquire(blocking=False):
            raise RegistrationError("invalid_client_metadata", "Too many client metadata fetches at once.")
        try:
            body = self._fetch(url, time.monotonic() + self.timeout)
        finally:
            self._slots.release()
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise RegistrationError("invalid_client_metadata", "The client metadata document is not JSON.") from None
        if not isinstance(document, dict):
            raise RegistrationError("invalid_client_metadata", "The client metadata document is not a JSON object.")
        return document

    def _fetch(self, url: str, deadline: float) -> bytes:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 443
        targets = _vetted_addresses(host, port, self.allow_private, deadline)
        path = parts.path + ("?" + parts.query if parts.query else "")
        connection = _PinnedHTTPSConnection(host, port, targets, deadline, self.ssl_context)
        try:
            connection.putrequest("GET", path, skip_accept_encoding=True)
            connection.putheader("Accept", "application/json")
            connection.putheader("User-Agent", "superset-mcp-jwt (OAuth client metadata)")
            connection.endheaders()
            response = connection.response_from()
            if response.status != 200:
                raise RegistrationError(
                    "invalid_client_metadata",
                    f"The client metadata document answered HTTP {response.status} (redirects are not followed).",
                )
            media_type = (response.getheader("Content-Type") or "").partition(";")[0].strip().lower()
            if media_type != "application/json" and not media_type.endswith("+json"):
                raise RegistrationError("invalid_client_metadata", "The client metadata document is not JSON.")
            length = response.getheader("Content-Length")
            if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                raise RegistrationError("invalid_client_metadata", "The client metadata document is too large.")
            body = response.read(self.max_bytes + 1)
            if len(body) > self.max_bytes:
                raise RegistrationError("invalid_client_metadata", "The client metadata document is too large.")
            return body
        except (OSError, http.client.HTTPException, ValueError) as error:
            reason = "timed out" if isinstance(error, TimeoutError) else "failed"
            logger.info("superset-mcp-jwt: client metadata fetch %s: %r: %s", reason, url, error)
            raise RegistrationError("invalid_client_metadata", f"The client metadata fetch {reason}.") from None
        finally:
            connection.close()
