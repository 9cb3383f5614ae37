"""The records the authorization server keeps, and the storage interface behind them."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Literal, Optional, Protocol, Sequence

ClientKind = Literal["dcr", "cimd"]


@dataclass(frozen=True)
class Client:
    """A registered public client: by RFC 7591 registration, or a Client ID Metadata Document."""

    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    kind: ClientKind
    created_at: datetime.datetime
    #: For ``cimd`` clients: when the cached document must be fetched again.
    expires_at: Optional[datetime.datetime] = None

    def check_redirect_uri(self, uri: str) -> bool:
        """Exact string match against a registered redirect URI (OAuth 2.1 §4.1.3).

        The one exception is RFC 8252 §7.3: for a loopback IP literal
        (``http://127.0.0.1`` or ``http://[::1]``) the port may differ, since a
        native app listens on whatever port it is given; everything else
        (scheme, host, path, query) must still match exactly.
        """
        if uri in self.redirect_uris:
            return True
        wanted = _without_loopback_port(uri)
        return wanted is not None and any(
            _without_loopback_port(registered) == wanted for registered in self.redirect_uris
        )


_LOOPBACK_IP = re.compile(r"http://(127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?(/[^#]*)?")


def _without_loopback_port(uri: str) -> Optional[str]:
    """``uri`` with its port removed if it is a loopback IP literal redirect URI, else None."""
    match = _LOOPBACK_IP.fullmatch(uri)
    if match is None:
        return None
    return f"http://{match.group(1)}{match.group(3) or '/'}"


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


class ClientStore(Protocol):
    """What client registration needs of storage (implemented by :mod:`.store`)."""

    def get_client(self, client_id: str) -> Optional[Client]:
        """The stored client (a ``cimd`` one even when its cache time has passed), or None."""

    def save_client(self, client: Client) -> None:
        """Insert a client, or replace the stored one with the same ``client_id``."""

    def count_clients(self, kind: ClientKind) -> int:
        """How many clients of this kind are stored."""


def scopes_text(scopes: Sequence[str]) -> str:
    """The ``scope`` parameter form: space-separated."""
    return " ".join(scopes)
