"""The state of the MCP tool call in progress, where the permission check notes a denial.

The MCP-server face opens a :class:`CallState` around each tool call
(:func:`open_call`); Superset's permission check, wrapped in
``superset_compat.permissions``, notes a refusal in it (:func:`note_denial`).
A context variable holds it, so a sync tool run in a worker thread (which
gets a copy of the context) notes into the same object.
"""

from __future__ import annotations

import contextvars
from typing import Optional

from .records import Outcome


class CallState:
    """What one tool call learned on its way: a denial, and whether it handed over to another call."""

    __slots__ = ("denied", "delegated")

    def __init__(self) -> None:
        self.denied: Optional[Outcome] = None
        #: True when this call started another (the tool-search ``call_tool`` proxy):
        #: the inner call is the one recorded.
        self.delegated = False


_current: contextvars.ContextVar[Optional[CallState]] = contextvars.ContextVar(
    "superset_mcp_jwt_tool_call", default=None
)


def open_call() -> tuple[CallState, contextvars.Token[Optional[CallState]]]:
    """A new state for the call starting now (the enclosing one, if any, is marked delegated)."""
    outer = _current.get()
    if outer is not None:
        outer.delegated = True
    state = CallState()
    return state, _current.set(state)


def close_call(token: contextvars.Token[Optional[CallState]]) -> None:
    _current.reset(token)


def note_denial(outcome: Outcome) -> None:
    """The call in progress was refused: by the user's roles, or by the token's scopes."""
    state = _current.get()
    if state is not None and state.denied is None:
        state.denied = outcome
