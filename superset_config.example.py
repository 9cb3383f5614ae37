# superset_config.py with superset-mcp-jwt: Superset's documented "HS256 with
# shared secret" MCP setup, made to work, and every key the extension reads.
#
# Install the extension into the venv Superset runs from first (README,
# "Installing"). A line "# KEY = value" shows that key's default: uncomment it
# to change it. Keys set below without "#" are the ones a deployment must set;
# their comment gives the default. Restart the web app and `superset mcp run`
# after any change; both refuse to start on a wrong type or range.
import os

import superset_mcp_jwt

# The one line that enables the extension in the web app and in `superset mcp run`.
# Already have a mutator? Chain them:
#     def FLASK_APP_MUTATOR(app):
#         my_mutator(app)
#         superset_mcp_jwt.init_app(app)
FLASK_APP_MUTATOR = superset_mcp_jwt.init_app

# --- Superset's documented MCP keys --------------------------------------------
MCP_AUTH_ENABLED = True  # default: False. True: every MCP request needs a valid token
MCP_DEV_USERNAME = None  # default: None. With auth off, every MCP call runs as this user; must be None with auth on
# MCP_JWT_ALGORITHM = "HS256"  # HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA
# The shared secret for HS*: at least 32 random bytes for HS256 (48 for HS384, 64
# for HS512), never the example printed in Superset's docs; a list (newest
# first) to rotate. Generate one: `superset-mcp-jwt secret` or `openssl rand -base64 48`.
# Keep it out of git: read it from the environment or a secrets manager.
MCP_JWT_SECRET = os.environ["MCP_JWT_SECRET"]  # default: None. Required for HS*
MCP_JWT_ISSUER = "superset-mcp"  # default: None. Required; compared exactly with the token's iss
MCP_JWT_AUDIENCE = "superset-mcp-clients"  # default: None. Required; a string or a list; aud must contain one
# MCP_JWT_DEBUG_ERRORS = False  # True: the server log says exactly why a token was refused
# MCP_REQUIRED_SCOPES = []  # every listed scope must be in the token's scope/scp (a list or a space-separated string)

# --- Asymmetric algorithms: exactly one of these instead of MCP_JWT_SECRET -----
# MCP_JWT_PUBLIC_KEY = None  # a PEM public key (RSA >= 2048 bits; P-256/384/521 for ES*; Ed25519/Ed448 for EdDSA)
# MCP_JWKS_URI = None  # the identity provider's JWKS URL (https; http only on loopback)

# --- Tokens and users ----------------------------------------------------------
# MCP_JWT_LEEWAY = 30  # seconds of clock skew allowed for exp/nbf/iat (0 to 600)
# MCP_JWT_USER_CLAIM = "sub"  # the claim that names the Superset user (a non-empty string)
# MCP_JWT_EMAIL_FALLBACK = True  # a claim value with "@" that matches no user name may match a user's email
# MCP_JWT_USER_RESOLVER = None  # callable(claims, security_manager) -> user | user name | None/False (deny)

# --- HTTP ----------------------------------------------------------------------
# MCP_JWT_PROTECTED_BLUEPRINTS = ["mcp"]  # web-app blueprints that require a token (a list of names; [] for none)
# MCP_JWT_REALM = "superset-mcp"  # realm in WWW-Authenticate (non-empty; no '"' or '\')

# --- The self-service token page /mcp-token/ (HS* modes only) --------------------
# MCP_JWT_TOKEN_PAGE = True  # False removes the page
# MCP_JWT_TOKEN_PAGE_MAX_TTL = 604800  # 7 days; the page offers 1h/8h/24h/7d/30d/90d up to this (3600 to 7776000)
# MCP_JWT_SERVER_URL = None  # MCP URL in the page's client snippet; None: http://MCP_SERVICE_HOST:MCP_SERVICE_PORT/mcp

# --- Audit -------------------------------------------------------------------
# MCP_JWT_AUDIT_ACTION_LOG = True  # also write first use / rejections to Superset's action log (action mcp_jwt_auth)

# --- Caches ------------------------------------------------------------------
# MCP_JWT_TOKEN_CACHE_SIZE = 4096  # verified tokens kept per process (whole number, 0 to 1000000; 0: off)
# MCP_JWT_USER_CACHE_SECONDS = 5  # how long the MCP server's HTTP layer remembers a user (0 to 300; 0: off)

# --- JWKS (with MCP_JWKS_URI) ----------------------------------------------------
# MCP_JWKS_CACHE_SECONDS = 300  # fetched keys are used this long before a refresh (10 to 86400)
# MCP_JWKS_REFETCH_COOLDOWN = 30  # least seconds between fetches caused by unknown kids (1 to 3600)
# MCP_JWKS_TIMEOUT = 5  # seconds for one fetch, which reads at most 1 MiB (0.5 to 60)
# MCP_JWKS_STALE_SECONDS = 86400  # the last good keys serve this long while refreshes fail (0 to 604800)

# --- Revocation (superset mcp-jwt revoke) --------------------------------------
# MCP_JWT_REVOCATION_STORE = None  # None: Superset's metadata DB; False: off; or a Flask-Caching config dict:
#     MCP_JWT_REVOCATION_STORE = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": "redis://redis:6379/3"}
# MCP_JWT_REVOCATION_MEMO_SECONDS = 2  # per-process memo of store answers: the propagation bound (0 to 5)
