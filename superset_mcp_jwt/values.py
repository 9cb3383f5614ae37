"""Checks of single config values, shared by every settings parser: ConfigError names the key."""

from __future__ import annotations

import math
from typing import Any

from .errors import ConfigError


def boolean(value: Any, key: str) -> bool:
    """``value`` if it is True or False."""
    if not isinstance(value, bool):
        raise ConfigError(key, "must be True or False")
    return value


def number(value: Any, key: str, low: float, high: float, whole: bool = False) -> Any:
    """``value`` if it is a finite number (whole, if asked) from ``low`` to ``high``."""
    kinds = (int,) if whole else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        kind = "a whole number" if whole else "a number"
        raise ConfigError(key, f"must be {kind} from {low} to {high}")
    return value
