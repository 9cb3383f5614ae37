"""Superset's ``STATS_LOGGER``: where the extension's counters go (statsd, or Superset's no-op default)."""

from __future__ import annotations

from typing import Any, Optional

from flask import Flask

from .app import is_superset_app


class SupersetStats:
    """``incr(key)`` on the stats logger Superset uses at the time of the call.

    Superset keeps it in ``stats_logger_manager`` (set from ``STATS_LOGGER``
    while the app is built); it is looked up on each call, from the metrics'
    background thread, so its set-up order relative to ours does not matter.
    """

    def __init__(self, app: Flask) -> None:
        self._app = app

    def incr(self, key: str) -> None:
        _current(self._app).incr(key)


def stats_logger(app: Flask) -> Optional[SupersetStats]:
    """The metrics' sink for a Superset app; None outside Superset."""
    return SupersetStats(app) if is_superset_app(app) else None


def _current(app: Flask) -> Any:
    from superset.extensions import stats_logger_manager
    from superset.stats_logger import BaseStatsLogger

    instance = stats_logger_manager.instance
    if type(instance) is BaseStatsLogger:  # not set up (yet): the config's own
        instance = app.config.get("STATS_LOGGER", instance)
    return instance
