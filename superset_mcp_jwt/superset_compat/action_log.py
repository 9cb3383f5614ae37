"""Audit records in Superset's action log (its event logger), written off the request path.

Also where the extension's background writers are drained when the process
ends: Superset's processes (gunicorn workers, ``superset mcp run`` under
uvicorn) end on SIGTERM, and uvicorn re-raises it to the handler it found.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
from typing import Any, Callable, Optional

from flask import Flask

from ..background import BackgroundWriter
from .app import is_superset_app

logger = logging.getLogger("superset_mcp_jwt.superset_compat")

ACTION = "mcp_jwt_auth"
#: What :func:`close_on_exit` closes, in order, at exit or on SIGTERM.
_TO_CLOSE: list[Callable[[], None]] = []
_chained = False


def action_log(app: Flask) -> Optional["ActionLogWriter"]:
    """A writer to Superset's event logger (its action log), or None outside Superset."""
    return ActionLogWriter(app) if is_superset_app(app) else None


class ActionLogWriter:
    """Writes audit records to Superset's event logger off the request path.

    ``writer(user_id, record)`` only queues; a background thread writes what is
    queued in batches (one event-logger call per user per batch, at most every
    ``linger`` seconds), in an app context of its own. The queue is bounded:
    when it is full the caller writes its record itself rather than drop it.
    Whatever is queued when the process exits normally or gets SIGTERM is
    written before it ends (:meth:`close`).
    """

    def __init__(
        self, app: Flask, max_queued: int = 10_000, batch: int = 500, linger: float = 1.0
    ) -> None:
        self._app = app
        self._writer: BackgroundWriter[tuple[Optional[int], dict[str, Any]]] = BackgroundWriter(
            self._write, "superset-mcp-jwt-action-log", max_queued, batch, linger
        )
        close_on_exit(self.close)

    def __call__(self, user_id: Optional[int], record: dict[str, Any]) -> None:
        self._writer.submit((user_id, record))

    def close(self, timeout: float = 10.0) -> None:
        """Stop the writer thread after it has written what it holds; write what is left."""
        self._writer.close(timeout)

    def _write(self, items: list[tuple[Optional[int], dict[str, Any]]]) -> None:
        by_user: dict[Optional[int], list[dict[str, Any]]] = {}
        for user_id, record in items:
            by_user.setdefault(user_id, []).append(record)
        try:
            with self._app.app_context():
                from superset.extensions import event_logger

                for user_id, records in by_user.items():
                    event_logger.log(user_id, ACTION, None, None, None, None, records=records)
        except Exception as exc:  # the audit trail must never take the server down
            logger.error("superset-mcp-jwt: writing %d action-log records failed (%s)",
                         len(items), exc.__class__.__name__)


def close_on_exit(close: Callable[[], None]) -> None:
    """Call ``close`` (a writer's drain) when the process exits normally or gets SIGTERM."""
    atexit.register(close)
    _TO_CLOSE.append(close)
    _chain_sigterm()


def _chain_sigterm() -> None:
    """On SIGTERM, drain every writer, then do what SIGTERM did before (uvicorn re-raises it)."""
    global _chained
    if _chained or threading.current_thread() is not threading.main_thread():
        return
    _chained = True
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        for close in list(_TO_CLOSE):
            close()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
