"""The one object every face and the OAuth service report events to: metrics and activity.

Core: the composition root builds a :class:`Recorder` (Superset's
``STATS_LOGGER`` as the metrics sink, the activity log on the metadata
database) and passes it on; code that gets none uses :data:`NULL_RECORDER`.
Every method is cheap on the request path: a dictionary lookup and a queue put.
Events whose code lives elsewhere call the same methods: the refresh grace
window (:meth:`grace_answer`), rate limits (:meth:`rate_limited`), scope
step-up (:meth:`step_up`).
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Optional

from .activity.log import ActivityLog
from .activity.records import Outcome
from .errors import Reason
from .metrics import Metrics, metric_part

_ACCEPTED = "mcp_jwt.token.accepted"
_REJECTED = {reason: f"mcp_jwt.token.rejected.{reason.code}" for reason in Reason}
_TOOL_CALL = {outcome: f"mcp_jwt.tool_call.{outcome.value}" for outcome in Outcome}
_GRANTS = frozenset({"authorization_code", "refresh_token"})
_REGISTRATIONS = frozenset({"dcr", "cimd"})
_REPLAYS = frozenset({"code", "refresh_token"})


class Recorder:
    """Counts events in the metrics sink and records tool calls in the activity log (if any)."""

    def __init__(self, metrics: Optional[Metrics] = None, activity: Optional[ActivityLog] = None) -> None:
        self.metrics = metrics if metrics is not None else Metrics(None)
        #: None when MCP_JWT_ACTIVITY_LOG is off (or outside Superset).
        self.activity = activity

    # --- the resource server (every request) --------------------------------

    def token_accepted(self) -> None:
        self.metrics.incr(_ACCEPTED)

    def token_rejected(self, reason: Reason) -> None:
        self.metrics.incr(_REJECTED[reason])

    def tool_call(
        self,
        claims: Mapping[str, Any],
        username: str,
        user_id: Optional[int],
        tool: Any,
        arguments: Any,
        outcome: Outcome,
        started_at: float,
        duration_ms: int,
        user_agent: Optional[str] = None,
    ) -> None:
        """One MCP tool call ended (``claims``: the verified token's; ``tool``/``arguments`` as sent)."""
        self.metrics.incr(_TOOL_CALL[outcome])
        if self.activity is not None:
            self.activity.record(
                (started_at, duration_ms, claims, username, user_id, tool, arguments, outcome, user_agent)
            )

    def step_up(
        self,
        claims: Mapping[str, Any],
        username: str,
        user_id: Optional[int],
        tool: Any,
        arguments: Any = None,
        user_agent: Optional[str] = None,
    ) -> None:
        """A tool call was refused before it ran with 403 ``insufficient_scope`` (a step-up challenge)."""
        self.metrics.incr("mcp_jwt.step_up")
        self.tool_call(claims, username, user_id, tool, arguments, Outcome.DENIED_SCOPE, time.time(), 0,
                       user_agent)

    def rate_limited(self, endpoint: str) -> None:
        """A request was refused by a rate limit (``endpoint``: e.g. ``register``, ``token``)."""
        self.metrics.incr(f"mcp_jwt.rate_limited.{metric_part(endpoint)}")

    # --- the authorization server ---------------------------------------------

    def registration(self, kind: str) -> None:
        """An OAuth client was registered: ``dcr`` (RFC 7591) or ``cimd`` (first use of a metadata document)."""
        self.metrics.incr(f"mcp_jwt.oauth.registration.{kind if kind in _REGISTRATIONS else 'other'}")

    def grant(self, grant_type: str) -> None:
        """Tokens were issued by the ``authorization_code`` or ``refresh_token`` grant."""
        self.metrics.incr(f"mcp_jwt.oauth.grant.{grant_type if grant_type in _GRANTS else 'other'}")

    def grace_answer(self) -> None:
        """A spent refresh token was answered within the refresh grace window."""
        self.metrics.incr("mcp_jwt.oauth.refresh_grace")

    def replay_detected(self, what: str) -> None:
        """A spent ``code`` or ``refresh_token`` came back (its family is revoked)."""
        self.metrics.incr(f"mcp_jwt.oauth.replay.{what if what in _REPLAYS else 'other'}")

    def close(self) -> None:
        """Write what is queued (exit, SIGTERM)."""
        if self.activity is not None:
            self.activity.close()
        self.metrics.close()

    def flush(self) -> None:
        """Wait until what is queued is written (the CLI, tests)."""
        if self.activity is not None:
            self.activity.flush()
        self.metrics.flush()


#: For code built without a recorder: counts nothing anywhere.
NULL_RECORDER = Recorder()
