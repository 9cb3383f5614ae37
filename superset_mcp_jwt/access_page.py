"""The "MCP access" page (Settings → Manage → MCP access): one page for users and admins.

It shows the MCP URL to paste into an AI client with the steps for each
client, the user's connected apps (OAuth grants) with a Revoke button, the
Activity section (every MCP tool call: charts, filters, the table and its CSV
export, :mod:`.activity_view`), and — in the HMAC modes — the token minting
that used to be the page ``/mcp-token/``.

Permissions (FAB, synced by ``superset init``):

* ``can_read on MCPAccess`` opens the page, revokes one's own connections and
  reads (and exports) one's own activity; administrators read everyone's.
  Superset's role sync grants it (with ``menu_access on MCP access``) to its
  built-in Gamma and Alpha roles, so every user can see and cut their own
  connections. Superset shows its Manage menu to Alpha and Admin only; Gamma
  users open ``/mcp-access/`` directly.
* ``can_issue on MCPToken`` mints tokens; kept admin-only by ``superset init``
  (an admin grants it to other roles). Admins (``AUTH_ROLE_ADMIN``) also mint
  for other users, see everyone's connections and may revoke any.

Inside Superset the page extends ``superset/spa.html`` so it carries
Superset's own navbar and theme; in a bare Flask-AppBuilder app it uses a small
stand-alone layout.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from flask import Flask, Response, current_app, g, redirect, request, stream_with_context, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from . import superset_compat
from .activity.store import ActivityStore
from .activity_view import activity_context, activity_filter, csv_lines
from .pages import render_page
from .oauth.store import StoreUnavailable
from .registry import get_manager
from .settings import Settings
from .tokens import sign_token

if TYPE_CHECKING:
    from .oauth.models import Connection

logger = logging.getLogger("superset_mcp_jwt")

#: The page's view menu: ``can_read on MCPAccess`` (granted to Gamma/Alpha by ``superset init``).
ACCESS_PERMISSION_VIEW = "MCPAccess"
#: Token minting's view menu: ``can_issue on MCPToken`` (admin-only unless granted).
TOKEN_PERMISSION_VIEW = "MCPToken"
MENU_NAME = "MCP access"
_TTL_CHOICES = [(3600, "1 hour"), (8 * 3600, "8 hours"), (86400, "24 hours"),
                (7 * 86400, "7 days"), (30 * 86400, "30 days"), (90 * 86400, "90 days")]
#: Fixed messages shown after a revoke (the redirect carries only the key).
_NOTICES = {
    "revoked": "The connection is revoked: the app must ask you to sign in again.",
    "unknown": "No such connection (it may be revoked already).",
    "refused": "The revoke form expired: reload the page and try again.",
    "unavailable": "Connected apps cannot be changed right now; try again later.",
}
#: Where the Activity section reads from (set by :func:`install`; None: records are off).
_ACTIVITY_KEY = "superset_mcp_jwt_activity_store"


class TokenForm(FlaskForm):
    ttl = SelectField("Valid for", coerce=int)
    username = StringField("For user (admins only; empty = yourself)")


class RevokeForm(FlaskForm):
    connection_id = HiddenField(validators=[DataRequired(), Length(max=200)])


@dataclass(frozen=True)
class ClientGuide:
    """How to connect one MCP client: a few steps and, if any, what to paste."""

    name: str
    steps: str
    snippet: str = ""


class MCPAccessView(BaseView):
    """``/mcp-access/``: the MCP URL, the client steps, connected apps, token minting."""

    route_base = "/mcp-access"
    class_permission_name = ACCESS_PERMISSION_VIEW
    method_permission_name = {"page": "read", "revoke": "read", "activity_csv": "read"}
    default_view = "page"

    @expose("/", methods=["GET"])
    @has_access
    def page(self) -> Any:
        notice = _NOTICES.get(request.args.get("notice", ""))
        return render_access_page(self.appbuilder, notice=notice)

    @expose("/activity.csv", methods=["GET"])
    @has_access
    def activity_csv(self) -> Any:
        """The filtered activity as CSV: the same filters, and the same limit to one's own calls, as the page."""
        store = current_app.extensions.get(_ACTIVITY_KEY)
        if store is None:
            return redirect(url_for(".page"))
        query = activity_filter(request.args, g.user.id, _is_admin(self.appbuilder.sm))
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
        return Response(
            stream_with_context(csv_lines(store, query)),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="mcp-activity-{stamp}.csv"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @expose("/revoke", methods=["POST"])
    @has_access
    def revoke(self) -> Any:
        """Revoke one connected app: one's own, or anyone's for an admin (CSRF-protected)."""
        oauth = get_manager(current_app).oauth
        form = RevokeForm()
        if oauth is None:
            return redirect(url_for(".page"))
        if not form.validate_on_submit():
            return redirect(url_for(".page", notice="refused"))
        owner = None if _is_admin(self.appbuilder.sm) else g.user.username
        try:
            revoked = oauth.revoke_connection(form.connection_id.data, owner)
        except StoreUnavailable as exc:
            logger.warning("MCP access page: cannot revoke a connection: %s", exc)
            return redirect(url_for(".page", notice="unavailable"))
        if revoked:
            logger.info("MCP connection revoked from the MCP access page: by=%s connection=%s",
                        g.user.username, form.connection_id.data)
        return redirect(url_for(".page", notice="revoked" if revoked else "unknown"))


class MCPTokenView(BaseView):
    """``/mcp-token/``: POST mints a token (shown once on the MCP access page); GET goes there."""

    route_base = "/mcp-token"
    class_permission_name = TOKEN_PERMISSION_VIEW
    method_permission_name = {"issue": "issue"}
    default_view = "issue"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def issue(self) -> Any:
        if request.method == "GET":
            return redirect(url_for("MCPAccessView.page"))
        settings = get_manager(current_app).settings
        assert settings is not None
        sm = self.appbuilder.sm
        is_admin = _is_admin(sm)
        form = token_form(settings)
        result = error = None
        if form.validate_on_submit():
            target = g.user
            wanted = (form.username.data or "").strip()
            if wanted and wanted != g.user.username:
                target = sm.find_user(username=wanted) if is_admin else None
                if not is_admin:
                    error = "Only administrators may mint tokens for another user."
                elif target is None or not target.is_active:
                    error = "No active user with that name."
            if error is None:
                token = sign_token(settings, target.username, form.ttl.data)
                result = _minted(token, target.username, form.ttl.data, mcp_url_to_paste())
                logger.info(
                    "MCP token issued from the MCP access page: by=%s for=%s ttl=%ss",
                    g.user.username, target.username, form.ttl.data,
                )
        else:
            error = "The form was not accepted (expired, or a lifetime not offered): try again."
        return render_access_page(self.appbuilder, form=form, result=result, error=error)


def install(app: Flask, token_minting: bool, activity: Optional[ActivityStore] = None) -> None:
    """Add the page under Manage; ``token_minting`` adds the admin-only minting endpoint.

    ``activity``: where the Activity section reads the tool-call records (None: off).
    """
    app.extensions[_ACTIVITY_KEY] = activity
    if token_minting:
        superset_compat.keep_permission_admin_only(app, TOKEN_PERMISSION_VIEW)
    with app.app_context():
        app.appbuilder.add_view(
            MCPAccessView(), MENU_NAME, label=MENU_NAME, icon="fa-key",
            category="Manage", category_label="Manage",
        )
        if token_minting:
            app.appbuilder.add_view_no_menu(MCPTokenView())


def token_form(settings: Settings) -> TokenForm:
    form = TokenForm()
    form.ttl.choices = [c for c in _TTL_CHOICES if c[0] <= settings.token_page_max_ttl]
    return form


def render_access_page(
    appbuilder: Any,
    notice: Optional[str] = None,
    form: Optional[TokenForm] = None,
    result: Optional[dict[str, str]] = None,
    error: Optional[str] = None,
) -> tuple[str, int, dict[str, str]]:
    """The whole page for the signed-in user (status 400 when ``error`` is set)."""
    manager = get_manager(current_app)
    settings = manager.settings
    assert settings is not None
    sm = appbuilder.sm
    is_admin = _is_admin(sm)
    oauth = manager.oauth
    url = mcp_url_to_paste()
    can_mint = _can_mint(sm)
    if can_mint and form is None:
        form = token_form(settings)
    connections: Optional[list[Connection]] = None
    connections_unavailable = False
    if oauth is not None:
        try:
            connections = oauth.connections(None if is_admin else g.user.username)
        except StoreUnavailable as exc:
            logger.warning("MCP access page: cannot list connected apps: %s", exc)
            connections_unavailable = True
    activity, activity_unavailable = _activity(is_admin)
    page = render_page(
        "",
        source=_PAGE,
        title=MENU_NAME,
        user=g.user.username,
        is_admin=is_admin,
        mcp_url=url,
        oauth_on=oauth is not None,
        guides=client_guides(url, oauth is not None),
        connections=connections,
        connections_unavailable=connections_unavailable,
        revoke_form=RevokeForm(),
        can_mint=can_mint,
        form=form,
        result=result,
        error=error,
        notice=notice,
        activity=activity,
        activity_unavailable=activity_unavailable,
        activity_on=current_app.extensions.get(_ACTIVITY_KEY) is not None,
    )
    return page, (400 if error else 200), {"Cache-Control": "no-store"}


def _activity(is_admin: bool) -> tuple[Optional[dict[str, Any]], bool]:
    """The Activity section's context, or (None, True) when the records cannot be read now."""
    store = current_app.extensions.get(_ACTIVITY_KEY)
    if store is None:
        return None, False
    query = activity_filter(request.args, g.user.id, is_admin)
    try:
        return activity_context(store, query, is_admin), False
    except Exception as exc:  # the metadata DB is down, or the table is missing
        fix = ""
        try:
            if not store.table_exists():
                fix = "; run `superset mcp-jwt db upgrade`"
        except Exception:
            pass
        logger.warning("MCP access page: cannot read the activity records (%s)%s", exc.__class__.__name__, fix)
        return None, True


def mcp_url_to_paste() -> str:
    """The URL clients paste: ``MCP_OAUTH_RESOURCE`` with OAuth on, else ``MCP_JWT_SERVER_URL``."""
    manager = get_manager(current_app)
    assert manager.settings is not None
    return manager.oauth.settings.resource if manager.oauth is not None else manager.settings.server_url


def client_guides(mcp_url: str, oauth_on: bool) -> list[ClientGuide]:
    """The steps for each MCP client, for this server's URL (OAuth or a pasted token)."""
    if oauth_on:
        return [
            ClientGuide(
                "Claude.ai and Claude Desktop",
                "Settings → Connectors → Add custom connector. Name it \"Superset\", paste the MCP "
                "URL, click Add, then Connect: sign in to Superset and click Allow.",
            ),
            ClientGuide(
                "ChatGPT",
                "Settings → Apps & Connectors → Advanced settings: turn on Developer mode. Then "
                "Create: name \"Superset\", paste the MCP URL as the MCP server URL, choose OAuth, "
                "click Create, sign in to Superset and click Allow.",
            ),
            ClientGuide(
                "Claude Code",
                "Run this once, then type /mcp in Claude Code and choose Authenticate.",
                f"claude mcp add --transport http superset {mcp_url}",
            ),
            ClientGuide(
                "Cursor",
                "Add to ~/.cursor/mcp.json (or .cursor/mcp.json in a project), then click "
                "Connect next to \"superset\" in Cursor's MCP settings.",
                _json({"mcpServers": {"superset": {"url": mcp_url}}}),
            ),
            ClientGuide(
                "VS Code",
                "Add to .vscode/mcp.json (or run \"MCP: Open User Configuration\"), then Start "
                "the server and allow the sign-in.",
                _json({"servers": {"superset": {"type": "http", "url": mcp_url}}}),
            ),
            ClientGuide(
                "Other clients (mcp-remote)",
                "For clients that run only local servers: mcp-remote opens your browser to sign "
                "in and keeps the tokens under ~/.mcp-auth.",
                _json({"mcpServers": {"superset": {"command": "npx",
                                                   "args": ["-y", "mcp-remote", mcp_url]}}}),
            ),
        ]
    header = "Authorization: Bearer <token>"
    return [
        ClientGuide(
            "Claude.ai, Claude Desktop connectors and ChatGPT",
            "These accept only OAuth sign-in, which this server does not offer "
            "(MCP_OAUTH_ENABLED is off): use a client below with an access token.",
        ),
        ClientGuide(
            "Claude Code",
            "Run this with your access token in place of <token>.",
            f'claude mcp add --transport http superset {mcp_url} --header "{header}"',
        ),
        ClientGuide(
            "Cursor",
            "Add to ~/.cursor/mcp.json (or .cursor/mcp.json in a project).",
            _json({"mcpServers": {"superset": {"url": mcp_url,
                                               "headers": {"Authorization": "Bearer <token>"}}}}),
        ),
        ClientGuide(
            "VS Code",
            "Add to .vscode/mcp.json (or run \"MCP: Open User Configuration\").",
            _json({"servers": {"superset": {"type": "http", "url": mcp_url,
                                            "headers": {"Authorization": "Bearer <token>"}}}}),
        ),
        ClientGuide(
            "Claude Desktop and other local-only clients (mcp-remote)",
            "Add to the client's MCP configuration (claude_desktop_config.json for Claude Desktop).",
            _json({"mcpServers": {"superset": {"command": "npx",
                                               "args": ["-y", "mcp-remote", mcp_url, "--header", header]}}}),
        ),
    ]


def _is_admin(sm: Any) -> bool:
    return any(role.name == sm.auth_role_admin for role in g.user.roles)


def _can_mint(sm: Any) -> bool:
    """True when minting is installed and the user holds ``can_issue on MCPToken``."""
    return "MCPTokenView.issue" in current_app.view_functions and sm.has_access(
        "can_issue", TOKEN_PERMISSION_VIEW
    )


def _json(value: Any) -> str:
    return json.dumps(value, indent=2)


def _minted(token: str, username: str, ttl: int, server_url: str) -> dict[str, str]:
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ttl)
    snippet = {
        "mcpServers": {
            "superset": {
                "command": "npx",
                "args": ["-y", "mcp-remote", server_url, "--header", f"Authorization: Bearer {token}"],
            }
        }
    }
    return {
        "token": token,
        "username": username,
        "expires": expires.strftime("%Y-%m-%d %H:%M UTC"),
        "snippet": json.dumps(snippet, indent=2),
    }


_PAGE = """{% extends "superset_mcp_jwt/layout.html" %}
{% block page_css %}
  #mcp-access {
    box-sizing: border-box; max-width: 1040px; margin: 24px auto 48px; padding: 0 24px;
    font-family: var(--mcp-font); font-size: 14px; line-height: 1.5715; color: rgba(0,0,0,.88);
  }
  #mcp-access *, #mcp-access *::before, #mcp-access *::after { box-sizing: border-box; }
  #mcp-access h1 { font-size: 24px; font-weight: 600; margin: 0 0 4px; }
  #mcp-access h2 { font-size: 16px; font-weight: 600; margin: 0 0 12px; }
  #mcp-access .mcp-lead { color: rgba(0,0,0,.55); margin: 0 0 20px; }
  #mcp-access .mcp-card { background: #fff; border: 1px solid #e8e8e8; border-radius: 8px;
    padding: 20px 24px; margin-bottom: 16px; min-width: 0; }
  #mcp-access .mcp-row { display: flex; gap: 8px; align-items: stretch; }
  #mcp-access .mcp-url { flex: 1; min-width: 0; font-family: var(--mcp-code); font-size: 13px;
    padding: 4px 11px; border: 1px solid #d9d9d9; border-radius: 6px; background: #fafafa;
    overflow-x: auto; white-space: nowrap; line-height: 22px; }
  #mcp-access .mcp-btn { display: inline-flex; align-items: center; justify-content: center;
    height: 32px; padding: 4px 15px; border-radius: 6px; border: 1px solid #d9d9d9;
    background: #fff; color: rgba(0,0,0,.88); font: inherit; cursor: pointer; white-space: nowrap; }
  #mcp-access .mcp-btn:hover { color: var(--mcp-primary); border-color: var(--mcp-primary); }
  #mcp-access .mcp-btn-primary { background: var(--mcp-primary); border-color: var(--mcp-primary); color: #fff; }
  #mcp-access .mcp-btn-primary:hover { color: #fff; opacity: .85; }
  #mcp-access .mcp-btn-danger { color: #e04355; border-color: #e04355; height: 24px; padding: 0 7px; font-size: 13px; }
  #mcp-access .mcp-btn-danger:hover { color: #fff; background: #e04355; }
  #mcp-access pre.mcp-code, #mcp-access textarea.mcp-code {
    display: block; width: 100%; max-width: 100%; margin: 8px 0 0; padding: 8px 12px;
    font-family: var(--mcp-code); font-size: 12px; line-height: 1.5; background: #f7f7f7;
    border: 1px solid #e8e8e8; border-radius: 6px; white-space: pre-wrap;
    overflow-wrap: anywhere; word-break: break-all; overflow-x: auto; max-height: 320px; }
  #mcp-access textarea.mcp-code { resize: vertical; }
  #mcp-access details { border-top: 1px solid #f0f0f0; padding: 10px 0; }
  #mcp-access details:first-of-type { border-top: 0; }
  #mcp-access summary { cursor: pointer; font-weight: 600; }
  #mcp-access details p { margin: 6px 0 0; }
  #mcp-access .mcp-snippet { position: relative; }
  #mcp-access .mcp-snippet .mcp-code { padding-right: 64px; }
  #mcp-access .mcp-snippet .mcp-btn { position: absolute; top: 6px; right: 6px; height: 24px;
    padding: 0 7px; font-size: 12px; }
  #mcp-access table { width: 100%; border-collapse: collapse; table-layout: auto; }
  #mcp-access th { text-align: left; font-weight: 600; background: #fafafa; }
  #mcp-access th, #mcp-access td { padding: 8px 12px; border-bottom: 1px solid #f0f0f0;
    vertical-align: middle; overflow-wrap: anywhere; }
  #mcp-access .mcp-tag { display: inline-block; padding: 0 7px; margin: 1px 4px 1px 0; font-size: 12px;
    line-height: 20px; background: #f5f5f5; border: 1px solid #d9d9d9; border-radius: 4px; }
  #mcp-access .mcp-muted { color: rgba(0,0,0,.45); }
  #mcp-access .mcp-alert { padding: 8px 12px; border-radius: 6px; margin-bottom: 16px; }
  #mcp-access .mcp-info { background: #e6f4ff; border: 1px solid #91caff; }
  #mcp-access .mcp-warn { background: #fffbe6; border: 1px solid #ffe58f; }
  #mcp-access .mcp-error { background: #fff2f0; border: 1px solid #ffccc7; color: #a8071a; }
  #mcp-access label { display: block; margin: 12px 0 4px; font-weight: 500; }
  #mcp-access select, #mcp-access input[type=text] { height: 32px; min-width: 240px; padding: 4px 11px;
    border: 1px solid #d9d9d9; border-radius: 6px; font: inherit; background: #fff; }
  #mcp-access .mcp-head { display: flex; align-items: center; justify-content: space-between; gap: 8px; }
  #mcp-access .mcp-head h2 { margin: 0; }
  #mcp-access .mcp-filters { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: flex-end; margin: 12px 0 4px; }
  #mcp-access .mcp-filters label { margin: 0; font-weight: 500; font-size: 12px; color: rgba(0,0,0,.65); }
  #mcp-access .mcp-filters select, #mcp-access .mcp-filters input { display: block; min-width: 140px;
    max-width: 220px; height: 32px; margin-top: 2px; padding: 4px 8px; border: 1px solid #d9d9d9;
    border-radius: 6px; font: inherit; font-size: 13px; background: #fff; }
  #mcp-access .mcp-charts { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 12px; margin: 16px 0; }
  #mcp-access .mcp-chart { height: 220px; min-width: 0; border: 1px solid #f0f0f0; border-radius: 6px; }
  #mcp-access .mcp-chart-wide { grid-column: 1 / -1; height: 260px; }
  #mcp-access .mcp-outcome { display: inline-block; padding: 0 7px; font-size: 12px; line-height: 20px;
    border-radius: 4px; border: 1px solid; white-space: nowrap; }
  #mcp-access .mcp-outcome-ok { color: #237a4b; background: #f0faf4; border-color: {{ css.colorSuccess }}; }
  #mcp-access .mcp-outcome-tool_error { color: #8a6d00; background: #fffbe6; border-color: {{ css.colorWarning }}; }
  #mcp-access .mcp-outcome-denied_roles { color: #a8071a; background: #fff2f0; border-color: {{ css.colorError }}; }
  #mcp-access .mcp-outcome-denied_scope { color: #6b3a7d; background: #f9f0ff; border-color: #a868b7; }
  #mcp-access a.mcp-btn { text-decoration: none; }
  #mcp-access .mcp-table-scroll { overflow-x: auto; }
  #mcp-access #activity-table td { font-size: 13px; overflow-wrap: normal; }
  #mcp-access #activity-table td.a-time, #mcp-access #activity-table td.a-user,
  #mcp-access #activity-table td.a-tool, #mcp-access #activity-table td.a-duration { white-space: nowrap; }
  #mcp-access #activity-table td.a-arguments { overflow-wrap: anywhere; min-width: 160px; }
  #mcp-access .mcp-pager { display: flex; gap: 8px; align-items: center; justify-content: flex-end; margin-top: 12px; }
  #mcp-access .mcp-nowrap { white-space: nowrap; }
{% endblock %}

{% block body %}
{{ super() }}
<main id="mcp-access">
  <h1>MCP access</h1>
  <p class="mcp-lead">Connect an AI client (Claude, ChatGPT, Cursor, VS Code, ...) to Superset's
  MCP server. It acts as you, <strong>{{ user }}</strong>, with your Superset permissions.</p>

  {% if notice %}<div class="mcp-alert mcp-info" id="notice">{{ notice }}</div>{% endif %}
  {% if error %}<div class="mcp-alert mcp-error" id="error">{{ error }}</div>{% endif %}

  <section class="mcp-card" id="connect">
    <h2>MCP server URL</h2>
    <div class="mcp-row">
      <code class="mcp-url" id="mcp-url">{{ mcp_url }}</code>
      <button type="button" class="mcp-btn mcp-btn-primary" data-copy="mcp-url">Copy</button>
    </div>
    <p class="mcp-muted" style="margin:8px 0 0">
      {% if oauth_on %}Paste it into your client: it sends you here to sign in and asks you to allow it.
      {% else %}Clients send an access token with each request.{% endif %}
    </p>
    <div style="margin-top:12px">
    {% for guide in guides %}
      <details {% if loop.first %}open{% endif %} class="mcp-guide">
        <summary>{{ guide.name }}</summary>
        <p>{{ guide.steps }}</p>
        {% if guide.snippet %}
        <div class="mcp-snippet">
          <pre class="mcp-code" id="guide-{{ loop.index }}">{{ guide.snippet }}</pre>
          <button type="button" class="mcp-btn" data-copy="guide-{{ loop.index }}">Copy</button>
        </div>
        {% endif %}
      </details>
    {% endfor %}
    </div>
  </section>

  {% if connections_unavailable %}
  <section class="mcp-card" id="connections">
    <h2>Connected apps</h2>
    <p class="mcp-muted" id="connections-unavailable">Connected apps cannot be listed right now;
    try again later.</p>
  </section>
  {% endif %}
  {% if connections is not none %}
  <section class="mcp-card" id="connections">
    <h2>Connected apps{% if is_admin %} <span class="mcp-muted">(every user's)</span>{% endif %}</h2>
    {% if connections %}
    <table>
      <thead><tr><th>App</th>{% if is_admin %}<th>User</th>{% endif %}<th>Scopes</th>
        <th>Connected</th><th>Last used</th><th></th></tr></thead>
      <tbody>
      {% for c in connections %}
        <tr class="mcp-connection" data-connection="{{ c.id }}">
          <td><strong>{{ c.client_name }}</strong><br><span class="mcp-muted">{{ c.client_id }}</span></td>
          {% if is_admin %}<td class="mcp-user">{{ c.username }}</td>{% endif %}
          <td>{% for s in c.scopes %}<span class="mcp-tag">{{ s }}</span>{% endfor %}</td>
          <td>{{ c.created_at.strftime('%Y-%m-%d %H:%M') }}</td>
          <td>{{ c.last_used_at.strftime('%Y-%m-%d %H:%M') if c.last_used_at else '—' }}</td>
          <td class="mcp-nowrap">
            {% if activity_on %}<a class="mcp-connection-activity" href="{{ url_for('MCPAccessView.page', client=c.client_id, range='week') }}#activity">Activity</a>{% endif %}
            <form method="post" action="{{ url_for('MCPAccessView.revoke') }}" style="display:inline">
              {% if revoke_form.csrf_token is defined %}{{ revoke_form.csrf_token(id=False) }}{% endif %}
              <input type="hidden" name="connection_id" value="{{ c.id }}">
              <button type="submit" class="mcp-btn mcp-btn-danger">Revoke</button>
            </form>
          </td>
        </tr>
      {% endfor %}
      </tbody>
    </table>
    {% else %}
    <p class="mcp-muted" id="no-connections">No connected apps yet.</p>
    {% endif %}
  </section>
  {% endif %}

  {% if activity_unavailable %}
  <section class="mcp-card" id="activity">
    <h2>Activity</h2>
    <p class="mcp-muted" id="activity-unavailable">Activity cannot be shown right now; try again later.</p>
  </section>
  {% endif %}
  {% if activity %}
  {% set q = activity.query %}
  <section class="mcp-card" id="activity">
    <div class="mcp-head">
      <h2>Activity{% if is_admin %} <span class="mcp-muted">(every user's)</span>{% endif %}</h2>
      <a class="mcp-btn" id="activity-csv" href="{{ url_for('MCPAccessView.activity_csv', **q.args) }}">Export CSV</a>
    </div>
    <p class="mcp-muted" style="margin:4px 0 0">Every MCP tool call{% if not is_admin %} you made{% endif %}:
      who, through which client, which tool, how it ended. Times in UTC.</p>
    <form method="get" action="{{ url_for('MCPAccessView.page') }}#activity" class="mcp-filters" id="activity-filters">
      <label>Time range<select name="range" id="f-range">
        {% for value, label in activity.ranges %}<option value="{{ value }}" {% if q.range == value %}selected{% endif %}>{{ label }}</option>{% endfor %}
      </select></label>
      <label>From<input type="datetime-local" name="from" id="f-from" value="{{ q.since_text }}"></label>
      <label>To<input type="datetime-local" name="to" id="f-to" value="{{ q.until_text }}"></label>
      {% if is_admin %}<label>User<select name="user" id="f-user"><option value="">All users</option>
        {% for value, label in activity.user_options %}<option value="{{ value }}" {% if q.args.get('user') == value %}selected{% endif %}>{{ label }}</option>{% endfor %}
      </select></label>{% endif %}
      <label>Client<select name="client" id="f-client"><option value="">All clients</option>
        {% for value, label in activity.client_options %}<option value="{{ value }}" {% if q.args.get('client') == value %}selected{% endif %}>{{ label }}</option>{% endfor %}
      </select></label>
      <label>Tool<select name="tool" id="f-tool"><option value="">All tools</option>
        {% for value, label in activity.tool_options %}<option value="{{ value }}" {% if q.args.get('tool') == value %}selected{% endif %}>{{ label }}</option>{% endfor %}
      </select></label>
      <label>Outcome<select name="outcome" id="f-outcome"><option value="">All outcomes</option>
        {% for value, label in activity.outcomes %}<option value="{{ value }}" {% if q.args.get('outcome') == value %}selected{% endif %}>{{ label }}</option>{% endfor %}
      </select></label>
      <button type="submit" class="mcp-btn mcp-btn-primary" id="f-apply">Apply</button>
      <a class="mcp-btn" href="{{ url_for('MCPAccessView.page') }}#activity">Reset</a>
    </form>
    <div class="mcp-charts">
      <div class="mcp-chart mcp-chart-wide" id="chart-timeline" role="img" aria-label="Calls over time by outcome"></div>
      {% if is_admin %}<div class="mcp-chart" id="chart-users" role="img" aria-label="Top users"></div>{% endif %}
      <div class="mcp-chart" id="chart-clients" role="img" aria-label="Top clients"></div>
      <div class="mcp-chart" id="chart-tools" role="img" aria-label="Top tools"></div>
    </div>
    <script type="application/json" id="activity-data">{{ activity.chart|tojson }}</script>
    <p class="mcp-muted" id="activity-count">{{ activity.total }} call{{ '' if activity.total == 1 else 's' }}{% if activity.total %}, newest first{% endif %}.</p>
    {% if activity.rows %}
    <div class="mcp-table-scroll">
    <table id="activity-table">
      <thead><tr><th>Time</th>{% if is_admin %}<th>User</th>{% endif %}<th>Client</th><th>Tool</th><th>Outcome</th>
        <th>Duration</th><th>Scopes</th><th>Arguments</th></tr></thead>
      <tbody>
      {% for r in activity.rows %}
        <tr class="mcp-call" data-outcome="{{ r.outcome }}">
          <td class="a-time mcp-nowrap">{{ r.time }}</td>
          {% if is_admin %}<td class="a-user">{{ r.user }}</td>{% endif %}
          <td class="a-client"><span class="a-client-name">{{ r.client }}</span>{% if r.jti and not r.client_id %}<br><span class="mcp-muted a-jti">jti {{ r.jti }}</span>{% endif %}</td>
          <td class="a-tool">{{ r.tool }}</td>
          <td class="a-outcome"><span class="mcp-outcome mcp-outcome-{{ r.outcome }}">{{ r.outcome_label }}</span></td>
          <td class="a-duration mcp-nowrap">{{ r.duration_ms }} ms</td>
          <td class="a-scopes">{% for s in r.scopes.split() %}<span class="mcp-tag">{{ s }}</span>{% endfor %}</td>
          <td class="a-arguments mcp-muted">{{ r.arguments }}</td>
        </tr>
      {% endfor %}
      </tbody>
    </table>
    </div>
    <div class="mcp-pager" id="activity-pager">
      {% if activity.page > 1 %}<a class="mcp-btn" id="page-newer" href="{{ url_for('MCPAccessView.page', page=activity.page - 1, **q.args) }}#activity">Newer</a>{% endif %}
      <span class="mcp-muted">Page {{ activity.page }} of {{ activity.pages }}</span>
      {% if activity.page < activity.pages %}<a class="mcp-btn" id="page-older" href="{{ url_for('MCPAccessView.page', page=activity.page + 1, **q.args) }}#activity">Older</a>{% endif %}
    </div>
    {% else %}
    <p class="mcp-muted" id="no-activity">No MCP tool calls in this range.</p>
    {% endif %}
  </section>
  {% endif %}

  {% if can_mint %}
  <section class="mcp-card" id="token-minting">
    <h2>Access token</h2>
    <p>For clients that send a token instead of signing in. Treat it like a password.</p>
    {% if result %}
    <div class="mcp-alert mcp-warn">Token for <strong>{{ result.username }}</strong>, shown once:
      copy it now. Valid until {{ result.expires }}.</div>
    <div class="mcp-snippet">
      <textarea class="mcp-code" id="token" rows="4" readonly>{{ result.token }}</textarea>
      <button type="button" class="mcp-btn" data-copy="token">Copy</button>
    </div>
    <p style="margin:12px 0 0">MCP client configuration (mcp-remote):</p>
    <div class="mcp-snippet">
      <pre class="mcp-code" id="snippet">{{ result.snippet }}</pre>
      <button type="button" class="mcp-btn" data-copy="snippet">Copy</button>
    </div>
    {% endif %}
    <form method="post" action="{{ url_for('MCPTokenView.issue') }}">
      {{ form.hidden_tag() }}
      <label for="ttl">{{ form.ttl.label.text }}</label>{{ form.ttl() }}
      {% if is_admin %}<label for="username">{{ form.username.label.text }}</label>{{ form.username() }}{% endif %}
      <p style="margin:16px 0 0"><button type="submit" id="mint" class="mcp-btn mcp-btn-primary">Create token</button></p>
    </form>
  </section>
  {% endif %}
</main>
{% endblock %}

{% block tail_js %}
{{ super() }}
{% if activity %}
<script src="{{ url_for('superset_mcp_jwt_pages.static', filename='echarts/echarts.common.min.js') }}" nonce="{{ csp_nonce() if csp_nonce is defined else '' }}"></script>
<script nonce="{{ csp_nonce() if csp_nonce is defined else '' }}">
  (function () {
    var data = JSON.parse(document.getElementById('activity-data').textContent);
    var theme = {
      font: {{ css.fontFamily|string|tojson }},
      primary: {{ css.colorPrimary|string|tojson }},
      outcomes: {ok: {{ css.colorSuccess|string|tojson }}, tool_error: {{ css.colorWarning|string|tojson }},
                 denied_roles: {{ css.colorError|string|tojson }}, denied_scope: '#a868b7'}
    };
    var text = {fontFamily: theme.font, color: 'rgba(0,0,0,0.65)', fontSize: 12};
    var axis = {axisLine: {lineStyle: {color: '#d9d9d9'}}, axisLabel: {color: 'rgba(0,0,0,0.55)'},
                splitLine: {lineStyle: {color: '#f0f0f0'}}};
    function chart(id) {
      var element = document.getElementById(id);
      if (!element) { return null; }
      var instance = echarts.init(element, null, {renderer: 'canvas'});
      window.addEventListener('resize', function () { instance.resize(); });
      return instance;
    }
    var timeline = chart('chart-timeline');
    timeline.setOption({
      textStyle: text, animation: false,
      title: {text: 'Calls over time', left: 8, top: 6, textStyle: {fontSize: 13, fontWeight: 600, fontFamily: theme.font}},
      legend: {top: 6, right: 8, textStyle: text},
      tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
      grid: {left: 44, right: 16, top: 40, bottom: 28},
      xAxis: Object.assign({type: 'category', data: data.buckets}, axis),
      yAxis: Object.assign({type: 'value', minInterval: 1}, axis),
      series: data.series.map(function (s) {
        return {name: s.label, type: 'bar', stack: 'calls', barMaxWidth: 24, data: s.data,
                itemStyle: {color: theme.outcomes[s.outcome]}};
      })
    });
    function top(id, title, bars) {
      var instance = chart(id);
      if (!instance) { return; }
      var shown = bars.slice().reverse();
      instance.setOption({
        textStyle: text, animation: false,
        title: {text: title, left: 8, top: 6, textStyle: {fontSize: 13, fontWeight: 600, fontFamily: theme.font}},
        tooltip: {trigger: 'item'},
        grid: {left: 8, right: 32, top: 34, bottom: 8, containLabel: true},
        xAxis: Object.assign({type: 'value', minInterval: 1}, axis),
        yAxis: Object.assign({type: 'category', data: shown.map(function (b) {
          return b.label.length > 24 ? b.label.slice(0, 23) + '…' : b.label; })}, axis),
        series: [{type: 'bar', name: 'Calls', barMaxWidth: 16, itemStyle: {color: theme.primary},
                  label: {show: true, position: 'right', color: 'rgba(0,0,0,0.65)'},
                  data: shown.map(function (b) { return b.calls; })}]
      });
      instance.on('click', function (event) {
        var bar = shown[event.dataIndex];
        var params = new URLSearchParams(window.location.search);
        params.set(bar.key, bar.value);
        params.delete('page');
        window.location.assign(window.location.pathname + '?' + params.toString() + '#activity');
      });
    }
    top('chart-users', 'Top users', data.top.users);
    top('chart-clients', 'Top clients', data.top.clients);
    top('chart-tools', 'Top tools', data.top.tools);
    var range = document.getElementById('f-range');
    function custom() {
      var on = range.value === 'custom';
      ['f-from', 'f-to'].forEach(function (id) { document.getElementById(id).parentNode.style.display = on ? '' : 'none'; });
    }
    range.addEventListener('change', custom);
    custom();
  })();
</script>
{% endif %}
<script nonce="{{ csp_nonce() if csp_nonce is defined else '' }}">
  document.querySelectorAll('#mcp-access [data-copy]').forEach(function (button) {
    button.addEventListener('click', function () {
      var source = document.getElementById(button.getAttribute('data-copy'));
      var text = 'value' in source ? source.value : source.textContent;
      var done = function () {
        button.textContent = 'Copied';
        setTimeout(function () { button.textContent = 'Copy'; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text.trim()).then(done);
      } else {
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (document.execCommand('copy')) { done(); }
      }
    });
  });
</script>
{% endblock %}
"""
