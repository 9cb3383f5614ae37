"""Audit records in Superset's action log (its event logger), written off the request path."""

from __future__ import annotations

import atexit
import logging
import queue
import signal
import threading
import time
from typing import Any, Optional

from flask import Flask

from .app import is_superset_app

logger = logging.getLogger("superset_mcp_jwt.superset_compat")

ACTION = "mcp_jwt_auth"
_STOP = object()


def action_log(app: Flask) -> Optional["ActionLogWriter"]:
    """A writer to Superset's event logger (its action log), or None outside Superset."""
    return ActionLogWriter(app) if is_superset_app(app) else None


class ActionLogWriter:
    """Writes audit records to Superset's event logger off the request path.

    ``writer(user_id, record)`` only queues; a daemon thread writes what is
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
        self._queue: queue.Queue[Any] = queue.Queue(max_queued)
        self._batch, self._linger = batch, linger
        self._thread: Optional[threading.Thread] = None
        self._start_lock = threading.Lock()
        self._closed = threading.Event()
        atexit.register(self.close)
        self._chain_sigterm()

    def __call__(self, user_id: Optional[int], record: dict[str, Any]) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait((user_id, record))
        except queue.Full:
            self._write([(user_id, record)])

    def close(self, timeout: float = 10.0) -> None:
        """Stop the writer thread after it has written what it holds; write what is left."""
        if self._closed.is_set():
            return
        self._closed.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=timeout)
                thread.join(timeout)
            except queue.Full:
                pass  # the thread is stuck writing: write the rest here
        items = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                items.append(item)
        if items:
            self._write(items)

    def _chain_sigterm(self) -> None:
        """On SIGTERM, drain the queue, then do what SIGTERM did before (uvicorn re-raises it)."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Any) -> None:
            self.close()
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.raise_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="superset-mcp-jwt-action-log", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            deadline = time.monotonic() + self._linger
            while items[-1] is not _STOP and len(items) < self._batch:
                try:
                    items.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            stop = items[-1] is _STOP
            if stop:
                items.pop()
            if items:
                self._write(items)
            if stop:
                return

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
