"""The documentation (docs/) and superset_config.example.py say what the code does.

Each test reads the documents and checks them against the installed package:
every key with its default, the ranges start-up enforces (docs/reference/configuration.md),
the token page's lifetimes (docs/operators/tokens.md), the module layout
(docs/internals/how-it-works.md) and the public API (docs/reference/api.md).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

import superset_mcp_jwt
from superset_mcp_jwt import DEFAULTS, ConfigError, Settings
from superset_mcp_jwt.access_page import _TTL_CHOICES
from tests.documented import documented_config

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONFIGURATION = (DOCS / "reference" / "configuration.md").read_text()
TOKENS_PAGE = (DOCS / "operators" / "tokens.md").read_text()
HOW_IT_WORKS = (DOCS / "internals" / "how-it-works.md").read_text()
API_PAGE = (DOCS / "reference" / "api.md").read_text()
EXAMPLE = (ROOT / "superset_config.example.py").read_text()
SECRET = "k" * 64


def _config_rows() -> dict[str, list[str]]:
    """`| `KEY` | default | accepted | notes |` rows of the configuration reference's tables."""
    rows = {}
    for line in CONFIGURATION.splitlines():
        match = re.match(r"\| `(MCP_\w+)` \|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split(" | ")]
    return rows


def _example_lines() -> dict[str, str]:
    """KEY -> its first line in the example: `KEY = ...` or `# KEY = ...`."""
    lines: dict[str, str] = {}
    for line in EXAMPLE.splitlines():
        match = re.match(r"(?:# )?(MCP_\w+) = ", line)
        if match:
            lines.setdefault(match.group(1), line)
    return lines


def test_the_example_config_lists_every_key_with_its_default_and_meaning():
    lines = _example_lines()
    assert set(DEFAULTS) <= set(lines), f"missing: {sorted(set(DEFAULTS) - set(lines))}"
    for key, default in DEFAULTS.items():
        line = lines[key]
        statement = ast.parse(line[2:] if line.startswith("# ") else line).body[0]
        assert isinstance(statement, ast.Assign), line
        comment = line.split("  # ", 1)[1] if "  # " in line else ""
        assert len(comment) > 10, f"{key}: no one-line meaning: {line!r}"
        if line.startswith("# "):  # shown at its default, commented out
            assert ast.literal_eval(statement.value) == default, line
        else:  # set for the deployment: the comment gives the default
            assert comment.startswith(f"default: {default!r}."), line


def test_the_example_config_is_a_config_that_starts(monkeypatch):
    monkeypatch.setenv("MCP_JWT_SECRET", SECRET)
    namespace: dict[str, Any] = {}
    exec(compile(EXAMPLE, "superset_config.example.py", "exec"), namespace)
    assert namespace["FLASK_APP_MUTATOR"] is superset_mcp_jwt.init_app
    config = {k: v for k, v in namespace.items() if k.isupper()}
    settings = Settings.from_config(config)
    assert settings.auth_enabled and settings.algorithm == "HS256"
    assert settings.secrets == (SECRET.encode(),)
    # Uncommenting every default line changes nothing.
    uncommented = {key: ast.literal_eval(line[2:].split(" = ", 1)[1].split("  # ", 1)[0])
                   for key, line in _example_lines().items() if line.startswith("# ")}
    assert Settings.from_config({**uncommented, **config}) == settings


def test_the_configuration_tables_list_every_key_with_its_default():
    rows = _config_rows()
    assert set(DEFAULTS) <= set(rows), f"missing: {sorted(set(DEFAULTS) - set(rows))}"
    for key, default in DEFAULTS.items():
        assert ast.literal_eval(rows[key][0].strip("`")) == default, (key, rows[key][0])


def _documented_ranges() -> dict[str, tuple[float, float, bool]]:
    ranges = {}
    for key, cells in _config_rows().items():
        match = re.search(r"(whole number|number), ([\d.]+)–([\d.]+)", cells[1])
        if match:
            ranges[key] = (float(match.group(2)), float(match.group(3)), match.group(1) == "whole number")
    return ranges


#: OAuth keys are checked only with OAuth on.
OAUTH_ON = {"MCP_OAUTH_ENABLED": True, "MCP_OAUTH_ISSUER": "https://superset.example.com",
            "MCP_OAUTH_RESOURCE": "https://superset.example.com:5008/mcp"}


def _starts(key: str, value: Any) -> bool:
    oauth = OAUTH_ON if key.startswith("MCP_OAUTH_") else {}
    try:
        Settings.from_config(documented_config(SECRET, **{**oauth, key: value}))
    except ConfigError as error:
        assert error.key == key
        return False
    return True


@pytest.mark.parametrize("key", sorted(k for k, v in DEFAULTS.items()
                                       if isinstance(v, (int, float)) and not isinstance(v, bool)))
def test_each_numeric_key_has_the_range_start_up_enforces(key):
    low, high, whole = _documented_ranges()[key]
    step = 1 if whole else 0.01
    number = int if whole else float
    assert _starts(key, number(low)) and _starts(key, number(high))
    assert not _starts(key, number(low) - step) and not _starts(key, number(high) + step)
    if whole:
        assert not _starts(key, float(low))
    example = re.search(r"(\d[\d.]*) to (\d[\d.]*)", _example_lines()[key])
    assert example and (float(example.group(1)), float(example.group(2))) == (low, high)


def test_the_realm_characters_are_as_documented():
    assert 'without `"` or `\\`' in _config_rows()["MCP_JWT_REALM"][1]
    assert not _starts("MCP_JWT_REALM", 'a"b') and not _starts("MCP_JWT_REALM", "a\\b")
    assert _starts("MCP_JWT_REALM", "a b'c")


def test_the_tokens_page_names_the_token_pages_lifetimes():
    labels = ", ".join(label for _seconds, label in _TTL_CHOICES)
    assert labels in " ".join(TOKENS_PAGE.split()), labels
    assert max(seconds for seconds, _ in _TTL_CHOICES) == _documented_ranges()["MCP_JWT_TOKEN_PAGE_MAX_TTL"][1]


def test_the_layout_lists_every_module():
    layout = HOW_IT_WORKS.split("```\nsuperset_mcp_jwt/\n", 1)[1].split("```", 1)[0]
    listed = set(re.findall(r"^  (\w+\.py) ", layout, re.M))
    package_dir = Path(superset_mcp_jwt.__file__).parent
    shipped = {path.name for path in package_dir.glob("*.py")} - {"__init__.py"}
    assert listed == shipped


def test_the_public_api_page_lists_exactly_all():
    names = re.findall(r"^\| `(\w+)", API_PAGE, re.M)
    assert sorted(names) == sorted(superset_mcp_jwt.__all__)
    assert len(names) == len(set(names))
