"""`make test` tests what is shipped: the wheel built from the sdist, installed
into the venv like a user installs it. These tests fail when the suite would
otherwise be testing the checkout (``./superset_mcp_jwt``) or an editable install.

For a quick edit-and-test loop on the checkout, set ``SUPERSET_MCP_JWT_DEV=1``
(and ``pip install -e .``); those checks are then skipped.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest

import superset_mcp_jwt

ROOT = Path(__file__).resolve().parents[2]
DIST = "superset-mcp-jwt"
DEV = os.environ.get("SUPERSET_MCP_JWT_DEV") == "1"
installed_only = pytest.mark.skipif(DEV, reason="SUPERSET_MCP_JWT_DEV=1: testing the checkout")

#: Imported only inside Superset (and `superset mcp run`), which brings them:
#: apache-superset and its `fastmcp` extra. Not repeated in install_requires.
HOST_PROVIDED = {"superset", "fastmcp", "mcp", "starlette", "anyio"}


def _site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"]).resolve()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@installed_only
def test_the_package_under_test_is_the_one_in_site_packages():
    package_dir = Path(superset_mcp_jwt.__file__).resolve().parent
    assert package_dir == _site_packages() / "superset_mcp_jwt", (
        f"tests imported {package_dir}, not the installed wheel; run them with "
        "`make test` (or .venv/bin/pytest), not `python -m pytest`"
    )
    assert package_dir != ROOT / "superset_mcp_jwt"


@installed_only
def test_it_was_installed_from_a_wheel_not_editable():
    direct_url = json.loads(metadata.distribution(DIST).read_text("direct_url.json") or "{}")
    assert not direct_url.get("dir_info", {}).get("editable"), direct_url
    assert direct_url.get("url", "").endswith(".whl"), direct_url
    assert "archive_info" in direct_url


@installed_only
def test_a_console_script_started_from_the_checkout_gets_the_installed_package(tmp_path):
    # What `superset run`, `superset mcp run` and `superset-mcp-jwt` do: a script in
    # the venv's bin (sys.path[0] is the script's directory), cwd = the checkout,
    # the test's environment (PYTHONPATH included).
    script = tmp_path / "where.py"
    script.write_text("import superset_mcp_jwt; print(superset_mcp_jwt.__file__)\n")
    result = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=dict(os.environ),
        capture_output=True, text=True, check=True, timeout=60,
    )
    loaded = Path(result.stdout.strip()).resolve().parent
    assert loaded == _site_packages() / "superset_mcp_jwt"


def test_the_distribution_carries_the_license_and_metadata():
    dist = metadata.distribution(DIST)
    assert dist.version == superset_mcp_jwt.__version__
    assert dist.metadata["License-Expression"] == "Apache-2.0"
    license_files = [f for f in dist.files or () if f.name == "LICENSE"]
    assert license_files, "LICENSE missing from the installed distribution"
    assert "Apache License" in license_files[0].read_text()
    urls = dict(u.split(", ", 1) for u in dist.metadata.get_all("Project-URL"))
    assert urls["Source"] == "https://github.com/superset-mcp-jwt/superset-mcp-jwt"
    entry_points = {(e.group, e.name, e.value) for e in dist.entry_points}
    assert ("console_scripts", "superset-mcp-jwt", "superset_mcp_jwt.cli:standalone") in entry_points
    assert ("flask.commands", "mcp-jwt", "superset_mcp_jwt.cli:mcp_jwt") in entry_points


def _imports(package_dir: Path) -> tuple[set[str], set[str]]:
    """Top-level third-party module names: (imported at module level, imported lazily)."""
    eager: set[str] = set()
    lazy: set[str] = set()
    for path in package_dir.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                if root in sys.stdlib_module_names or root in ("superset_mcp_jwt", "__future__"):
                    continue
                (eager if id(node) in top else lazy).add(root)
    return eager, lazy


def test_every_third_party_import_is_a_declared_dependency():
    package_dir = Path(superset_mcp_jwt.__file__).resolve().parent
    eager, lazy = _imports(package_dir)
    required, extras = set(), set()
    for requirement in metadata.requires(DIST) or ():
        name = _canonical(re.match(r"[A-Za-z0-9._-]+", requirement).group())
        (extras if "extra ==" in requirement else required).add(name)
    providers = metadata.packages_distributions()

    def declared(module: str, allowed: set[str]) -> bool:
        return bool({_canonical(d) for d in providers.get(module, ())} & allowed)

    # Imported when `import superset_mcp_jwt` runs (or a module of it, at its top):
    # install_requires. Imported inside a function: install_requires or an extra.
    assert "cryptography" in eager and "jwt" in eager  # the scan sees real imports
    missing = sorted(m for m in eager - HOST_PROVIDED if not declared(m, required))
    missing += sorted(m for m in lazy - eager - HOST_PROVIDED if not declared(m, required | extras))
    assert not missing, f"imported but not declared in setup.cfg: {missing}"
