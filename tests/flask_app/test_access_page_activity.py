"""The MCP access page's Activity section on a real Flask-AppBuilder app: who sees which rows.

Records are written through the real store (what `superset mcp run` writes is
tests/superset/test_activity.py). An administrator sees everyone's calls;
alice (Gamma, with `can_read on MCPAccess` as `superset init` grants it) sees
hers only, on the page and in the CSV, whatever she puts in the query string.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import time
from typing import Any

import pytest

from superset_mcp_jwt import get_manager
from superset_mcp_jwt.activity.records import Outcome, ToolCall
from superset_mcp_jwt.oauth import migrations

from .conftest import make_app
from .test_access_page import grant, login

NOW = time.time()


def record(user: str, user_id: int, tool: str, outcome: Outcome = Outcome.OK, ago: float = 60,
           client_id: Any = None, client_name: Any = None, jti: str = "j") -> ToolCall:
    return ToolCall(started_at=NOW - ago, duration_ms=42, user_id=user_id, username=user, client_id=client_id,
                    client_name=client_name, jti=jti, scopes=("mcp:read",), tool=tool, outcome=outcome,
                    arguments={"names": ["request", "request.sql"], "ids": {}}, user_agent="test/1")


@pytest.fixture(scope="module")
def activity_app(tmp_path_factory: Any) -> Any:
    """One app for the module's read-only tests."""
    app = make_app(tmp_path_factory.mktemp("activity"))
    grant(app, "Gamma", "can_read", "MCPAccess")
    with app.app_context():
        store = get_manager(app).recorder.activity.store
        migrations.upgrade(store.engine)
        sm = app.appbuilder.sm
        ids = {name: sm.find_user(username=name).id for name in ("admin", "alice")}
    store.write([
        record("alice", ids["alice"], "list_charts", ago=30, client_id="cid-1", client_name="Claude Code"),
        record("alice", ids["alice"], "execute_sql", Outcome.DENIED_ROLES, ago=20, client_id="cid-1",
               client_name="Claude Code"),
        record("admin", ids["admin"], "execute_sql", ago=10, jti="admin-jti"),
        record("admin", ids["admin"], "=HYPERLINK(\"x\")", Outcome.TOOL_ERROR, ago=5, jti="admin-jti"),
        record("alice", ids["alice"], "get_instance_info", ago=3 * 86400),  # outside the last day
    ])
    app.ids = ids  # type: ignore[attr-defined]
    return app


def rows(page: str) -> list[dict[str, str]]:
    """The table's rows: {column class: text}."""
    found = []
    for tr in re.findall(r'<tr class="mcp-call"[^>]*>(.*?)</tr>', page, re.S):
        cells = dict(re.findall(r'<td class="a-(\w+)[^"]*">(.*?)</td>', tr, re.S))
        found.append({k: html.unescape(re.sub(r"<[^>]+>", " ", v)).split() and
                      " ".join(html.unescape(re.sub(r"<[^>]+>", " ", v)).split()) for k, v in cells.items()})
    return found


def chart(page: str) -> dict[str, Any]:
    return json.loads(html.unescape(re.search(r'<script type="application/json" id="activity-data">(.*?)</script>',
                                              page, re.S).group(1)))


def test_admin_sees_every_users_calls_newest_first_with_client_tool_and_outcome(activity_app):
    client = activity_app.test_client()
    login(client, "admin")
    page = client.get("/mcp-access/").get_data(as_text=True)
    table = rows(page)
    assert [(r["user"], r["tool"], r["outcome"]) for r in table] == [
        ("admin", '=HYPERLINK("x")', "Tool error"), ("admin", "execute_sql", "OK"),
        ("alice", "execute_sql", "Denied by roles"), ("alice", "list_charts", "OK"),
    ]
    assert table[0]["client"] == "pasted token jti admin-jti" and table[2]["client"] == "Claude Code"
    assert table[0]["arguments"] == "request request.sql"
    data = chart(page)
    assert data["total"] == 4 and sum(sum(s["data"]) for s in data["series"]) == 4
    assert {u["label"]: u["calls"] for u in data["top"]["users"]} == {"admin": 2, "alice": 2}
    assert 'id="f-user"' in page and "every user" in page


def test_alice_sees_only_her_calls_whatever_she_asks_for(activity_app):
    client = activity_app.test_client()
    login(client, "alice")
    admin_id = activity_app.ids["admin"]
    for query in ("", f"?user={admin_id}", f"?user={admin_id}&range=week", "?tool=execute_sql"):
        page = client.get(f"/mcp-access/{query}").get_data(as_text=True)
        table = rows(page)
        assert table and "admin" not in page.split('id="activity"', 1)[1], query
        assert "user" not in table[0]  # no user column
        assert chart(page)["top"]["users"] == []
        csv_text = client.get(f"/mcp-access/activity.csv{query}").get_data(as_text=True)
        assert "admin" not in csv_text and "alice" in csv_text, query
    assert len(rows(client.get("/mcp-access/?range=week").get_data(as_text=True))) == 3


def test_filters_and_the_csv_of_the_filtered_table(activity_app):
    client = activity_app.test_client()
    login(client, "admin")
    query = "?client=cid-1&outcome=denied_roles"
    table = rows(client.get(f"/mcp-access/{query}").get_data(as_text=True))
    assert [(r["user"], r["tool"]) for r in table] == [("alice", "execute_sql")]
    response = client.get(f"/mcp-access/activity.csv{query}")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    lines = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(line["user"], line["client"], line["tool"], line["outcome"]) for line in lines] == [
        ("alice", "Claude Code", "execute_sql", "denied_roles")]
    everything = list(csv.DictReader(io.StringIO(client.get("/mcp-access/activity.csv").get_data(as_text=True))))
    page = rows(client.get("/mcp-access/").get_data(as_text=True))
    # A tool name that would be a spreadsheet formula is defused in the CSV (a leading quote).
    assert everything[0]["tool"] == "'=HYPERLINK(\"x\")"
    assert [(line["time (UTC)"], line["user"], line["tool"].removeprefix("'=").replace(line["tool"], line["tool"]))
            for line in everything][1:] == [(r["time"], r["user"], r["tool"]) for r in page][1:]
    assert len(everything) == len(page) == 4
    pasted = rows(client.get("/mcp-access/?client=pasted").get_data(as_text=True))
    assert {r["user"] for r in pasted} == {"admin"}


def test_custom_range_and_pages(activity_app, monkeypatch):
    client = activity_app.test_client()
    login(client, "admin")
    old = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(NOW - 4 * 86400))
    new = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(NOW - 2 * 86400))
    table = rows(client.get(f"/mcp-access/?range=custom&from={old}&to={new}").get_data(as_text=True))
    assert [r["tool"] for r in table] == ["get_instance_info"]
    monkeypatch.setattr("superset_mcp_jwt.activity_view.PAGE_SIZE", 3)
    first = client.get("/mcp-access/").get_data(as_text=True)
    assert len(rows(first)) == 3 and "Page 1 of 2" in first and 'id="page-older"' in first
    second = client.get("/mcp-access/?page=2").get_data(as_text=True)
    assert [r["tool"] for r in rows(second)] == ["list_charts"] and 'id="page-newer"' in second


def test_the_charts_library_is_served_with_its_licence(activity_app):
    client = activity_app.test_client()
    login(client, "admin")
    page = client.get("/mcp-access/").get_data(as_text=True)
    src = re.search(r'<script src="([^"]+echarts[^"]+)"', page).group(1)
    script = client.get(src)
    assert script.status_code == 200 and b"echarts" in script.data[:2000]
    assert client.get(src.rsplit("/", 1)[0] + "/LICENSE").status_code == 200


def test_anonymous_gets_no_activity(activity_app):
    client = activity_app.test_client()
    for url in ("/mcp-access/", "/mcp-access/activity.csv"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.headers["Location"]


def test_activity_off_shows_no_section(tmp_path):
    app = make_app(tmp_path, MCP_JWT_ACTIVITY_LOG=False)
    client = app.test_client()
    login(client, "admin")
    page = client.get("/mcp-access/").get_data(as_text=True)
    assert 'id="activity"' not in page and "echarts" not in page
    assert client.get("/mcp-access/activity.csv").status_code == 302


def test_a_missing_table_says_so_without_detail_and_logs_the_fix(tmp_path, caplog):
    app = make_app(tmp_path)  # `superset mcp-jwt db upgrade` never ran
    client = app.test_client()
    login(client, "admin")
    page = client.get("/mcp-access/").get_data(as_text=True)
    assert 'id="activity-unavailable"' in page and "db upgrade" not in page
    assert "superset mcp-jwt db upgrade" in caplog.text
