"""A small thread-safe map with a size bound: the oldest entry leaves first."""

from __future__ import annotations

import threading
from typing import Generic, Optional, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMap(Generic[K, V]):
    """At most ``max_entries`` items; ``put`` evicts in insertion order.

    Reads take no lock (a dict lookup is atomic); writes do.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> Optional[V]:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._put(key, value)

    def add(self, key: K, value: V) -> bool:
        """Put ``key`` unless present; True if it was new."""
        with self._lock:
            if key in self._items:
                return False
            self._put(key, value)
            return True

    def _put(self, key: K, value: V) -> None:
        if self.max_entries <= 0:
            return
        self._items.pop(key, None)
        while len(self._items) >= self.max_entries:
            self._items.pop(next(iter(self._items)))
        self._items[key] = value

    def __len__(self) -> int:
        return len(self._items)
