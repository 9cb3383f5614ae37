"""Every MCP call attributed, on real Superset 6.1.0: the activity view, Superset's own rows, statsd, prune.

One module fixture starts the web app (gunicorn) and `superset mcp run` once,
with OAuth on and Superset's own ``StatsdStatsLogger`` sending to a real UDP
listener. Real MCP SDK clients call tools: a pasted token each for admin and
alice, and an OAuth client that signs alice in through Superset's login and
consent pages in Debian's Chromium. Then the checks: Superset's
``mcp_tool_call`` / ``mcp_message`` / ``mcp.<tool>.<phase>`` rows carry the
users, the activity records name user, client, tool and outcome, the admin's
Activity view shows them all and alice's only hers (page, CSV and every query
string she can send), the CSV matches the filtered table, the ECharts chart has
the data, the counters arrived, prune removes exactly what is older, and
records queued when SIGTERM arrives are written.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import pytest

from demo.browser import NAVBAR, logged_in_page
from demo.oauth_client import sign_in_and_call
from demo.sandbox import PASSWORD, GunicornWebServer, MCPServer, call_tool, free_port, mint

SQL = {"request": {"database_id": 1, "sql": "SELECT 'top secret text' AS one"}}
VIEWPORT = {"width": 1280, "height": 900}
#: The OAuth client's name (demo.oauth_client's default).
CLIENT_NAME = "superset-mcp-jwt demo client"


def in_thread(coroutine: Any) -> Any:
    """Run an MCP client here while Playwright's sync API may own this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class Statsd:
    """A UDP listener on loopback, as a statsd daemon: every packet it got."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.lines: list[str] = []

    def drain(self, wait: float = 0.0) -> list[str]:
        deadline = time.monotonic() + wait
        while True:
            try:
                self.lines.extend(self.socket.recv(65536).decode().splitlines())
            except socket.timeout:
                if time.monotonic() >= deadline:
                    return self.lines


@pytest.fixture(scope="module")
def statsd() -> Iterator[Statsd]:
    listener = Statsd()
    yield listener
    listener.socket.close()


@pytest.fixture(scope="module")
def servers(home, statsd) -> Iterator[dict[str, Any]]:
    web_port, mcp_port = free_port(), free_port()
    mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"
    extra = ("from superset.stats_logger import StatsdStatsLogger\n"
             f"STATS_LOGGER = StatsdStatsLogger(host='127.0.0.1', port={statsd.port}, prefix='superset')\n")
    config = home.config(
        "activity_config", extra=extra, MCP_JWT_SERVER_URL=mcp_url, MCP_OAUTH_ENABLED=True,
        MCP_OAUTH_ISSUER=f"http://127.0.0.1:{web_port}", MCP_OAUTH_RESOURCE=mcp_url,
    )
    home.superset("mcp-jwt", "db", "upgrade", config=config)
    with GunicornWebServer(home, config, "web-activity", port=web_port, workers=1) as web, \
            MCPServer(home, config, "mcp-activity", port=mcp_port) as mcp:
        yield {"web": web, "mcp": mcp, "config": config}


def user_ids(home) -> dict[str, int]:
    return {name: uid for uid, name in home.sql("SELECT id, username FROM ab_user")}


@pytest.fixture(scope="module")
def calls(home, servers) -> dict[str, Any]:
    """The calls every test looks at: pasted tokens for admin and alice, and alice's OAuth client."""
    mcp = servers["mcp"]
    since = time.time() - 1
    run = uuid.uuid4().hex[:8]
    tokens = {user: mint(home.secret, user, jti=f"act-{run}-{user}") for user in ("admin", "alice")}
    results = {
        "admin info": in_thread(call_tool(mcp.url, tokens["admin"], "get_instance_info", {})),
        "admin sql": in_thread(call_tool(mcp.url, tokens["admin"], "execute_sql", SQL)),
        "alice info": in_thread(call_tool(mcp.url, tokens["alice"], "get_instance_info", {})),
        "alice sql": in_thread(call_tool(mcp.url, tokens["alice"], "execute_sql", SQL)),
    }
    is_error, text, storage, _ = in_thread(sign_in_and_call(mcp.url, "alice", PASSWORD, "get_instance_info", {}))
    assert not is_error and json.loads(text)["current_user"]["username"] == "alice"
    assert "Permission denied" in results["alice sql"][1]
    assert json.loads(results["admin sql"][1])["rows"] == [{"one": "top secret text"}]
    client_id = storage.client_info.client_id
    # Written off the request path: wait for the writer's batch (about a second).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if len(activity(home, since)) >= 5:
            break
        time.sleep(0.3)
    return {"since": since, "run": run, "client_id": client_id, "ids": user_ids(home)}


def activity(home, since: float) -> list[dict[str, Any]]:
    columns = ("username", "user_id", "client_id", "client_name", "jti", "tool", "outcome", "scopes",
               "arguments", "duration_ms")
    rows = home.sql(f"SELECT {', '.join(columns)} FROM superset_mcp_jwt_activity "
                    "WHERE started_at >= :since ORDER BY started_at", since=int(since * 1000))
    return [dict(zip(columns, row)) for row in rows]


def test_each_call_has_one_record_with_user_client_tool_and_outcome(home, calls):
    ids, run = calls["ids"], calls["run"]
    found = {(r["username"], r["client_name"] or r["jti"], r["tool"], r["outcome"]) for r in activity(home, calls["since"])}
    assert found == {
        ("admin", f"act-{run}-admin", "get_instance_info", "ok"),
        ("admin", f"act-{run}-admin", "execute_sql", "ok"),
        ("alice", f"act-{run}-alice", "get_instance_info", "ok"),
        ("alice", f"act-{run}-alice", "execute_sql", "denied_roles"),
        ("alice", CLIENT_NAME, "get_instance_info", "ok"),
    }
    rows = activity(home, calls["since"])
    assert {r["username"]: r["user_id"] for r in rows} == {"admin": ids["admin"], "alice": ids["alice"]}
    oauth = [r for r in rows if r["client_name"]]
    assert [r["client_id"] for r in oauth] == [calls["client_id"]] and oauth[0]["scopes"] == "mcp:all"
    # No SQL text, no token: the SQL call keeps its argument names and the database id.
    sql = next(r for r in rows if r["tool"] == "execute_sql" and r["username"] == "admin")
    assert json.loads(sql["arguments"]) == {"names": ["request", "request.database_id", "request.sql"],
                                            "ids": {"request.database_id": 1}}
    stored = json.dumps(rows)
    assert "top secret text" not in stored and home.secret not in stored


def test_supersets_own_mcp_rows_carry_the_users(home, calls):
    ids = calls["ids"]
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(calls["since"] - 1))
    rows = home.sql("SELECT action, user_id FROM logs WHERE dttm >= :since AND "
                    "(action IN ('mcp_tool_call', 'mcp_message') OR action LIKE 'mcp.%')", since=since)
    by_action: dict[str, set] = {}
    for action, user_id in rows:
        by_action.setdefault(action, set()).add(user_id)
    assert by_action["mcp_tool_call"] == {ids["admin"], ids["alice"]}
    assert by_action["mcp_message"] == {ids["admin"], ids["alice"]}
    phases = {a for a in by_action if a.startswith("mcp.execute_sql.")}
    assert phases and all(by_action[a] == {ids["admin"]} for a in phases)  # alice's SQL never ran
    assert None not in set().union(*by_action.values())


def test_statsd_got_the_counters(statsd, calls):
    lines = statsd.drain(wait=1.5)
    counts: dict[str, int] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        if name.startswith("superset.mcp_jwt.") and rest.endswith("|c"):
            counts[name] = counts.get(name, 0) + int(rest.split("|")[0])
    assert counts.get("superset.mcp_jwt.tool_call.ok", 0) >= 4
    assert counts.get("superset.mcp_jwt.tool_call.denied_roles", 0) >= 1
    assert counts.get("superset.mcp_jwt.token.accepted", 0) >= 5
    assert counts.get("superset.mcp_jwt.oauth.registration.dcr", 0) >= 1
    assert counts.get("superset.mcp_jwt.oauth.grant.authorization_code", 0) >= 1


def chart_total(page: Any) -> int:
    """What the ECharts instance holds: the sum of the time chart's series."""
    return page.evaluate("""() => {
      const chart = echarts.getInstanceByDom(document.getElementById('chart-timeline'));
      return chart.getOption().series.reduce((n, s) => n + s.data.reduce((a, b) => a + b, 0), 0);
    }""")


def table(page: Any) -> list[dict[str, str]]:
    return page.evaluate("""() => [...document.querySelectorAll('#activity-table tr.mcp-call')].map(tr => {
      const cell = c => { const td = tr.querySelector('td.a-' + c); return td ? td.innerText.trim() : null; };
      return {time: cell('time'), user: cell('user'), client: cell('client'), tool: cell('tool'),
              outcome: cell('outcome')};
    })""")


def test_admin_sees_every_call_with_user_client_tool_and_outcome(browser, servers, calls):
    web = servers["web"]
    page = logged_in_page(browser, web.url, "admin", viewport=VIEWPORT)
    page.goto(f"{web.url}/mcp-access/?range=hour#activity")
    page.locator(NAVBAR).wait_for()
    page.locator("#activity-table").wait_for()
    rows = [r for r in table(page) if r["time"] >= time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(calls["since"]))]
    seen = {(r["user"], r["client"].splitlines()[0], r["tool"], r["outcome"]) for r in rows}
    assert {("admin", "pasted token", "get_instance_info", "OK"), ("admin", "pasted token", "execute_sql", "OK"),
            ("alice", "pasted token", "execute_sql", "Denied by roles"),
            ("alice", CLIENT_NAME, "get_instance_info", "OK")} <= seen
    assert chart_total(page) >= 5
    # The connected app's row links to its activity.
    page.goto(f"{web.url}/mcp-access/")
    link = page.locator("tr.mcp-connection", has_text=calls["client_id"]).locator("a.mcp-connection-activity")
    link.click()
    page.wait_for_url(lambda url: "client=" in url)
    page.locator("#activity-table").wait_for()
    assert {(r["user"], r["client"]) for r in table(page)} == {("alice", CLIENT_NAME)}
    # The CSV of the filtered table holds exactly its rows.
    page.locator("#f-outcome").select_option("ok")
    page.locator("#f-apply").click()
    page.wait_for_url(lambda url: "outcome=ok" in url)
    shown = table(page)
    exported = page.request.get(web.url + page.locator("#activity-csv").get_attribute("href"))
    lines = list(csv.DictReader(io.StringIO(exported.text())))
    assert [(line["time (UTC)"], line["user"], line["tool"]) for line in lines] == [
        (r["time"], r["user"], r["tool"]) for r in shown]
    assert lines and all(line["outcome"] == "ok" and line["client"] == CLIENT_NAME for line in lines)


def test_alice_sees_only_hers_through_the_page_and_every_endpoint_behind_it(browser, servers, calls):
    web, admin_id = servers["web"], calls["ids"]["admin"]
    page = logged_in_page(browser, web.url, "alice", viewport=VIEWPORT)
    for query in ("?range=hour", f"?range=hour&user={admin_id}", "?range=week&tool=execute_sql",
                  f"?user={admin_id}&client=pasted"):
        page.goto(f"{web.url}/mcp-access/{query}#activity")
        page.locator("#activity").wait_for()
        rows = table(page)
        assert rows and all(r["user"] is None for r in rows), query  # no user column: hers only
        assert "admin" not in page.locator("#activity").inner_text(), query
        assert page.locator("#f-user").count() == 0
        exported = page.request.get(f"{web.url}/mcp-access/activity.csv{query}")
        assert exported.status == 200
        users = {line["user"] for line in csv.DictReader(io.StringIO(exported.text()))}
        assert users == {"alice"}, query
    page.goto(f"{web.url}/mcp-access/?range=hour#activity")
    total = int(page.locator("#activity-count").inner_text().split()[0].replace(",", ""))
    assert chart_total(page) == total >= len(table(page)) >= 3  # the chart counts every call of the range


def test_prune_removes_exactly_what_is_older(home, servers):
    tool = f"prune_probe_{uuid.uuid4().hex[:8]}"
    now_ms = int(time.time() * 1000)
    ages_days = [400, 91, 90.01, 89.99, 1]
    for age in ages_days:
        home.sql("INSERT INTO superset_mcp_jwt_activity (started_at, duration_ms, user_id, username, scopes, tool, "
                 "outcome, arguments) VALUES (:t, 1, NULL, 'alice', '', :tool, 'ok', '{}')",
                 t=now_ms - int(age * 86400 * 1000), tool=tool)
    done = home.superset("mcp-jwt", "activity", "prune", "--older-than", "90d", config=servers["config"])
    assert "deleted" in done.stdout
    left = home.sql("SELECT started_at FROM superset_mcp_jwt_activity WHERE tool = :tool", tool=tool)
    assert sorted(round((now_ms - t) / 86400000, 2) for (t,) in left) == [1, 89.99]
    assert not home.sql("SELECT 1 FROM superset_mcp_jwt_activity WHERE started_at < :cut",
                        cut=now_ms - 90 * 86400 * 1000 - 60_000)


def test_records_queued_when_sigterm_arrives_are_written(home, servers):
    """Last in the module: it stops the MCP server."""
    mcp = servers["mcp"]
    run = uuid.uuid4().hex[:8]
    since = time.time() - 1
    token = mint(home.secret, "alice", jti=f"drain-{run}")

    async def burst() -> None:
        await asyncio.gather(*(call_tool(mcp.url, token, "get_instance_info", {}) for _ in range(6)))

    in_thread(burst())
    mcp.process.send_signal(signal.SIGTERM)  # within the writer's one-second batching window
    assert mcp.process.wait(30) is not None
    rows = [r for r in activity(home, since) if r["jti"] == f"drain-{run}"]
    assert len(rows) == 6


def test_revision_0005_and_the_views_queries_on_postgresql(postgres):
    """Upgrade with rows elsewhere, the queries (buckets by %, keyset of the indexes), prune, downgrade."""
    import sqlalchemy as sa

    from superset_mcp_jwt.activity.records import Outcome, ToolCall
    from superset_mcp_jwt.activity.store import ActivityFilter, ActivityStore
    from superset_mcp_jwt.oauth import migrations

    engine = sa.create_engine(postgres.create_database(f"activity_{uuid.uuid4().hex[:8]}"))
    try:
        migrations.upgrade(engine, "0004")
        migrations.upgrade(engine)
        store = ActivityStore(engine)
        t0 = 1_750_000_000.0
        store.write([ToolCall(started_at=t0 + n * 30, duration_ms=n, user_id=n % 2, username=f"u{n % 2}",
                              client_id="cid" if n % 3 == 0 else None, client_name="C", jti=None, scopes=(),
                              tool="t", outcome=Outcome.OK if n % 2 else Outcome.TOOL_ERROR,
                              arguments={"names": [], "ids": {}}) for n in range(10)])
        where = ActivityFilter(since=t0, until=t0 + 300)
        assert store.count(where) == 10
        timeline = store.timeline(where, 60)
        assert timeline[Outcome.OK] == {int(t0) + 60 * k: 1 for k in range(5)}
        assert sum(timeline[Outcome.TOOL_ERROR].values()) == 5
        assert [c.calls for c in store.top_clients(where)] == [6, 4]
        assert [c.duration_ms for c in store.page(ActivityFilter(since=t0, until=t0 + 300, user_id=1), size=2)] == [9, 7]
        indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("superset_mcp_jwt_activity")}
        assert indexes == {f"ix_superset_mcp_jwt_activity_{name}" for name in
                           ("started_at_outcome", "user_id_started_at", "client_key_started_at", "tool_started_at")}
        assert store.prune(t0 + 150) == 5 and store.count(where) == 5
        migrations.downgrade(engine, "0004")
        assert "superset_mcp_jwt_activity" not in sa.inspect(engine).get_table_names()
        migrations.upgrade(engine)
        assert store.count(where) == 0
    finally:
        engine.dispose()
