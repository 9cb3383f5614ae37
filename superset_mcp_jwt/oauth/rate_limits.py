"""Per-address request limits for the authorization server's endpoints (no Flask).

Counting is Flask-Limiter's own engine, the ``limits`` package: the same
storage URIs (``memory://``, ``redis://``, ...) and strategies, so the counts
live where Superset's rate limiting keeps its own (``RATELIMIT_STORAGE_URI``)
and every replica sees the same ones. The face decides which endpoint a
request belongs to and which address it came from
(``superset_compat.rate_limits``).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping, Optional

from limits import parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import STRATEGIES

#: Prefix of every counter key: nothing of Superset's own limiter shares a name with ours.
NAMESPACE = "superset_mcp_jwt_oauth"


class LimiterUnavailable(Exception):
    """The rate-limit storage failed (the face answers 503, never a 500, never unlimited)."""


class RateLimits:
    """Per-address limits for groups of endpoints.

    ``limits`` maps a group (``"token"``, ...) to a limit string such as
    ``"600 per minute"``; ``storage_uri`` and ``storage_options`` name the
    counters' storage, ``strategy`` the window (``"fixed-window"``, ...).
    """

    def __init__(
        self,
        limits: Mapping[str, str],
        storage_uri: str = "memory://",
        storage_options: Optional[Mapping[str, Any]] = None,
        strategy: str = "fixed-window",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = {group: parse_many(value) for group, value in limits.items()}
        self.storage: Storage = storage_from_string(storage_uri, **dict(storage_options or {}))
        self.limiter = STRATEGIES[strategy](self.storage)
        self.clock = clock

    def hit(self, group: str, address: str) -> Optional[int]:
        """Count one request of ``address`` to ``group``.

        None while every limit holds; else the whole seconds (at least 1)
        until the limit that was reached lets the next request through.
        Raises :class:`LimiterUnavailable` if the storage fails.
        """
        try:
            for item in self.limits.get(group, ()):
                if not self.limiter.hit(item, NAMESPACE, group, address):
                    reset_at = self.limiter.get_window_stats(item, NAMESPACE, group, address).reset_time
                    return max(1, math.ceil(reset_at - self.clock()))
        except Exception as error:  # redis, memcached, mongodb: each has its own errors
            raise LimiterUnavailable(error.__class__.__name__) from None
        return None
