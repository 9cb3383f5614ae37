"""The activity records in Superset's metadata database (SQLAlchemy Core, our own table).

Core: takes a SQLAlchemy ``Engine``, never Flask. The table and its indexes are
created by ``superset mcp-jwt db upgrade`` (revision 0005); Superset's own
tables are never altered. Every query the activity view runs is bounded by a
time range and served by an index that starts with the column it filters on
(``started_at`` alone, or ``user_id`` / ``client_key`` / ``tool`` then
``started_at``); the time chart reads (``started_at``, ``outcome``) from its
index alone.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .records import Outcome, ToolCall

TABLE = "superset_mcp_jwt_activity"
#: The client filter's value for "pasted token" (no OAuth client).
PASTED = "pasted"
PAGE_SIZE = 50
#: The activity view offers pages up to this far back; narrower filters reach the rest.
MAX_OFFSET = 50_000
TOP = 10
#: Rows deleted per transaction by :meth:`ActivityStore.prune` (short locks on a busy table).
PRUNE_BATCH = 5_000

metadata = sa.MetaData()
activity_table = sa.Table(
    TABLE, metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("started_at", sa.BigInteger, nullable=False),  # epoch milliseconds
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=True),
    sa.Column("username", sa.String(255), nullable=False),
    sa.Column("client_key", sa.String(64), nullable=True),  # sha256(client_id); NULL: a pasted token
    sa.Column("client_id", sa.String(2048), nullable=True),
    sa.Column("client_name", sa.String(255), nullable=True),
    sa.Column("jti", sa.String(255), nullable=True),
    sa.Column("scopes", sa.String(1024), nullable=False),
    sa.Column("tool", sa.String(128), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("arguments", sa.Text, nullable=False),  # JSON: {"names": [...], "ids": {...}}
    sa.Column("user_agent", sa.String(255), nullable=True),
    sa.Index(f"ix_{TABLE}_started_at_outcome", "started_at", "outcome"),
    sa.Index(f"ix_{TABLE}_user_id_started_at", "user_id", "started_at"),
    sa.Index(f"ix_{TABLE}_client_key_started_at", "client_key", "started_at"),
    sa.Index(f"ix_{TABLE}_tool_started_at", "tool", "started_at"),
)
_t = activity_table.c


def client_key(client_id: str) -> str:
    """The indexed form of an OAuth ``client_id`` (which may be a long URL)."""
    return hashlib.sha256(client_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ActivityFilter:
    """Which records: a time range (epoch seconds, ``until`` excluded) and optional equalities.

    ``user_id`` is set by the view for every non-administrator, whatever they asked for.
    ``client`` is an OAuth ``client_id`` or :data:`PASTED`.
    """

    since: float
    until: float
    user_id: Optional[int] = None
    client: Optional[str] = None
    tool: Optional[str] = None
    outcome: Optional[Outcome] = None

    def where(self) -> list[Any]:
        clauses = [_t.started_at >= int(self.since * 1000), _t.started_at < int(self.until * 1000)]
        if self.user_id is not None:
            clauses.append(_t.user_id == self.user_id)
        if self.client == PASTED:
            clauses.append(activity_table.c.client_key.is_(None))
        elif self.client is not None:
            clauses.append(activity_table.c.client_key == client_key(self.client))
        if self.tool is not None:
            clauses.append(_t.tool == self.tool)
        if self.outcome is not None:
            clauses.append(_t.outcome == self.outcome.value)
        return clauses


@dataclass(frozen=True)
class Count:
    """One bar of a "top" chart: the value filtered on, what is shown, how many calls."""

    value: str
    label: str
    calls: int


class ActivityStore:
    """Writes, queries and prunes the activity table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def table_exists(self) -> bool:
        return sa.inspect(self.engine).has_table(TABLE)

    def write(self, calls: Sequence[ToolCall]) -> None:
        """Insert ``calls`` in one transaction."""
        if not calls:
            return
        rows = [
            {
                "started_at": int(call.started_at * 1000),
                "duration_ms": max(0, min(int(call.duration_ms), 2**31 - 1)),
                "user_id": call.user_id,
                "username": call.username[:255],
                "client_key": client_key(call.client_id) if call.client_id is not None else None,
                "client_id": call.client_id[:2048] if call.client_id is not None else None,
                "client_name": call.client_name[:255] if call.client_name else None,
                "jti": call.jti[:255] if call.jti else None,
                "scopes": " ".join(call.scopes)[:1024],
                "tool": call.tool[:128],
                "outcome": call.outcome.value,
                "arguments": json.dumps(call.arguments, separators=(",", ":"), sort_keys=True),
                "user_agent": call.user_agent[:255] if call.user_agent else None,
            }
            for call in calls
        ]
        with self.engine.begin() as connection:
            connection.execute(sa.insert(activity_table), rows)

    def page(self, where: ActivityFilter, page: int = 1, size: int = PAGE_SIZE) -> list[ToolCall]:
        """Newest first; ``page`` 1 is the newest ``size`` records."""
        offset = min(max(page - 1, 0) * size, MAX_OFFSET)
        query = (
            sa.select(activity_table).where(*where.where())
            .order_by(_t.started_at.desc(), _t.id.desc()).limit(size).offset(offset)
        )
        with self.engine.connect() as connection:
            return [_call(row) for row in connection.execute(query)]

    def rows(self, where: ActivityFilter, limit: int) -> Iterator[ToolCall]:
        """Every record of ``where``, newest first, at most ``limit`` (the CSV export)."""
        query = (
            sa.select(activity_table).where(*where.where())
            .order_by(_t.started_at.desc(), _t.id.desc()).limit(limit)
        )
        with self.engine.connect() as connection:
            for row in connection.execution_options(stream_results=True).execute(query):
                yield _call(row)

    def count(self, where: ActivityFilter) -> int:
        query = sa.select(sa.func.count()).select_from(activity_table).where(*where.where())
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def timeline(self, where: ActivityFilter, bucket_seconds: int) -> dict[Outcome, dict[int, int]]:
        """Calls per time bucket and outcome: {outcome: {bucket start (epoch s): calls}}.

        A bucket starts at ``since`` plus a whole number of ``bucket_seconds``
        (computed with ``%``, which SQLite and PostgreSQL both do on integers).
        """
        since_ms, bucket_ms = int(where.since * 1000), int(bucket_seconds * 1000)
        bucket = (_t.started_at - (_t.started_at - since_ms) % bucket_ms).label("bucket")
        query = (
            sa.select(bucket, _t.outcome, sa.func.count().label("calls"))
            .where(*where.where()).group_by(bucket, _t.outcome)
        )
        result: dict[Outcome, dict[int, int]] = {outcome: {} for outcome in Outcome}
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                outcome = _outcome(row.outcome)
                if outcome is not None:
                    result[outcome][int(row.bucket) // 1000] = int(row.calls)
        return result

    def top_users(self, where: ActivityFilter, limit: int = TOP) -> list[Count]:
        query = (
            sa.select(_t.user_id, sa.func.max(_t.username).label("username"), sa.func.count().label("calls"))
            .where(*where.where()).group_by(_t.user_id).order_by(sa.desc("calls")).limit(limit)
        )
        with self.engine.connect() as connection:
            return [Count(str(r.user_id) if r.user_id is not None else "", r.username, int(r.calls))
                    for r in connection.execute(query)]

    def top_clients(self, where: ActivityFilter, limit: int = TOP) -> list[Count]:
        query = (
            sa.select(
                _t.client_key, sa.func.max(_t.client_id).label("client_id"),
                sa.func.max(_t.client_name).label("client_name"), sa.func.count().label("calls"),
            )
            .where(*where.where()).group_by(_t.client_key).order_by(sa.desc("calls")).limit(limit)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            Count(PASTED, "pasted token", int(r.calls)) if r.client_key is None
            else Count(r.client_id, r.client_name or r.client_id, int(r.calls))
            for r in rows
        ]

    def top_tools(self, where: ActivityFilter, limit: int = TOP) -> list[Count]:
        query = (
            sa.select(_t.tool, sa.func.count().label("calls"))
            .where(*where.where()).group_by(_t.tool).order_by(sa.desc("calls")).limit(limit)
        )
        with self.engine.connect() as connection:
            return [Count(r.tool, r.tool, int(r.calls)) for r in connection.execute(query)]

    def prune(self, before: float) -> int:
        """Delete the records that started before ``before`` (epoch seconds); how many."""
        cutoff = int(before * 1000)
        deleted = 0
        while True:
            with self.engine.begin() as connection:
                ids = [
                    row.id for row in connection.execute(
                        sa.select(_t.id).where(_t.started_at < cutoff).order_by(_t.started_at).limit(PRUNE_BATCH)
                    )
                ]
                if not ids:
                    return deleted
                deleted += connection.execute(sa.delete(activity_table).where(_t.id.in_(ids))).rowcount


def _outcome(value: str) -> Optional[Outcome]:
    try:
        return Outcome(value)
    except ValueError:
        return None


def _call(row: Any) -> ToolCall:
    try:
        arguments = json.loads(row.arguments)
    except ValueError:
        arguments = {}
    return ToolCall(
        id=row.id,
        started_at=row.started_at / 1000,
        duration_ms=row.duration_ms,
        user_id=row.user_id,
        username=row.username,
        client_id=row.client_id,
        client_name=row.client_name,
        jti=row.jti,
        scopes=tuple(row.scopes.split()),
        tool=row.tool,
        outcome=_outcome(row.outcome) or Outcome.TOOL_ERROR,
        arguments=arguments,
        user_agent=row.user_agent,
    )


def utc(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
