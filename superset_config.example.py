# superset_config.py with superset-mcp-jwt: Superset's documented "HS256 with
# shared secret" MCP setup, made to work, and every key the extension reads.
#
# Install the extension into the venv Superset runs from first (docs/getting-started.md,
# "Install"). A line "# KEY = value" shows that key's default: uncomment it
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

# --- The MCP access page /mcp-access/: token minting (HS* modes only) -------------
# MCP_JWT_TOKEN_PAGE = True  # False removes the minting (the page stays)
# MCP_JWT_TOKEN_PAGE_MAX_TTL = 604800  # 7 days; the page offers 1h/8h/24h/7d/30d/90d up to this (3600 to 7776000)
# MCP_JWT_SERVER_URL = None  # MCP URL on the page and in its snippet (OAuth off); None: http://MCP_SERVICE_HOST:MCP_SERVICE_PORT/mcp

# --- Audit -------------------------------------------------------------------
# MCP_JWT_AUDIT_ACTION_LOG = True  # also write first use / rejections to Superset's action log (action mcp_jwt_auth)
# MCP_JWT_ACTIVITY_LOG = True  # one record per MCP tool call (user, client, tool, outcome) for the Activity view

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

# --- OAuth: Superset as the authorization server (Claude.ai, ChatGPT, ...) --------
# Then run `superset mcp-jwt db upgrade` once, and after each upgrade of this package.
# MCP_OAUTH_ENABLED = False  # True: clients connect by signing in to Superset (needs MCP_AUTH_ENABLED)
# MCP_JWT_OAUTH_SERVER = None  # which server MCP_OAUTH_ENABLED means: None, ours unless Superset has its own; True: ours; False: not ours
# MCP_OAUTH_ISSUER = None  # the web app's public base URL, e.g. "https://superset.example.com" (https except loopback)
# MCP_OAUTH_RESOURCE = None  # the MCP endpoint's public URL, e.g. "https://superset.example.com:5008/mcp"
# MCP_OAUTH_PRIVATE_KEY = None  # PEM private key signing access tokens; required with RS*/PS*/ES*/EdDSA, refused with HS*
# MCP_OAUTH_ACCESS_TOKEN_TTL = 3600  # access-token lifetime, seconds (60 to 86400)
# MCP_OAUTH_REFRESH_TOKEN_TTL = 2592000  # refresh-token lifetime, seconds; renewed on each refresh (3600 to 31536000)
# MCP_OAUTH_AUTHORIZATION_CODE_TTL = 60  # how long a code may wait to be exchanged, seconds (10 to 600)
# MCP_OAUTH_DEFAULT_SCOPES = ["mcp:all"]  # granted when a client asks for none (mcp:read, mcp:write, mcp:sql, mcp:all)
# MCP_OAUTH_ALLOWED_REDIRECT_URIS = ["https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback", "https://chatgpt.com/connector_platform_oauth_redirect", "https://vscode.dev/redirect", "https://insiders.vscode.dev/redirect", "https://www.cursor.com/agents/mcp/oauth/callback", "cursor://anysphere.cursor-mcp/oauth/callback"]  # https callbacks clients may register (Claude, ChatGPT, VS Code, Cursor)
# MCP_OAUTH_DYNAMIC_REGISTRATION = True  # the RFC 7591 registration endpoint
# MCP_OAUTH_CLIENT_METADATA_DOCUMENTS = True  # accept https client_id URLs (Client ID Metadata Documents)
# MCP_OAUTH_MAX_CLIENTS = 10000  # registered clients at most, of each kind (1 to 10000000)
# MCP_OAUTH_CIMD_TIMEOUT = 5  # seconds for fetching one metadata document (0.5 to 30)
# MCP_OAUTH_CIMD_MAX_BYTES = 65536  # the largest metadata document read (1024 to 1048576)
# MCP_OAUTH_CIMD_CACHE_SECONDS = 3600  # a fetched document is used this long (60 to 86400)
# MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES = False  # development only: client_id URLs on private/loopback addresses
# MCP_OAUTH_REFRESH_TOKEN_GRACE_SECONDS = 60  # a rotated-out refresh token presented again this soon gets new tokens in its family (0 to 3600; 0: strict)
# MCP_OAUTH_REFRESH_TOKEN_GRACE_REUSES = 20  # answers one rotated-out refresh token gets within that window (1 to 1000)
# Registrations nobody uses are removed, so a storm of them locks nobody out for long:
# MCP_OAUTH_UNUSED_CLIENT_TTL = 7200  # seconds before a registration that never redeemed a code is removed (300 to 604800)
# MCP_OAUTH_IDLE_CLIENT_TTL = 2592000  # seconds after its last connection ended that a client is removed (3600 to 31536000)
# Per client address, counted where Superset's rate limiting counts (RATELIMIT_STORAGE_URI; set it
# to a Redis URL so every replica shares the counts) and behind ENABLE_PROXY_FIX by the forwarded address:
# MCP_OAUTH_RATE_LIMIT_REGISTRATION = "60 per minute"  # registrations and RFC 7592 requests per address; hosted connectors share addresses
# MCP_OAUTH_RATE_LIMIT_TOKEN = "600 per minute"  # token requests (codes, refreshes) per address
# MCP_OAUTH_RATE_LIMIT_REVOCATION = "120 per minute"  # revocation requests per address
# MCP_OAUTH_RATE_LIMIT_CONSENT = "60 per minute"  # consent-form submissions per address (people behind one NAT share it)
# MCP_OAUTH_RATE_LIMIT_AUTHORIZATION = "120 per minute"  # authorization requests (the browser's GET) per address
