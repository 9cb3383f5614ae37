"""Shared pieces of the OAuth unit tests: a real SQLite-file store with a settable clock."""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa

from superset_mcp_jwt.oauth import migrations
from superset_mcp_jwt.oauth.models import Client
from superset_mcp_jwt.oauth.store import OAuthStore

REDIRECT = "http://127.0.0.1:33418/callback"


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


_MIGRATED: dict[str, bytes] = {}


def make_store(tmp_path: Any, clock: Clock, upgrade: bool = True, leeway: float = 0) -> OAuthStore:
    """A store on a new SQLite file; upgraded by the real migrations (run once, then copied)."""
    path = tmp_path / "meta.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    if upgrade:
        if "db" not in _MIGRATED:
            migrations.upgrade(engine)
            _MIGRATED["db"] = path.read_bytes()
        else:
            path.write_bytes(_MIGRATED["db"])
    return OAuthStore(engine, clock=clock, leeway=leeway)


def make_client(client_id: str = "client-1", redirect: str = REDIRECT, name: str = "Claude Code") -> Client:
    return Client(
        client_id=client_id,
        client_name=name,
        redirect_uris=(redirect,),
        kind="dcr",
        created_at=datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc),
    )
