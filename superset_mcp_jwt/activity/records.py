"""One activity record per MCP tool call, and what is kept of a call's arguments.

A record holds who (the Superset user), through which client (the OAuth
client's id and name, or "pasted token" with the token's ``jti``), with which
scopes, which tool, the outcome and the duration. It never holds the token, a
secret, or any argument value that could carry content: of the arguments only
their names are kept (``request.sql`` says SQL was sent, not which) and the
integer ids of the objects a call names (``dashboard_id``, ``chart_id``, ...),
which say what was touched without saying what was in it. Argument values may
be SQL text, filter values holding business data, or free text an AI wrote
from a user's prompt; Superset's own ``mcp_tool_call`` rows keep those (see
the operators' docs), this table does not.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

#: How a client is shown when the token was pasted (minted on the MCP access page, the CLI, an IdP).
PASTED_TOKEN = "pasted token"
MAX_ARGUMENT_NAMES = 24
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_TOOL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


class Outcome(str, enum.Enum):
    """How a tool call ended. The value is stored and is the metric's last part."""

    OK = "ok"
    TOOL_ERROR = "tool_error"
    DENIED_ROLES = "denied_roles"
    DENIED_SCOPE = "denied_scope"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Outcome.OK: "OK",
    Outcome.TOOL_ERROR: "Tool error",
    Outcome.DENIED_ROLES: "Denied by roles",
    Outcome.DENIED_SCOPE: "Refused for scope",
}


@dataclass(frozen=True)
class ToolCall:
    """One stored call."""

    started_at: float  # epoch seconds
    duration_ms: int
    user_id: Optional[int]
    username: str
    #: The OAuth client's id; None for a pasted token.
    client_id: Optional[str]
    client_name: Optional[str]
    jti: Optional[str]
    scopes: tuple[str, ...]
    tool: str
    outcome: Outcome
    #: {"names": [...], "ids": {...}}: see the module's docstring.
    arguments: Mapping[str, Any]
    user_agent: Optional[str] = None
    id: Optional[int] = None

    @property
    def client_label(self) -> str:
        """The client as a person reads it: the OAuth client's name, or "pasted token"."""
        if self.client_id is None:
            return PASTED_TOKEN
        return self.client_name or self.client_id


def tool_name(name: Any) -> str:
    """A tool name as stored: registered names are snake_case; anything else is "?" (client-chosen text)."""
    return name if isinstance(name, str) and _TOOL.fullmatch(name) else "?"


def summarize_arguments(arguments: Any) -> dict[str, Any]:
    """The argument names (one level into objects, ``request.sql``) and the integer ids; no values."""
    names: list[str] = []
    ids: dict[str, int] = {}

    def visit(value: Any, prefix: str, depth: int) -> None:
        if not isinstance(value, Mapping):
            return
        for argument in value:
            if len(names) >= MAX_ARGUMENT_NAMES:
                return
            if not isinstance(argument, str) or not _NAME.fullmatch(argument):
                continue
            name = prefix + argument
            names.append(name)
            item = value[argument]
            if (argument == "id" or argument.endswith("_id")) and type(item) is int and abs(item) < 2**53:
                ids[name] = item
            elif depth == 0:
                visit(item, name + ".", 1)

    visit(arguments, "", 0)
    return {"names": names, "ids": ids}


def printable(text: Any, limit: int) -> Optional[str]:
    """Caller-supplied text (a User-Agent, a client name) bounded and made printable, or None."""
    if not isinstance(text, str) or not text:
        return None
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])
