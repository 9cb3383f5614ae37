"""The records the authorization server keeps, and the storage interface behind them."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Literal, Optional, Protocol, Sequence
from urllib.parse import urlsplit

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
HOST_LABELS = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
#: Schemes an allow-list entry may never use: the web's own, and the dangerous ones.
_FORBIDDEN_SCHEMES = frozenset(
    {"http", "javascript", "data", "file", "vbscript", "about", "blob", "filesystem", "ftp",
     "ws", "wss", "mailto", "tel", "view-source", "intent", "jar"}
)
#: The longest URI a client may register or an allow-list entry may be.
MAX_URI_CHARS = 2000
_LOOPBACK_NETLOC = re.compile(r"(127\.0\.0\.1|localhost|\[::1\])(?::([0-9]{1,5}))?")


def plain_ascii(text: str) -> bool:
    """Printable ASCII only: no space, control, backslash or non-ASCII character."""
    return all("!" <= char <= "~" for char in text) and "\\" not in text


def loopback_parts(uri: str) -> Optional[tuple[str, Optional[int], str]]:
    """(host, port, path+query) of a loopback ``http`` redirect URI, else None."""
    if not plain_ascii(uri) or "#" in uri or not uri.startswith("http://"):
        return None
    parts = urlsplit(uri)
    match = _LOOPBACK_NETLOC.fullmatch(parts.netloc)
    if parts.scheme != "http" or match is None:
        return None
    port = match.group(2)
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    if parts.path and not parts.path.startswith("/"):
        return None
    rest = parts.path + ("?" + parts.query if parts.query or uri.endswith("?") else "")
    return match.group(1), (int(port) if port is not None else None), rest


def redirect_uri_matches(registered: Sequence[str], uri: str) -> bool:
    """Whether an authorization request's ``redirect_uri`` names a registered one.

    Exact string comparison (OAuth 2.1 §4.1.1), except that a loopback ``http``
    URI may carry any port: native apps pick a free port per request
    (RFC 8252 §7.3; VS Code registers ``http://127.0.0.1/`` and then uses
    ``http://127.0.0.1:<port>/``). Host, path and query must still be equal.
    """
    if uri in registered:
        return True
    requested = loopback_parts(uri)
    if requested is None:
        return False
    for candidate in registered:
        known = loopback_parts(candidate)
        if known is not None and (known[0], known[2]) == (requested[0], requested[2]):
            return True
    return False


def allow_list_problem(uri: str) -> Optional[str]:
    """Why ``uri`` cannot be an entry of ``MCP_OAUTH_ALLOWED_REDIRECT_URIS``; None if it can.

    Entries are https URLs with a host and no user info or fragment, or a
    private-use scheme of a native app (RFC 8252 §7.1, e.g. ``cursor://...``).
    Plain ``http`` is never listed: loopback is always allowed, anything else
    would send codes in clear text.
    """
    if not isinstance(uri, str) or not uri:
        return "must be a non-empty string"
    if len(uri) > MAX_URI_CHARS:
        return f"longer than {MAX_URI_CHARS} characters"
    if not plain_ascii(uri):
        return "contains whitespace, a backslash, a control or a non-ASCII character"
    if "#" in uri:
        return "has a fragment"
    scheme, sep, rest = uri.partition(":")
    if not sep or not _SCHEME.fullmatch(scheme):
        return "has no lower-case scheme"
    if scheme in _FORBIDDEN_SCHEMES:
        return f"uses the {scheme!r} scheme (loopback http is always allowed; others must be https)"
    parts = urlsplit(uri)
    if "@" in parts.netloc or "%" in parts.netloc:
        return "has user info or an encoded host"
    try:
        parts.port
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    if scheme == "https" and not (
        rest.startswith("//") and HOST_LABELS.fullmatch(parts.hostname or "") and parts.netloc == parts.netloc.lower()
    ):
        return "is not an https URL with a lower-case host name"
    return None


ClientKind = Literal["dcr", "cimd"]

#: How a client authenticates at the token and revocation endpoints (RFC 7591 §2).
#: ``none``: a public client (PKCE only); the others hold a secret the server issued.
AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic")


def secret_hash(secret: str) -> str:
    """How a secret the server issued is stored: its SHA-256, hex.

    Codes, refresh tokens, client secrets and registration access tokens are
    all 256 random bits: no guess list or dictionary comes near them, so a
    slow password hash would add cost to every request and no protection.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Client:
    """A client: registered by RFC 7591 (public or confidential), or a Client ID Metadata Document (public)."""

    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    kind: ClientKind
    created_at: datetime.datetime
    #: For ``cimd`` clients: when the cached document must be fetched again.
    expires_at: Optional[datetime.datetime] = None
    #: One of :data:`AUTH_METHODS`; ``cimd`` clients are always ``none``.
    token_endpoint_auth_method: str = "none"
    #: :func:`secret_hash` of the client secret (confidential clients only).
    client_secret_hash: Optional[str] = field(default=None, repr=False)
    #: :func:`secret_hash` of the RFC 7592 registration access token (``dcr`` clients).
    registration_token_hash: Optional[str] = field(default=None, repr=False)

    @property
    def confidential(self) -> bool:
        """True when the client authenticates with a secret."""
        return self.token_endpoint_auth_method != "none"

    def check_secret(self, secret: str) -> bool:
        """Whether ``secret`` is this client's secret, compared in constant time."""
        if self.client_secret_hash is None or not isinstance(secret, str):
            return False
        return hmac.compare_digest(self.client_secret_hash, secret_hash(secret))

    def check_redirect_uri(self, uri: str) -> bool:
        """Exact string match against a registered redirect URI (OAuth 2.1 §4.1.3).

        See :func:`redirect_uri_matches` for the one exception (loopback ports).
        """
        return redirect_uri_matches(self.redirect_uris, uri)


@dataclass(frozen=True)
class Connection:
    """One grant a user approved for a client: a refresh-token family (a "connected app")."""

    id: str
    client_id: str
    client_name: str
    username: str
    scopes: tuple[str, ...]
    created_at: datetime.datetime
    last_used_at: Optional[datetime.datetime]


@dataclass(frozen=True)
class ClientInfo:
    """A client as the CLI and the admin view list it."""

    client_id: str
    client_name: str
    kind: ClientKind
    redirect_uris: tuple[str, ...]
    created_at: datetime.datetime
    connections: int
    #: How it authenticates at the token endpoint: ``none`` (public) or a ``client_secret_*`` method.
    token_endpoint_auth_method: str = "none"


class ClientStore(Protocol):
    """What client registration needs of storage (implemented by :mod:`.store`)."""

    def get_client(self, client_id: str) -> Optional[Client]:
        """The stored client (a ``cimd`` one even when its cache time has passed), or None."""

    def save_client(self, client: Client) -> None:
        """Insert a client, or replace the stored one with the same ``client_id``."""

    def count_clients(self, kind: ClientKind) -> int:
        """How many clients of this kind are stored."""

    def client_by_registration_token(self, token: str) -> Optional[Client]:
        """The ``dcr`` client whose registration access token this is, or None."""

    def sweep_clients(self, unused_after: int, idle_after: int) -> int:
        """Remove clients past their time (see ``OAuthStore.sweep_clients``): how many."""
