"""Counters for Superset's ``STATS_LOGGER``, in Superset's statsd convention, off the request path.

Core: the sink is any object with ``incr(key)`` (Superset's ``BaseStatsLogger``:
``StatsdStatsLogger`` sends one UDP packet per call, prefixed with its own
``superset.``). Every name starts with :data:`PREFIX`, dotted, lower case; the
variable parts come from fixed sets (reason codes, outcomes, grant types), so
no caller can mint new series.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol

from .background import BackgroundWriter

PREFIX = "mcp_jwt."

#: Every counter, with what one increment means (the documentation's list is checked against it).
#: ``<...>`` is the variable part.
COUNTERS: dict[str, str] = {
    "mcp_jwt.token.accepted": "a request's bearer token was accepted (every request, not only a token's first)",
    "mcp_jwt.token.rejected.<reason>": "a request was refused; <reason> is the stable reason code of the log line",
    "mcp_jwt.tool_call.<outcome>": "an MCP tool call ended: ok, tool_error, denied_roles or denied_scope",
    "mcp_jwt.oauth.registration.<kind>": "an OAuth client was registered: dcr (RFC 7591) or cimd (a metadata document)",
    "mcp_jwt.oauth.grant.<grant_type>": "tokens were issued: authorization_code or refresh_token",
    "mcp_jwt.oauth.refresh_grace": "a spent refresh token was answered within the refresh grace window",
    "mcp_jwt.oauth.replay.<what>": "a spent code or refresh token came back and its family was revoked: code or refresh_token",
    "mcp_jwt.step_up": "a tool call was refused with 403 insufficient_scope, asking the client to step up",
    "mcp_jwt.rate_limited.<endpoint>": "a request was refused by a rate limit; <endpoint> names what was limited",
}


class StatsSink(Protocol):
    def incr(self, key: str) -> None:
        """Increment the counter ``key`` by one."""


class Metrics:
    """``incr(name)`` queues the name; a background thread calls ``sink.incr`` for each.

    With no sink (outside Superset) nothing is queued.
    """

    def __init__(self, sink: Optional[StatsSink]) -> None:
        self._writer: Optional[BackgroundWriter[str]] = (
            BackgroundWriter(self._send, "superset-mcp-jwt-metrics", linger=0.2) if sink is not None else None
        )
        self._sink = sink

    def incr(self, name: str) -> None:
        if self._writer is not None:
            self._writer.submit(name)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def _send(self, names: list[str]) -> None:
        sink: Any = self._sink
        for name in names:
            sink.incr(name)


def metric_part(value: str) -> str:
    """A name part from a fixed vocabulary, made safe for statsd's wire format anyway."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in value[:64])
    return cleaned or "unknown"
