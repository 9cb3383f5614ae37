"""The activity core on real SQLite files: records, the store's queries and indexes, prune, the writer.

PostgreSQL and the real Superset: tests/superset/test_activity.py.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from superset_mcp_jwt.activity.calls import close_call, note_denial, open_call
from superset_mcp_jwt.activity.log import ActivityLog
from superset_mcp_jwt.activity.records import Outcome, ToolCall, summarize_arguments, tool_name
from superset_mcp_jwt.activity.store import PASTED, TABLE, ActivityFilter, ActivityStore, activity_table
from superset_mcp_jwt.background import BackgroundWriter
from superset_mcp_jwt.errors import Reason
from superset_mcp_jwt.metrics import COUNTERS, Metrics
from superset_mcp_jwt.oauth import migrations
from superset_mcp_jwt.recorder import NULL_RECORDER, Recorder

T0 = 1_750_000_000.0  # a fixed "now" (epoch seconds)
OAUTH_ISSUER = "https://superset.example"


@pytest.fixture
def engine(tmp_path: Any) -> sa.engine.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'activity.db'}")
    migrations.upgrade(engine)
    return engine


def call(started_at: float = T0, user: str = "alice", user_id: int = 2, client_id: Any = None,
         tool: str = "list_charts", outcome: Outcome = Outcome.OK, **kw: Any) -> ToolCall:
    return ToolCall(started_at=started_at, duration_ms=kw.pop("duration_ms", 12), user_id=user_id, username=user,
                    client_id=client_id, client_name=kw.pop("client_name", "Claude" if client_id else None),
                    jti=kw.pop("jti", "j-1"), scopes=kw.pop("scopes", ("mcp:read",)), tool=tool, outcome=outcome,
                    arguments=kw.pop("arguments", {"names": [], "ids": {}}), **kw)


def everything(**kw: Any) -> ActivityFilter:
    return ActivityFilter(since=T0 - 10 * 86400, until=T0 + 86400, **kw)


# --------------------------------------------------------------------------- what a record keeps


def test_arguments_keep_names_and_integer_ids_never_values():
    summary = summarize_arguments({
        "request": {"database_id": 1, "sql": "SELECT secret FROM payroll", "schema": "hr"},
        "dashboard_id": 7, "chart_id": "8", "query": "revenue by region for ACME",
        "nested": {"deeper": {"dataset_id": 3}}, "bad key!": 1, 42: "x",
    })
    assert summary == {
        "names": ["request", "request.database_id", "request.sql", "request.schema", "dashboard_id",
                  "chart_id", "query", "nested", "nested.deeper"],
        "ids": {"request.database_id": 1, "dashboard_id": 7},
    }
    text = repr(summary)
    assert "SELECT" not in text and "payroll" not in text and "ACME" not in text and "hr'" not in text


def test_argument_names_are_bounded_and_odd_input_gives_nothing():
    assert len(summarize_arguments({f"k{n}": n for n in range(100)})["names"]) == 24
    assert summarize_arguments(None) == summarize_arguments(["a"]) == {"names": [], "ids": {}}
    assert summarize_arguments({"x_id": True, "y_id": 2**60})["ids"] == {}  # not an id


def test_tool_names_are_registered_shapes_or_a_question_mark():
    assert tool_name("execute_sql") == "execute_sql" and tool_name("ext.tool-1") == "ext.tool-1"
    assert tool_name("x\n|c") == tool_name("") == tool_name(None) == tool_name("a" * 200) == "?"


def test_a_denial_is_noted_in_the_call_in_progress_only():
    note_denial(Outcome.DENIED_ROLES)  # no call open: nothing to note, no error
    state, reset = open_call()
    inner, inner_reset = open_call()  # the call_tool proxy running a tool
    note_denial(Outcome.DENIED_SCOPE)
    note_denial(Outcome.DENIED_ROLES)  # the first denial stands
    close_call(inner_reset)
    close_call(reset)
    assert inner.denied is Outcome.DENIED_SCOPE and state.denied is None and state.delegated


# --------------------------------------------------------------------------- the store


def test_revision_0005_builds_what_the_store_expects_and_downgrades_with_rows(engine):
    inspector = sa.inspect(engine)
    assert [c["name"] for c in inspector.get_columns(TABLE)] == [c.name for c in activity_table.columns]
    built = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes(TABLE)}
    assert built == {ix.name: [c.name for c in ix.columns] for ix in activity_table.indexes}
    store = ActivityStore(engine)
    store.write([call()])
    migrations.downgrade(engine, "0004")
    assert TABLE not in sa.inspect(engine).get_table_names()
    assert {"superset_mcp_jwt_oauth_clients"} <= set(sa.inspect(engine).get_table_names())
    migrations.upgrade(engine)
    assert store.table_exists() and store.count(everything()) == 0


def test_pages_are_newest_first_and_filters_combine(engine):
    store = ActivityStore(engine)
    store.write([
        call(T0 - 30, tool="list_charts"),
        call(T0 - 20, user="admin", user_id=1, client_id="cid-1", tool="execute_sql", outcome=Outcome.TOOL_ERROR),
        call(T0 - 10, client_id="cid-1", tool="execute_sql", outcome=Outcome.DENIED_ROLES),
        call(T0 - 5, jti="j-2", outcome=Outcome.DENIED_SCOPE),
    ])
    assert [c.started_at for c in store.page(everything())] == [T0 - 5, T0 - 10, T0 - 20, T0 - 30]
    assert [c.started_at for c in store.page(everything(user_id=2))] == [T0 - 5, T0 - 10, T0 - 30]
    assert [c.started_at for c in store.page(everything(client="cid-1"))] == [T0 - 10, T0 - 20]
    assert [c.started_at for c in store.page(everything(client=PASTED))] == [T0 - 5, T0 - 30]
    assert [c.started_at for c in store.page(everything(tool="execute_sql", user_id=2))] == [T0 - 10]
    assert [c.outcome for c in store.page(everything(outcome=Outcome.TOOL_ERROR))] == [Outcome.TOOL_ERROR]
    assert store.count(ActivityFilter(since=T0 - 20, until=T0 - 5)) == 2  # since included, until not
    assert [c.started_at for c in store.page(everything(), page=2, size=3)] == [T0 - 30]
    row = store.page(everything(client="cid-1", user_id=1))[0]
    assert (row.client_label, row.username, row.scopes) == ("Claude", "admin", ("mcp:read",))
    assert store.page(everything(client=PASTED))[0].client_label == "pasted token"


def test_charts_group_by_bucket_outcome_user_client_and_tool(engine):
    store = ActivityStore(engine)
    store.write([call(T0 + s) for s in (0, 10, 59)] + [call(T0 + 60, outcome=Outcome.TOOL_ERROR)]
                + [call(T0 + 61, user="admin", user_id=1, client_id="cid-9", client_name="Cursor",
                        tool="get_instance_info")])
    where = ActivityFilter(since=T0, until=T0 + 120)
    timeline = store.timeline(where, 60)
    assert timeline[Outcome.OK] == {int(T0): 3, int(T0) + 60: 1}
    assert timeline[Outcome.TOOL_ERROR] == {int(T0) + 60: 1} and timeline[Outcome.DENIED_ROLES] == {}
    assert [(c.label, c.calls) for c in store.top_users(where)] == [("alice", 4), ("admin", 1)]
    assert [(c.value, c.label, c.calls) for c in store.top_clients(where)] == [
        (PASTED, "pasted token", 4), ("cid-9", "Cursor", 1)]
    assert [(c.value, c.calls) for c in store.top_tools(where)] == [("list_charts", 4), ("get_instance_info", 1)]


def test_prune_removes_exactly_what_is_older(engine, monkeypatch):
    store = ActivityStore(engine)
    monkeypatch.setattr("superset_mcp_jwt.activity.store.PRUNE_BATCH", 7)  # several batches
    store.write([call(T0 - n) for n in range(1, 31)])
    cutoff = T0 - 10.5
    assert store.prune(cutoff) == 20
    assert sorted(c.started_at for c in store.rows(everything(), 100)) == [T0 - n for n in range(10, 0, -1)]
    assert store.prune(cutoff) == 0


@pytest.mark.parametrize("where, index", [
    (ActivityFilter(since=T0, until=T0 + 60), "started_at_outcome"),
    (ActivityFilter(since=T0, until=T0 + 60, user_id=2), "user_id_started_at"),
    (ActivityFilter(since=T0, until=T0 + 60, client="cid"), "client_key_started_at"),
    (ActivityFilter(since=T0, until=T0 + 60, tool="execute_sql"), "tool_started_at"),
])
def test_every_query_of_the_view_uses_an_index(engine, where, index):
    query = sa.select(activity_table).where(*where.where()).order_by(activity_table.c.started_at.desc()).limit(50)
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as c:
        plan = " ".join(str(row[-1]) for row in c.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert f"ix_{TABLE}_{index}" in plan, plan


# --------------------------------------------------------------------------- writing off the request path


def test_the_writer_batches_flushes_and_drains_on_close():
    batches: list[list[int]] = []
    writer: BackgroundWriter[int] = BackgroundWriter(batches.append, "test", linger=0.05)
    for n in range(5):
        writer.submit(n)
    writer.flush()
    assert sum(batches, []) == [0, 1, 2, 3, 4]
    slow: BackgroundWriter[int] = BackgroundWriter(batches.append, "test", linger=30)
    slow.submit(5)
    slow.submit(6)
    slow.close(timeout=5)  # the thread is waiting for more: close makes it write what it has
    assert sum(batches, [])[-2:] == [5, 6]
    slow.submit(7)  # closed: written at once
    assert batches[-1] == [7]


def test_a_full_queue_writes_inline_or_drops_and_counts(caplog):
    gate = threading.Event()
    written: list[list[int]] = []

    def write(items: list[int]) -> None:
        gate.wait(5)
        written.append(items)

    inline: BackgroundWriter[int] = BackgroundWriter(write, "inline", max_queued=2, linger=0)
    dropping: BackgroundWriter[int] = BackgroundWriter(write, "dropping", max_queued=2, linger=0, when_full="drop")
    inline.submit(0)
    dropping.submit(0)
    time.sleep(0.2)  # both threads now hold item 0, blocked in write
    for n in (1, 2):
        inline.submit(n)
        dropping.submit(n)
    with caplog.at_level(logging.ERROR, "superset_mcp_jwt"):
        dropping.submit(3)
    assert dropping.dropped == 1 and "dropping: queue full (2), 1 record(s) dropped" in caplog.text
    gate.set()
    inline.submit(3)  # full until the thread catches up: either way written, never lost
    inline.close()
    dropping.close()
    flat = sorted(sum(written, []))
    assert flat.count(3) == 1 and flat.count(0) == 2 and flat.count(1) == 2 and flat.count(2) == 2


def test_activity_log_tells_oauth_clients_from_pasted_tokens_and_keeps_no_token(engine):
    lookups: list[str] = []

    def names(client_id: str) -> str:
        lookups.append(client_id)
        return "Claude\x00 Code"

    log = ActivityLog(ActivityStore(engine), OAUTH_ISSUER, names, linger=0.05)
    oauth = {"iss": OAUTH_ISSUER, "sub": "alice", "client_id": "cid-7", "jti": "j-o", "scope": "mcp:read mcp:sql"}
    pasted = {"iss": "superset-mcp", "sub": "admin", "client_id": "forged", "jti": "j-p"}
    for claims, user, uid in ((oauth, "alice", 2), (oauth, "alice", 2), (pasted, "admin", 1)):
        log.record((T0, 5, claims, user, uid, "execute_sql", {"request": {"sql": "SELECT 1", "database_id": 1}},
                    Outcome.OK, "claude-code/1.0\n"))
    log.flush()
    rows = {c.username: c for c in ActivityStore(engine).page(everything())}
    assert rows["alice"].client_id == "cid-7" and rows["alice"].client_label == "Claude? Code"
    assert rows["alice"].scopes == ("mcp:read", "mcp:sql") and rows["alice"].user_agent == "claude-code/1.0?"
    assert rows["admin"].client_id is None and rows["admin"].jti == "j-p"  # a pasted token's client_id claim is no client
    assert lookups == ["cid-7"]  # cached
    with engine.connect() as c:
        stored = " ".join(str(v) for row in c.execute(sa.select(activity_table)) for v in row)
    assert "SELECT 1" not in stored and "request.sql" in stored


def test_a_missing_table_is_logged_with_the_fix(tmp_path, caplog):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    log = ActivityLog(ActivityStore(engine), linger=0)
    with caplog.at_level(logging.ERROR, "superset_mcp_jwt"):
        log.record((T0, 1, {"iss": "x"}, "alice", 2, "t", {}, Outcome.OK, None))
        log.flush()
    assert "1 MCP activity record(s) lost: the activity table is missing; run `superset mcp-jwt db upgrade`" in caplog.text


# --------------------------------------------------------------------------- metrics


class Sink:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def incr(self, key: str) -> None:
        self.keys.append(key)


def test_every_metric_the_recorder_sends_is_a_documented_name():
    import re

    sink = Sink()
    recorder = Recorder(Metrics(sink))
    recorder.token_accepted()
    for reason in Reason:
        recorder.token_rejected(reason)
    for outcome in Outcome:
        recorder.tool_call({}, "alice", 2, "t", {}, outcome, T0, 1)
    recorder.registration("dcr")
    recorder.registration("cimd")
    recorder.registration("nonsense\n")
    recorder.grant("authorization_code")
    recorder.grant("refresh_token")
    recorder.grace_answer()
    recorder.replay_detected("code")
    recorder.replay_detected("refresh_token")
    recorder.rate_limited("register")
    recorder.rate_limited("to|ken:\n")
    recorder.step_up({}, "alice", 2, "execute_sql")
    recorder.flush()
    patterns = [re.compile(re.sub(r"<[a-z_]+>", "[a-z0-9_]+", n.replace(".", r"\.")) + "$") for n in COUNTERS]
    assert sink.keys and all(any(p.match(key) for p in patterns) for key in sink.keys), sink.keys
    assert "mcp_jwt.token.rejected.bad_signature" in sink.keys and "mcp_jwt.tool_call.denied_scope" in sink.keys
    assert "mcp_jwt.oauth.registration.other" in sink.keys and "mcp_jwt.rate_limited.to_ken__" in sink.keys
    assert sink.keys.count("mcp_jwt.tool_call.denied_scope") == 2  # step-up counts as refused for scope too


def test_counters_reach_a_real_udp_listener_through_supersets_statsd_logger():
    from superset.stats_logger import StatsdStatsLogger

    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    try:
        sink = StatsdStatsLogger(host="127.0.0.1", port=listener.getsockname()[1], prefix="superset")
        recorder = Recorder(Metrics(sink))
        recorder.token_accepted()
        recorder.token_rejected(Reason.EXPIRED)
        recorder.flush()
        received = {listener.recv(512).decode() for _ in range(2)}
    finally:
        listener.close()
    assert received == {"superset.mcp_jwt.token.accepted:1|c", "superset.mcp_jwt.token.rejected.expired:1|c"}


def test_the_null_recorder_records_nothing():
    NULL_RECORDER.token_accepted()
    NULL_RECORDER.tool_call({}, "alice", 2, "t", {}, Outcome.OK, T0, 1)
    assert NULL_RECORDER.activity is None


# --------------------------------------------------------------------------- the MCP face's hooks


def test_a_step_up_challenge_is_counted_and_recorded_as_refused_for_scope(tmp_path):
    import secrets

    from flask import Flask

    from superset_mcp_jwt.authn import Authenticator
    from superset_mcp_jwt.mcp_server import MCPJWTAuthProvider, ScopeStepUpMiddleware
    from superset_mcp_jwt.settings import Settings
    from superset_mcp_jwt.tokens import TokenVerifier
    from tests.documented import documented_config
    from tests.unit.test_step_up_middleware import OAUTH_ISSUER as ISSUER, RESOURCE, StepUp, call, run, token, tools_call

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrations.upgrade(engine)
    settings = Settings.from_config(documented_config(secrets.token_urlsafe(32), MCP_OAUTH_ENABLED=True,
                                                      MCP_OAUTH_ISSUER=ISSUER, MCP_OAUTH_RESOURCE=RESOURCE))
    sink = Sink()
    recorder = Recorder(Metrics(sink), ActivityLog(ActivityStore(engine), ISSUER, lambda cid: "Claude", linger=0))
    provider = MCPJWTAuthProvider(Flask(__name__), Authenticator(settings, TokenVerifier(settings), recorder=recorder),
                                  step_up=StepUp("mcp:sql"))
    provider.mcp_path = "/mcp"
    middleware = ScopeStepUpMiddleware(lambda *a: None, provider)
    direct = run(middleware, token("mcp:read"), call(tools_call("execute_sql", {"request": {"sql": "SELECT 1"}})))
    proxied = run(middleware, token("mcp:read"),
                  call(tools_call("call_tool", {"name": "update_chart", "arguments": {"chart_id": 4}})))
    recorder.flush()
    assert direct[0] == proxied[0] == 403
    assert sink.keys.count("mcp_jwt.step_up") == sink.keys.count("mcp_jwt.tool_call.denied_scope") == 2
    rows = ActivityStore(engine).page(ActivityFilter(since=0, until=2**40))
    assert sorted((r.username, r.tool, r.outcome, r.client_label, r.arguments["ids"]) for r in rows) == [
        ("admin", "execute_sql", Outcome.DENIED_SCOPE, "Claude", {}),
        ("admin", "update_chart", Outcome.DENIED_SCOPE, "Claude", {"chart_id": 4}),  # through the proxy
    ]


class Calls:
    """FastMCP's middleware context for one ``tools/call`` and the answer ``call_next`` gives."""

    def __init__(self, name: str, arguments: Any, answer: Any = None, raises: Any = None,
                 denial: Any = None) -> None:
        import types

        self.message = types.SimpleNamespace(name=name, arguments=arguments)
        self.answer, self.raises, self.denial = answer, raises, denial

    async def call_next(self, context: Any) -> Any:
        if self.denial is not None:
            note_denial(self.denial)
        if self.raises is not None:
            raise self.raises
        return self.answer


def text(value: str) -> Any:
    import types

    return types.SimpleNamespace(content=[types.SimpleNamespace(text=value)])


@pytest.mark.parametrize("case, outcome", [
    (Calls("list_charts", {}, text('{"charts": [], "error_type": null, "error": null}')), Outcome.OK),
    (Calls("get_chart_info", {}, text('{"error": "not found", "error_type": "NotFound"}')), Outcome.TOOL_ERROR),
    (Calls("execute_sql", {}, text("Error: Permission denied"), denial=Outcome.DENIED_ROLES), Outcome.DENIED_ROLES),
    (Calls("update_chart", {}, text("Error: scopes"), denial=Outcome.DENIED_SCOPE), Outcome.DENIED_SCOPE),
    (Calls("list_charts", {}, raises=RuntimeError("boom")), Outcome.TOOL_ERROR),
    (Calls("get_data", {}, text("x" * 70_000 + '"error_type": "big"')), Outcome.OK),  # data, not searched
])
def test_the_recording_middleware_names_the_outcome(case, outcome):
    import asyncio

    from mcp.server.auth.middleware.auth_context import auth_context_var
    from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser

    from superset_mcp_jwt.mcp_server import ToolCallRecording, UserAccessToken

    recorded: list[tuple[Any, ...]] = []

    class Spy(Recorder):
        def tool_call(self, *args: Any) -> None:
            recorded.append(args)

    user = UserAccessToken(token="t", client_id="alice", subject="alice", scopes=[], expires_at=None,
                           claims={"sub": "alice"}, username="alice", user_id=2, user_agent="ua")
    reset = auth_context_var.set(AuthenticatedUser(user))
    try:
        with pytest.raises(RuntimeError) if case.raises else __import__("contextlib").nullcontext():
            asyncio.run(ToolCallRecording(Spy()).on_call_tool(case, case.call_next))
    finally:
        auth_context_var.reset(reset)
    [(claims, username, user_id, tool, _arguments, got, _started, _duration, agent)] = recorded
    assert (username, user_id, tool, got, agent) == ("alice", 2, case.message.name, outcome, "ua")


def test_the_call_tool_proxy_is_recorded_once_as_the_tool_it_ran():
    import asyncio

    from mcp.server.auth.middleware.auth_context import auth_context_var
    from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser

    from superset_mcp_jwt.mcp_server import ToolCallRecording, UserAccessToken

    recorded: list[tuple[Any, ...]] = []

    class Spy(Recorder):
        def tool_call(self, *args: Any) -> None:
            recorded.append(args)

    middleware = ToolCallRecording(Spy())
    inner = Calls("execute_sql", {"request": {"database_id": 1}}, text("{}"))
    outer = Calls("call_tool", {"name": "execute_sql", "arguments": inner.message.arguments})

    async def proxy(context: Any) -> Any:  # FastMCP's call_tool runs the middleware again for the tool
        return await middleware.on_call_tool(inner, inner.call_next)

    refused = Calls("call_tool", {"name": "no_such_tool", "arguments": {"x_id": 3}}, text("Error: unknown tool"))
    user = UserAccessToken(token="t", client_id="alice", subject="alice", scopes=[], expires_at=None,
                           claims={"sub": "alice"}, username="alice")
    reset = auth_context_var.set(AuthenticatedUser(user))
    try:
        asyncio.run(middleware.on_call_tool(outer, proxy))
        asyncio.run(middleware.on_call_tool(refused, refused.call_next))
    finally:
        auth_context_var.reset(reset)
    assert [(r[3], r[4], r[5]) for r in recorded] == [
        ("execute_sql", {"request": {"database_id": 1}}, Outcome.OK),
        ("no_such_tool", {"x_id": 3}, Outcome.TOOL_ERROR),  # the proxy ran nothing: named by what it was asked
    ]
