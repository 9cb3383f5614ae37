# superset_config.py: Superset's documented "HS256 with shared secret" MCP setup,
# made to work by superset-mcp-jwt (pip install superset-mcp-jwt into Superset's venv).
import os

import superset_mcp_jwt

# The one line that enables the extension in the web app and in `superset mcp run`.
# Already have a mutator? Chain them:
#     def FLASK_APP_MUTATOR(app):
#         my_mutator(app)
#         superset_mcp_jwt.init_app(app)
FLASK_APP_MUTATOR = superset_mcp_jwt.init_app

# --- Superset's documented keys, unchanged ------------------------------------
MCP_AUTH_ENABLED = True
MCP_DEV_USERNAME = None  # must be None when MCP_AUTH_ENABLED is True
MCP_JWT_ALGORITHM = "HS256"  # HS256 | HS384 | HS512
# At least 32 random bytes for HS256 (48 for HS384, 64 for HS512). Generate one:
#     openssl rand -base64 48
# Keep it out of git: read it from the environment or a secrets manager.
MCP_JWT_SECRET = os.environ["MCP_JWT_SECRET"]
MCP_JWT_ISSUER = "superset-mcp"
MCP_JWT_AUDIENCE = "superset-mcp-clients"
MCP_JWT_DEBUG_ERRORS = False  # True: the server log says exactly why a token was refused
# MCP_REQUIRED_SCOPES = ["mcp"]  # every listed scope must be in the token's scope/scp

# --- superset-mcp-jwt's own keys (defaults shown) -------------------------------
# MCP_JWT_LEEWAY = 30                   # seconds of clock skew allowed for exp/nbf/iat
# MCP_JWT_USER_CLAIM = "sub"            # the claim that names the Superset user
# MCP_JWT_EMAIL_FALLBACK = True         # a claim value with "@" may match a user's email
# MCP_JWT_USER_RESOLVER = None          # callable(claims, security_manager) -> user | username | None
# MCP_JWT_PROTECTED_BLUEPRINTS = ["mcp"]  # Flask blueprints that require a token
# MCP_JWT_REALM = "superset-mcp"        # realm in the WWW-Authenticate challenge
