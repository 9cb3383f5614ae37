"""Stand-ins for the client-registration tests: the settings fields clients.py reads,
and a client store in memory (the real ones are oauth/config.py and oauth/store.py)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Optional

from superset_mcp_jwt.oauth.config import KNOWN_CLIENT_REDIRECT_URIS
from superset_mcp_jwt.oauth.models import Client, ClientKind, secret_hash


@dataclass(frozen=True)
class StandInOAuthSettings:
    """The OAuthSettings fields clients.py reads, with the documented defaults."""

    issuer: str = "https://superset.example.com"
    allowed_redirect_uris: tuple[str, ...] = KNOWN_CLIENT_REDIRECT_URIS
    dynamic_registration: bool = True
    client_metadata_documents: bool = True
    max_clients: int = 10000
    cimd_timeout: float = 5.0
    cimd_max_bytes: int = 65536
    cimd_cache_seconds: int = 3600
    cimd_allow_private_addresses: bool = False
    default_scopes: tuple[str, ...] = ("mcp:all",)
    unused_client_ttl: int = 2 * 3600
    idle_client_ttl: int = 30 * 86400


@dataclass
class MemoryClientStore:
    """A ClientStore in a dict; counts the calls the tests look at.

    Its sweep removes the clients listed in ``due`` (the real rules are the
    real store's, tested in tests/unit/test_oauth_store.py) and records its arguments.
    """

    clients: dict[str, Client] = field(default_factory=dict)
    saves: int = 0
    due: set[str] = field(default_factory=set)
    sweeps: list[tuple[int, int]] = field(default_factory=list)

    def get_client(self, client_id: str) -> Optional[Client]:
        return self.clients.get(client_id)

    def save_client(self, client: Client) -> None:
        self.saves += 1
        self.clients[client.client_id] = client

    def count_clients(self, kind: ClientKind) -> int:
        return sum(1 for client in self.clients.values() if client.kind == kind)

    def client_by_registration_token(self, token: str) -> Optional[Client]:
        wanted = secret_hash(token)
        return next((c for c in self.clients.values() if c.registration_token_hash == wanted and c.kind == "dcr"), None)

    def sweep_clients(self, unused_after: int, idle_after: int) -> int:
        self.sweeps.append((unused_after, idle_after))
        removed = [client_id for client_id in self.due if self.clients.pop(client_id, None)]
        self.due.clear()
        return len(removed)


class Clock:
    """A settable UTC clock."""

    def __init__(self, start: datetime.datetime = datetime.datetime(2026, 11, 28, 12, tzinfo=datetime.timezone.utc)) -> None:
        self.now = start

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)
