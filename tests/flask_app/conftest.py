"""A small real Flask-AppBuilder app on SQLite with real users, for the Flask face."""

from __future__ import annotations

import secrets
import time
from typing import Any, Callable

import jwt
import pytest
from flask import Blueprint, Flask, g, jsonify
from flask_appbuilder import AppBuilder
from flask_login import current_user
from flask_sqlalchemy import SQLAlchemy

import superset_mcp_jwt

ISSUER = "superset-mcp"
AUDIENCE = "superset-mcp-clients"


def make_app(tmp_path: Any, **config: Any) -> Flask:
    """A FAB app with Admin/Gamma/inactive users, an `mcp` blueprint and an `api` one."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_hex(16),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / f'fab-{secrets.token_hex(4)}.db'}",
        WTF_CSRF_ENABLED=False,
        TESTING=True,
        MCP_AUTH_ENABLED=True,
        MCP_DEV_USERNAME=None,
        MCP_JWT_ALGORITHM="HS256",
        MCP_JWT_SECRET=secrets.token_urlsafe(32),
        MCP_JWT_ISSUER=ISSUER,
        MCP_JWT_AUDIENCE=AUDIENCE,
    )
    app.config.update(config)
    db = SQLAlchemy(app)
    with app.app_context():
        appbuilder = AppBuilder(app, db.session)
        sm = appbuilder.sm
        gamma = sm.add_role("Gamma")
        admin_role = sm.find_role("Admin")
        sm.add_user("admin", "Ada", "Admin", "admin@example.com", admin_role, "pw-Admin-123")
        sm.add_user("alice", "Alice", "Gamma", "alice@example.com", gamma, "pw-Alice-123")
        carol = sm.add_user("carol", "Carol", "Gamma", "carol@example.com", gamma, "pw-Carol-123")
        carol.active = False
        sm.session.commit()
        # What Superset does: the mutator runs before the views are registered.
        superset_mcp_jwt.init_app(app)

    mcp = Blueprint("mcp", __name__, url_prefix="/mcp")

    @mcp.route("/whoami", methods=["GET", "POST", "OPTIONS"])
    def whoami() -> Any:
        if not current_user.is_authenticated:
            return jsonify(user=None)
        return jsonify(
            user=g.user.username,
            current_user=current_user.username,
            roles=sorted(r.name for r in g.user.roles),
        )

    nested_parent = Blueprint("mcp_tools", __name__, url_prefix="/mcp-tools")
    child = Blueprint("child", __name__, url_prefix="/child")

    @child.route("/ping")
    def ping() -> Any:
        return jsonify(ok=True)

    nested_parent.register_blueprint(child)

    api = Blueprint("api", __name__, url_prefix="/api")

    @api.route("/whoami")
    def api_whoami() -> Any:
        return jsonify(authenticated=bool(current_user.is_authenticated))

    app.register_blueprint(mcp)
    app.register_blueprint(nested_parent)
    app.register_blueprint(api)
    return app


@pytest.fixture
def app(tmp_path: Any) -> Flask:
    return make_app(tmp_path)


@pytest.fixture
def mint(app: Flask) -> Callable[..., str]:
    """Sign a token the documented way (sub, iss, aud, exp; no iat)."""

    def _mint(sub: Any = "alice", secret: str | None = None, **claims: Any) -> str:
        payload = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 3600}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not ...}
        return jwt.encode(payload, secret or app.config["MCP_JWT_SECRET"], algorithm="HS256")

    return _mint
