"""Reading Superset's code without running it."""

from __future__ import annotations

import importlib.machinery
import sys
import types


def holds_constant(module: types.ModuleType, constant: str) -> bool:
    """True if a function defined in ``module`` (or one nested in it) holds the constant ``constant``.

    A config key a function reads (``app.config.get("KEY")``) is such a constant.
    """

    def consts(code: types.CodeType) -> bool:
        return any(c == constant or (isinstance(c, types.CodeType) and consts(c)) for c in code.co_consts)

    return any(
        isinstance(f, types.FunctionType) and f.__module__ == module.__name__ and consts(f.__code__)
        for f in vars(module).values()
    )


def module_exists(name: str) -> bool:
    """True if module ``name`` is imported or can be found under its imported top package; imports nothing."""
    if name in sys.modules:
        return True
    top, *parts = name.split(".")
    package = sys.modules.get(top)
    locations = list(getattr(package, "__path__", ()))
    for part in parts:
        spec = importlib.machinery.PathFinder.find_spec(part, locations) if locations else None
        if spec is None:
            return False
        locations = list(spec.submodule_search_locations or ())
    return package is not None
