"""The `superset` processes the tests start run the installed wheel, not the checkout."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

import pytest

from demo.sandbox import superset_bin

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.environ.get("SUPERSET_MCP_JWT_DEV") == "1", reason="SUPERSET_MCP_JWT_DEV=1: testing the checkout")
def test_superset_loads_the_extension_from_site_packages(home):
    # `superset shell` builds the app from the same config as `superset run` and
    # `superset mcp run`, from the checkout as cwd with the tests' environment.
    script = (
        "import sys, superset_mcp_jwt\n"
        "manager = superset_mcp_jwt.get_manager(app)\n"
        "print('LOADED', sys.modules[type(manager).__module__].__file__)\n"
    )
    result = subprocess.run(
        [superset_bin(), "shell"], input=script, env=home.env(home.config("installed_wheel_config")), cwd=ROOT,
        capture_output=True, text=True, timeout=300,
    )
    loaded = [line.split("LOADED ", 1)[1] for line in result.stdout.splitlines() if "LOADED " in line]
    assert loaded, result.stdout[-2000:] + result.stderr[-2000:]
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert Path(loaded[0].strip()).resolve() == site / "superset_mcp_jwt" / "manager.py"
