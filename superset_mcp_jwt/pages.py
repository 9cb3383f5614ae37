"""How the extension's pages are drawn: inside Superset's own navbar and theme.

The consent page and the MCP access page extend ``superset_mcp_jwt/layout.html``,
which extends Superset's ``superset/spa.html`` (its React navbar and theme) or,
outside Superset, a plain HTML shell.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from flask import Blueprint, Flask, current_app, render_template, render_template_string
from markupsafe import Markup

from . import superset_compat

#: Outside Superset (a bare Flask-AppBuilder app), or before sign-in: the blocks a page fills.
_SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{% block head_js %}{% endblock %}</head>
<body>{% block body %}{% endblock %}{% block tail_js %}{% endblock %}</body></html>
"""

#: Theme values spliced into the pages' CSS: plain font lists, colours and sizes only.
_CSS_VALUE = re.compile(r"[A-Za-z0-9 ,.'\"#%()_-]{1,200}")
_CSS_DEFAULTS = {
    "colorPrimary": "#2893b3",
    "colorSuccess": "#5ac189",
    "colorWarning": "#fcc700",
    "colorError": "#e04355",
    "fontFamily": "Inter, Helvetica, Arial, sans-serif",
    "fontFamilyCode": "'IBM Plex Mono', 'Courier New', monospace",
}


def install(app: Flask) -> None:
    """Make the pages' templates (``superset_mcp_jwt/*.html``) loadable by ``app``, and serve
    their static files (Apache ECharts for the Activity charts) under ``/superset_mcp_jwt/static/``."""
    app.register_blueprint(Blueprint(
        "superset_mcp_jwt_pages", __name__, template_folder="templates",
        static_folder="static", static_url_path="/superset_mcp_jwt/static",
    ))


def render_page(template: str, *, in_superset: bool = True, source: Optional[str] = None,
                **context: Any) -> str:
    """Render a page template (by name, or ``source`` text) inside Superset's layout.

    ``in_superset=False`` (e.g. a visitor not signed in yet) draws the plain shell.
    """
    spa_context = superset_compat.spa_template_context(current_app) if in_superset else None
    layout = "superset/spa.html" if spa_context is not None else current_app.jinja_env.from_string(_SHELL)
    values = {**(spa_context or {}), "layout": layout, "css": theme_css(spa_context), **context}
    if source is not None:
        return render_template_string(source, **values)
    return render_template(template, **values)


def theme_css(spa_context: Optional[dict[str, Any]]) -> dict[str, Markup]:
    """Superset's theme tokens the pages' CSS uses, each checked to be a plain CSS value."""
    tokens = (spa_context or {}).get("theme_tokens") or {}
    css = {}
    for name, default in _CSS_DEFAULTS.items():
        value = tokens.get(name)
        ok = isinstance(value, str) and _CSS_VALUE.fullmatch(value) and "/*" not in value
        css[name] = Markup(value if ok else default)
    return css
