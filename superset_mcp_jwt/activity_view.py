"""The MCP access page's Activity section: filters, charts, the table, and its CSV export.

A face over :class:`~.activity.store.ActivityStore`. Who sees what is decided
here, once, for the page and the CSV alike: an administrator sees every user's
calls; anyone else gets a filter on their own user id whatever the request
asks for (:func:`activity_filter`).
"""

from __future__ import annotations

import csv
import datetime
import io
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional

from .activity.records import PASTED_TOKEN, Outcome, ToolCall
from .activity.store import MAX_OFFSET, PAGE_SIZE, PASTED, ActivityFilter, ActivityStore, Count, utc

#: The time ranges offered: name -> (label, seconds, chart bucket seconds).
RANGES: dict[str, tuple[str, int, int]] = {
    "hour": ("Last hour", 3600, 60),
    "day": ("Last day", 86400, 1800),
    "week": ("Last week", 7 * 86400, 3 * 3600),
}
DEFAULT_RANGE = "day"
#: A custom range's chart buckets: the smallest giving at most MAX_BUCKETS bars.
_BUCKETS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 60
MAX_CUSTOM_DAYS = 400
#: The CSV export holds at most this many rows (newest first); narrower filters reach the rest.
CSV_LIMIT = 100_000
OPTIONS = 50
_TIME_INPUT = "%Y-%m-%dT%H:%M"


@dataclass(frozen=True)
class ActivityQuery:
    """A request's activity filters, parsed (and, for non-administrators, pinned to themselves)."""

    filter: ActivityFilter
    range: str
    bucket_seconds: int
    page: int
    #: The values echoed into the form and the links: only what was accepted.
    args: Mapping[str, str]
    #: The custom range's inputs (UTC, ``YYYY-MM-DDTHH:MM``).
    since_text: str = ""
    until_text: str = ""


def activity_filter(args: Mapping[str, str], own_user_id: Optional[int], is_admin: bool,
                    now: Optional[float] = None) -> ActivityQuery:
    """The filter a request asks for; ``own_user_id`` replaces any user filter for non-administrators."""
    now = time.time() if now is None else now
    name = args.get("range", DEFAULT_RANGE)
    accepted: dict[str, str] = {}
    since_text = until_text = ""
    if name == "custom":
        since, until = _parse_time(args.get("from")), _parse_time(args.get("to"))
        if since is None or until is None or not since < until or until - since > MAX_CUSTOM_DAYS * 86400:
            name = DEFAULT_RANGE
        else:
            bucket = next((b for b in _BUCKETS if (until - since) / b <= MAX_BUCKETS), _BUCKETS[-1])
            since_text, until_text = _time_text(since), _time_text(until)
            accepted.update({"from": since_text, "to": until_text})
    if name != "custom":
        name = name if name in RANGES else DEFAULT_RANGE
        _label, seconds, bucket = RANGES[name]
        # Whole buckets, ending with the one now falls in.
        until = (now // bucket + 1) * bucket
        since = until - seconds
    accepted["range"] = name

    user_id: Optional[int] = own_user_id
    if is_admin:
        user_id = _int(args.get("user"))
        if user_id is not None:
            accepted["user"] = str(user_id)
    client = args.get("client") or None
    if client is not None and (len(client) > 2048 or not client.isprintable()):
        client = None
    if client is not None:
        accepted["client"] = client
    tool = args.get("tool") or None
    if tool is not None and (len(tool) > 128 or not tool.isprintable()):
        tool = None
    if tool is not None:
        accepted["tool"] = tool
    try:
        outcome = Outcome(args["outcome"]) if args.get("outcome") else None
    except ValueError:
        outcome = None
    if outcome is not None:
        accepted["outcome"] = outcome.value
    page = max(1, min(_int(args.get("page")) or 1, MAX_OFFSET // PAGE_SIZE + 1))
    return ActivityQuery(
        filter=ActivityFilter(since=since, until=until, user_id=user_id, client=client, tool=tool,
                              outcome=outcome),
        range=name, bucket_seconds=bucket, page=page, args=accepted,
        since_text=since_text, until_text=until_text,
    )


def activity_context(store: ActivityStore, query: ActivityQuery, is_admin: bool) -> dict[str, Any]:
    """Everything the Activity section draws: the page of rows, counts, chart data, filter options."""
    where = query.filter
    total = store.count(where)
    rows = store.page(where, query.page, PAGE_SIZE)
    users = store.top_users(where, OPTIONS) if is_admin else []
    clients = store.top_clients(where, OPTIONS)
    tools = store.top_tools(where, OPTIONS)
    timeline = store.timeline(where, query.bucket_seconds)
    buckets = list(range(int(where.since), int(where.until), query.bucket_seconds))
    chart = {
        "buckets": [utc(b).strftime("%Y-%m-%d %H:%M") for b in buckets],
        "series": [
            {"outcome": outcome.value, "label": outcome.label, "data": [timeline[outcome].get(b, 0) for b in buckets]}
            for outcome in Outcome
        ],
        "top": {
            "users": [_bar(c, "user") for c in users[:10]],
            "clients": [_bar(c, "client") for c in clients[:10]],
            "tools": [_bar(c, "tool") for c in tools[:10]],
        },
        "total": total,
    }
    pages = max(1, -(-min(total, MAX_OFFSET + PAGE_SIZE) // PAGE_SIZE))
    return {
        "query": query,
        "rows": [row_view(row) for row in rows],
        "total": total,
        "page": query.page,
        "pages": pages,
        "chart": chart,
        "user_options": _options(users, query.args.get("user")),
        "client_options": _options(clients, query.args.get("client"), pasted=True),
        "tool_options": _options(tools, query.args.get("tool")),
        "outcomes": [(o.value, o.label) for o in Outcome],
        "ranges": [(name, label) for name, (label, _, _) in RANGES.items()] + [("custom", "Custom")],
    }


def row_view(call: ToolCall) -> dict[str, Any]:
    """One table row / CSV line, as text."""
    arguments = call.arguments if isinstance(call.arguments, Mapping) else {}
    ids = arguments.get("ids") if isinstance(arguments.get("ids"), Mapping) else {}
    names = [n for n in arguments.get("names", []) if isinstance(n, str)]
    return {
        "time": utc(call.started_at).strftime("%Y-%m-%d %H:%M:%S"),
        "user": call.username,
        "client": call.client_label,
        "client_id": call.client_id or "",
        "jti": call.jti or "",
        "tool": call.tool,
        "outcome": call.outcome.value,
        "outcome_label": call.outcome.label,
        "duration_ms": call.duration_ms,
        "scopes": " ".join(call.scopes),
        "arguments": " ".join(f"{n}={ids[n]}" if n in ids else n for n in names),
        "user_agent": call.user_agent or "",
    }


CSV_COLUMNS = (
    ("time", "time (UTC)"), ("user", "user"), ("client", "client"), ("client_id", "client id"),
    ("jti", "jti"), ("tool", "tool"), ("outcome", "outcome"), ("duration_ms", "duration (ms)"),
    ("scopes", "scopes"), ("arguments", "arguments"), ("user_agent", "user agent"),
)


def csv_lines(store: ActivityStore, query: ActivityQuery) -> Iterator[str]:
    """The filtered records as CSV, newest first (every row the filter selects, up to CSV_LIMIT)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([title for _, title in CSV_COLUMNS])
    for call in store.rows(query.filter, CSV_LIMIT):
        row = row_view(call)
        writer.writerow([_cell(row[key]) for key, _ in CSV_COLUMNS])
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value: Any) -> Any:
    """A value safe to open in a spreadsheet: text that would start a formula gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _bar(count: Count, key: str) -> dict[str, Any]:
    return {"label": count.label, "calls": count.calls, "key": key, "value": count.value}


def _options(counts: list[Count], selected: Optional[str], pasted: bool = False) -> list[tuple[str, str]]:
    options = [(c.value, c.label) for c in counts if c.value]
    if pasted and all(value != PASTED for value, _ in options):
        options.append((PASTED, PASTED_TOKEN))
    if selected and all(value != selected for value, _ in options):
        options.append((selected, selected))
    return sorted(options, key=lambda option: option[1].lower())


def _int(text: Optional[str]) -> Optional[int]:
    if text is None or not text.isdigit() or len(text) > 12:
        return None
    return int(text)


def _parse_time(text: Optional[str]) -> Optional[float]:
    if not text:
        return None
    try:
        parsed = datetime.datetime.strptime(text[:16], _TIME_INPUT)
    except ValueError:
        return None
    return parsed.replace(tzinfo=datetime.timezone.utc).timestamp()


def _time_text(epoch: float) -> str:
    return utc(epoch).strftime(_TIME_INPUT)
