"""The self-service face: a Flask-AppBuilder page where a user mints their own MCP token.

Behind the ``can_issue on MCPToken`` permission. Users mint for themselves;
members of the admin role (``AUTH_ROLE_ADMIN``) may also mint for another user.
The token is shown once, with a copy-ready MCP client configuration.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from flask import Flask, current_app, g, render_template_string
from flask_appbuilder import BaseView, expose, has_access
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField

from . import superset_compat
from .registry import get_manager
from .settings import Settings
from .tokens import sign_token

logger = logging.getLogger("superset_mcp_jwt")

PERMISSION_VIEW = "MCPToken"
#: The menu entry (under Manage); its ``menu_access`` permission is granted like ``can_issue``.
MENU_NAME = "MCP access token"
_TTL_CHOICES = [(3600, "1 hour"), (8 * 3600, "8 hours"), (86400, "24 hours"),
                (7 * 86400, "7 days"), (30 * 86400, "30 days"), (90 * 86400, "90 days")]


class TokenForm(FlaskForm):
    ttl = SelectField("Valid for", coerce=int)
    username = StringField("For user (admins only; empty = yourself)")


class MCPTokenView(BaseView):
    """``/mcp-token/``: mint an MCP bearer token for yourself."""

    route_base = "/mcp-token"
    class_permission_name = PERMISSION_VIEW
    method_permission_name = {"issue": "issue"}
    default_view = "issue"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def issue(self) -> Any:
        settings = get_manager(current_app).settings
        assert settings is not None
        sm = self.appbuilder.sm
        is_admin = any(role.name == sm.auth_role_admin for role in g.user.roles)
        form = TokenForm()
        form.ttl.choices = [c for c in _TTL_CHOICES if c[0] <= settings.token_page_max_ttl]
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
                result = _result(token, target.username, form.ttl.data, settings.server_url)
                logger.info(
                    "MCP token issued from the token page: by=%s for=%s ttl=%ss",
                    g.user.username, target.username, form.ttl.data,
                )
        page = render_template_string(
            _PAGE, form=form, is_admin=is_admin, result=result, error=error, user=g.user.username
        )
        return page, (400 if error else 200), {"Cache-Control": "no-store"}


def install(app: Flask, settings: Settings) -> None:
    """Add the page under Manage, its permission kept admin-only by ``superset init``."""
    superset_compat.keep_permission_admin_only(app, MCPTokenView.class_permission_name, MENU_NAME)
    with app.app_context():
        app.appbuilder.add_view(
            MCPTokenView(), MENU_NAME, label=MENU_NAME, icon="fa-key",
            category="Manage", category_label="Manage",
        )


def _result(token: str, username: str, ttl: int, server_url: str) -> dict[str, str]:
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


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MCP access token</title>
<style>
 body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
 textarea,pre{width:100%;font-family:monospace;font-size:.8rem}
 pre{background:#f4f4f4;padding:.75rem;overflow:auto} .warn{color:#a40} .error{color:#b00}
 label{display:block;margin:.75rem 0 .25rem}
</style></head><body>
<h1>MCP access token</h1>
<p>Signed in as <strong>{{ user }}</strong>. A token lets an AI client (Claude Desktop, Cursor,
an MCP SDK) use Superset's MCP server as the user it names, with that user's permissions.</p>
{% if error %}<p class="error" id="error">{{ error }}</p>{% endif %}
{% if result %}
<h2>Token for {{ result.username }}</h2>
<p class="warn">Shown once: copy it now. It is valid until {{ result.expires }}.
Treat it like a password.</p>
<textarea id="token" rows="5" readonly>{{ result.token }}</textarea>
<h3>MCP client configuration</h3>
<pre id="snippet">{{ result.snippet }}</pre>
{% endif %}
<form method="post">
 {{ form.hidden_tag() }}
 <label for="ttl">{{ form.ttl.label.text }}</label>{{ form.ttl() }}
 {% if is_admin %}<label for="username">{{ form.username.label.text }}</label>{{ form.username() }}{% endif %}
 <p><button type="submit" id="mint">Create token</button></p>
</form>
</body></html>
"""
