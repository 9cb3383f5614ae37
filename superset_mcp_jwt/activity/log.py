"""Writing activity records off the request path.

On the request path :meth:`ActivityLog.record` only puts a tuple of what the
call already holds in a queue; a background thread turns it into a
:class:`~.records.ToolCall` (client, scopes, argument summary, the OAuth
client's name from the store, cached) and inserts batches.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping, Optional

from ..background import BackgroundWriter
from ..tokens import token_scopes
from .records import Outcome, ToolCall, printable, summarize_arguments, tool_name
from .store import ActivityStore

logger = logging.getLogger("superset_mcp_jwt")

#: (started_at, duration_ms, claims, username, user_id, tool, arguments, outcome, user_agent)
RawCall = tuple[float, int, Mapping[str, Any], str, Optional[int], Any, Any, Outcome, Optional[str]]
#: An OAuth client's name is looked up again after this long (names change when a CIMD document does).
NAME_CACHE_SECONDS = 300
#: Tries per batch while the database refuses it (1 s, then 2 s apart).
WRITE_ATTEMPTS = 3


class ActivityLog:
    """Queues tool calls and writes them to an :class:`ActivityStore` in batches.

    ``oauth_issuer`` tells Superset's own OAuth tokens from pasted ones (None:
    OAuth off, every token is pasted); ``client_name(client_id)`` finds an
    OAuth client's name (None: unknown).
    """

    def __init__(
        self,
        store: ActivityStore,
        oauth_issuer: Optional[str] = None,
        client_name: Optional[Callable[[str], Optional[str]]] = None,
        linger: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._oauth_issuer = oauth_issuer
        self._client_name = client_name
        self._names: dict[str, tuple[Optional[str], float]] = {}
        self._clock = clock
        # Full (the database has been refusing writes for a while): drop and
        # count, never write on the request path.
        self.writer: BackgroundWriter[RawCall] = BackgroundWriter(
            self._write, "superset-mcp-jwt-activity", linger=linger, when_full="drop"
        )

    def record(self, call: RawCall) -> None:
        """Queue one call (the request path: a queue put)."""
        self.writer.submit(call)

    def close(self) -> None:
        self.writer.close()

    def flush(self) -> None:
        self.writer.flush()

    def to_record(self, call: RawCall) -> ToolCall:
        started_at, duration_ms, claims, username, user_id, tool, arguments, outcome, user_agent = call
        jti = claims.get("jti")
        client_id = claims.get("client_id") if claims.get("iss") == self._oauth_issuer else None
        if not isinstance(client_id, str):
            client_id = None
        return ToolCall(
            started_at=started_at,
            duration_ms=duration_ms,
            user_id=user_id,
            username=username,
            client_id=client_id,
            client_name=self._name_of(client_id) if client_id is not None else None,
            jti=jti if isinstance(jti, str) else None,
            scopes=tuple(token_scopes(claims)),
            tool=tool_name(tool),
            outcome=outcome,
            arguments=summarize_arguments(arguments),
            user_agent=printable(user_agent, 255),
        )

    def _name_of(self, client_id: str) -> Optional[str]:
        now = self._clock()
        cached = self._names.get(client_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        name = None
        if self._client_name is not None:
            try:
                name = printable(self._client_name(client_id), 255)
            except Exception as exc:  # the store is down: the record keeps the id
                logger.warning("superset-mcp-jwt: activity: OAuth client name not found (%s)",
                               exc.__class__.__name__)
                return None
        if len(self._names) > 10_000:
            self._names.clear()
        self._names[client_id] = (name, now + NAME_CACHE_SECONDS)
        return name

    def _write(self, calls: list[RawCall]) -> None:
        records = [self.to_record(call) for call in calls]
        for attempt in range(WRITE_ATTEMPTS):
            try:
                self.store.write(records)
                return
            except Exception as exc:
                failure = exc.__class__.__name__
                if self._table_missing():
                    logger.error(
                        "superset-mcp-jwt: %d MCP activity record(s) lost: the activity table is missing; "
                        "run `superset mcp-jwt db upgrade` (or set MCP_JWT_ACTIVITY_LOG = False)", len(records),
                    )
                    return
                if attempt + 1 < WRITE_ATTEMPTS:
                    time.sleep(2**attempt)
        logger.error("superset-mcp-jwt: %d MCP activity record(s) lost: the metadata database refused "
                     "them %d times (%s)", len(records), WRITE_ATTEMPTS, failure)

    def _table_missing(self) -> bool:
        try:
            return not self.store.table_exists()
        except Exception:  # the database is down, not missing a table
            return False
