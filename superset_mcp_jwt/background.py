"""Writing off the request path: a queue, and one daemon thread that writes it in batches.

Core: knows neither Flask nor a database. ``submit`` only queues (a C-level
queue put, well under a microsecond); the thread hands what is queued to the
``write`` callable in batches. :meth:`BackgroundWriter.close` writes whatever is
still queued; the process's exit and SIGTERM hooks call it (see
``superset_compat.action_log.close_on_exit``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Generic, Optional, TypeVar

logger = logging.getLogger("superset_mcp_jwt")

T = TypeVar("T")
_STOP = object()


class BackgroundWriter(Generic[T]):
    """``submit(item)`` queues; a daemon thread calls ``write(items)`` with batches of them.

    A batch holds at most ``batch`` items and waits at most ``linger`` seconds
    for more. The queue is bounded: past ``max_queued`` items the caller writes
    its item itself rather than drop it (``when_full="write"``), or the item is
    dropped and counted in an error line (``"drop"``: nothing may wait on the
    request path). ``write`` should not raise (a failure
    there is logged and its batch dropped, so one bad batch never stops the
    thread). The thread starts with the first item, so a process that forks
    after building the writer (gunicorn) gets its own.
    """

    def __init__(
        self,
        write: Callable[[list[T]], None],
        name: str,
        max_queued: int = 10_000,
        batch: int = 500,
        linger: float = 1.0,
        when_full: str = "write",
    ) -> None:
        if when_full not in ("write", "drop"):
            raise ValueError("when_full must be 'write' or 'drop'")
        self._write = write
        self._drop_when_full = when_full == "drop"
        self.dropped = 0
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._max_queued, self._batch, self._linger = max_queued, batch, linger
        self._thread: Optional[threading.Thread] = None
        self._start_lock = threading.Lock()
        self._closed = threading.Event()

    def submit(self, item: T) -> None:
        """Queue ``item`` (or, with the queue full or the writer closed, write it now)."""
        if self._thread is None:
            self._start()
        if self._closed.is_set():
            self._safe_write([item])
        elif self._queue.qsize() < self._max_queued:
            self._queue.put(item)
        elif self._drop_when_full:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                logger.error("superset-mcp-jwt: %s: queue full (%d), %d record(s) dropped so far",
                             self._name, self._max_queued, self.dropped)
        else:
            self._safe_write([item])

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until what was queued before this call is written (tests, the CLI)."""
        if self._closed.is_set():
            return
        if self._thread is None:
            self._start()
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread after it has written what it holds; write what is left here."""
        if self._closed.is_set():
            return
        self._closed.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)
        items = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP and not isinstance(item, threading.Event):
                items.append(item)
        if items:
            self._safe_write(items)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
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
            waiting = [item for item in items if isinstance(item, threading.Event)]
            batch = [item for item in items if item is not _STOP and not isinstance(item, threading.Event)]
            if batch:
                self._safe_write(batch)
            for event in waiting:
                event.set()
            if stop:
                return

    def _safe_write(self, items: list[T]) -> None:
        try:
            self._write(items)
        except Exception as exc:  # never let a failed write stop the thread or the request
            logger.error("superset-mcp-jwt: %s: writing %d record(s) failed (%s)",
                         self._name, len(items), exc.__class__.__name__)
