"""The activity feature as shipped: ECharts and its licences in the package, the counters documented."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import superset_mcp_jwt
from superset_mcp_jwt.metrics import COUNTERS

ROOT = Path(__file__).resolve().parents[2]
STATIC = Path(superset_mcp_jwt.__file__).resolve().parent / "static" / "echarts"
ACTIVITY_PAGE = (ROOT / "docs" / "operators" / "activity.md").read_text()


def test_echarts_ships_unmodified_with_every_licence_it_needs():
    readme = (STATIC / "README.md").read_text()
    expected = re.search(r"`echarts\.common\.min\.js`, sha256 `([0-9a-f]{64})`", readme).group(1)
    assert hashlib.sha256((STATIC / "echarts.common.min.js").read_bytes()).hexdigest() == expected
    for name, words in {"LICENSE": "Apache License", "NOTICE": "Apache ECharts", "LICENSE-zrender": "BSD 3-Clause",
                        "LICENSE-d3": "Mike Bostock", "LICENSE-tslib": "Microsoft"}.items():
        assert words in (STATIC / name).read_text(), name


def test_every_counter_is_documented_with_its_meaning():
    rows = dict(re.findall(r"^\| `(mcp_jwt\.[\w.<>]+)` \| (.+) \|$", ACTIVITY_PAGE, re.M))
    assert set(rows) == set(COUNTERS)
    assert all(len(meaning) > 20 for meaning in rows.values())


def test_the_page_says_what_a_record_never_keeps():
    assert "never kept" in ACTIVITY_PAGE and "the token, a secret" in ACTIVITY_PAGE
    assert "superset mcp-jwt activity prune --older-than 90d" in ACTIVITY_PAGE
